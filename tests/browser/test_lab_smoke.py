"""Smoke test of the browser helpers against the stock ipykernel ``python3`` kernel.

Proves that ``lab.py`` can drive JupyterLab's visual debugger end to end: breakpoint in
cell 1, Run All, stop, call stack + variables of both frames, continue to completion.
"""

from __future__ import annotations

import os
import time

import pytest

from . import lab

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not lab.chromium_available() and not os.environ.get("CI"),
        reason=f"{lab.CHROMIUM} not installed (set CI=1 to make this a failure)",
    ),
]

CELL_1 = (
    "def f(n):\n    total = 0\n    for i in range(n):\n        total += i * 2\n    return total"
)
CELL_2 = "result = f(3)\nresult"


def test_debug_stock_python3(lab_server, lab_page, tmp_path):
    started = time.monotonic()
    page = lab_page
    lab.write_notebook(lab_server.root_dir / "smoke.ipynb", [CELL_1, CELL_2], "python3")

    lab.open_notebook(page, lab_server.base_url, lab_server.token, "smoke.ipynb")
    lab.shot(page, tmp_path, "opened")

    lab.enable_debugger(page)
    lab.set_breakpoint(page, cell_index=0, line=4)
    assert lab.breakpoint_lines(page, 0) == [4]
    lab.shot(page, tmp_path, "breakpoint")

    lab.run_all(page)
    rows = lab.wait_for_stop(page, timeout=60_000)
    lab.shot(page, tmp_path, "stopped")
    frames = lab.callstack_frames(page)
    assert [name for name, _ in frames] == ["f", "<module>"], rows
    # f is in the already-executed cell 1; <module> is cell 2, still running -> "Cell [*]".
    assert frames[0][1] == "Cell [1]:4", rows
    assert frames[1][1].startswith("Cell ["), rows
    assert all("Cell [" in row for row in rows), rows
    assert lab.selected_frame(page) == 0
    assert lab.scopes(page)[0] == "Locals"

    top = lab.variables(page)
    assert top["n"] == "3", top
    assert top["i"] == "0" and top["total"] == "0", top

    lab.click_frame(page, 1)
    module_vars = lab.variables(page)
    lab.shot(page, tmp_path, "module-frame")
    # debugpy groups module-level functions under "function variables"; `result` is not
    # assigned yet because cell 2 is still executing its first line.
    assert "n" not in module_vars and "result" not in module_vars, module_vars
    functions = lab.expand_variable(page, "function variables")
    assert functions.get("f") == "function", functions

    lab.click_frame(page, 0)
    assert lab.variables(page)["n"] == "3"

    # Hit 2 and 3 of the breakpoint, then run to completion.
    for hit in (1, 2):
        lab.press_continue(page)
        assert lab.wait_for_stop_or_done(page), f"expected stop #{hit + 1}"
        top = lab.variables(page)
        assert top["i"] == str(hit), top
        assert top["total"] == str(sum(k * 2 for k in range(hit))), top
    lab.shot(page, tmp_path, "third-hit")
    assert lab.expand_variable(page, "n") == {}  # plain ints are not expandable
    rows = lab.step(page, "next")  # line 4 -> back to the `for` on line 3
    assert rows[0] == "f Cell [1]:3", rows
    assert lab.variables(page)["total"] == "6"
    assert lab.continue_until_done(page) == 0

    assert lab.wait_for_output(page, 1, "6") == "6"
    assert lab.cell_output_text(page, 0) == ""
    lab.shot(page, tmp_path, "done")
    print(f"\nsmoke test body took {time.monotonic() - started:.1f}s")
