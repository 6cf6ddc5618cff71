"""The acceptance tests of the debugger: stock JupyterLab + Chromium, notebooks on kernel
`metakernel_dbg`, one call stack across three kernels (one of them JavaScript)."""

from __future__ import annotations

import os

import pytest

from . import lab

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not lab.chromium_available() and not os.environ.get("CI"),
        reason=f"{lab.CHROMIUM} not installed (set CI=1 to make this a failure)",
    ),
]

INNER = "%%function inner\ndef inner(x):\n    y = x * 2\n    return y + 1"
OUTER = (
    "%%function outer --kernel python3\ndef outer(n):\n    total = 0\n"
    '    for i in range(n):\n        total += call("inner", i)\n    return total'
)
RENDER = 'result = call("outer", 3)   # plain cells run in the "main" child kernel\nresult'


def test_debug_three_kernels_in_jupyterlab(lab_server, lab_page, tmp_path):
    page = lab_page
    lab.write_notebook(lab_server.root_dir / "meta.ipynb", [INNER, OUTER, RENDER], "metakernel_dbg")
    lab.open_notebook(page, lab_server.base_url, lab_server.token, "meta.ipynb")
    lab.enable_debugger(page)
    lab.set_breakpoint(page, cell_index=0, line=4)  # `return y + 1`
    lab.shot(page, tmp_path, "breakpoint")

    lab.run_all(page)
    rows = lab.wait_for_stop(page, timeout=90_000)
    lab.shot(page, tmp_path, "stopped")
    frames = lab.callstack_frames(page)
    names = [name.split()[0] for name, _ in frames]
    assert names == ["inner", "outer", "<module>"], rows
    assert "[python3 pid" in frames[0][0] and "[python3 pid" in frames[1][0], rows
    assert "[main pid" in frames[2][0], rows
    assert frames[0][0].split("pid")[1] != frames[1][0].split("pid")[1], "two kernels"
    assert frames[0][1] == "Cell [1]:4", rows
    assert frames[1][1] == "Cell [2]:5", rows
    assert frames[2][1].startswith("Cell ["), rows

    assert lab.variables(page) == {"x": "0", "y": "0"}
    lab.click_frame(page, 1)
    lab.shot(page, tmp_path, "outer-frame")
    assert lab.variables(page) == {"i": "0", "n": "3", "total": "0"}

    lab.click_frame(page, 0)
    assert lab.variables(page)["x"] == "0"
    lab.remove_breakpoint(page, cell_index=0, line=4)
    assert lab.continue_until_done(page) == 0
    assert lab.wait_for_output(page, 2, "9") == "9"
    lab.shot(page, tmp_path, "done")


PINNER = "%%function pinner\ndef pinner(x):\n    y = x * 2\n    return y + 1"
JOUTER = (
    "%%function jouter --kernel metakernel_dbg_js\nfunction jouter(n) {\n  let total = 0;\n"
    "  for (let i = 0; i < n; i++) {\n    total += call('pinner', i);\n  }\n  return total;\n}"
)
JS_RENDER = 'result = call("jouter", 2)\nresult'


def test_debug_a_js_frame_between_python_frames_in_jupyterlab(lab_server, lab_page, tmp_path):
    page = lab_page
    cells = [PINNER, JOUTER, JS_RENDER]
    lab.write_notebook(lab_server.root_dir / "js.ipynb", cells, "metakernel_dbg")
    lab.open_notebook(page, lab_server.base_url, lab_server.token, "js.ipynb")
    lab.enable_debugger(page)
    lab.set_breakpoint(page, cell_index=0, line=4)  # `return y + 1` in Python's pinner

    lab.run_all(page)
    rows = lab.wait_for_stop(page, timeout=120_000)
    lab.shot(page, tmp_path, "stopped")
    frames = lab.callstack_frames(page)
    assert [name.split()[0] for name, _ in frames] == ["pinner", "jouter", "<module>"], rows
    assert "[python3 pid" in frames[0][0] and "[js pid" in frames[1][0], rows
    assert "[main pid" in frames[2][0], rows
    assert frames[0][1] == "Cell [1]:4", rows
    assert frames[1][1] == "Cell [2]:5", rows  # the JS cell, at its call('pinner', i) line

    assert lab.variables(page) == {"x": "0", "y": "0"}
    lab.click_frame(page, 1)
    lab.shot(page, tmp_path, "js-frame")
    assert lab.variables(page) == {"i": "0", "n": "2", "total": "0"}

    lab.remove_breakpoint(page, cell_index=0, line=4)
    assert lab.continue_until_done(page) == 0
    assert lab.wait_for_output(page, 2, "4") == "4"
