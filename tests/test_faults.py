"""Faults on real kernels: children that die, never return, fail to start; interrupts; a
meta-kernel killed outright; malformed magics; a load of 10,000 calls."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import (
    MetaKernelHandle,
    collect_iopub,
    errors_of,
    result_text,
    send_execute,
    shutdown_meta_kernel,
    start_ipc_kernel,
    stream_text,
    strip_ansi,
    traceback_text,
    wait_processes_gone,
    wait_reply,
)

CHAIN = [
    ("lvl1", 'def lvl1(x):\n    return call("lvl2", x)\n'),
    ("lvl2", 'def lvl2(x):\n    return call("lvl3", x)\n'),
    ("lvl3", 'def lvl3(x):\n    return call("lvl4", x)\n'),
    ("lvl4", 'def lvl4(x):\n    return call("leaf", x)\n'),
    (
        "leaf",
        "def leaf(x):\n    import os, time\n    if x == 'kill':\n"
        "        os.kill(os.getpid(), 9)\n    if x == 'sleep':\n"
        "        print('leaf sleeping', flush=True)\n        time.sleep(60)\n"
        "    return x\n",
    ),
]


def define(mk: MetaKernelHandle, name: str, body: str, kernel: str = "python3") -> int:
    reply, msgs = mk.run(f"%%function {name} --kernel {kernel}\n{body}")
    assert reply["status"] == "ok", reply
    return int(re.search(r"pid (\d+)", stream_text(msgs)).group(1))


def cell_error(mk: MetaKernelHandle, code: str, timeout: float = 60) -> str:
    reply, msgs = mk.run(code, timeout=timeout)
    assert reply["status"] == "error", (code, reply)
    errors = errors_of(msgs)
    assert len(errors) == 1, msgs
    return strip_ansi(f"{reply['ename']}: {reply['evalue']}\n{traceback_text(errors[0])}")


def test_child_killed_at_depth_3_reports_and_next_render_gets_a_fresh_instance(
    fresh_meta_kernel: MetaKernelHandle,
) -> None:
    mk = fresh_meta_kernel
    for name, body in CHAIN[2:]:
        define(mk, name, body)
    _, msgs = mk.run("%functions")
    # the kernel's pid from %functions: with a warm pool its command line names a pool id
    leaf_pid = int(re.search(r"leaf \[python3 pid (\d+)\]", stream_text(msgs)).group(1))
    text = cell_error(mk, 'call("lvl3", "kill")')
    assert f"leaf [python3 pid {leaf_pid}]" in text and "signal 9 (SIGKILL)" in text, text
    assert text.index("lvl3") < text.index("lvl4") < text.rindex("leaf"), text
    reply, msgs = mk.run('call("lvl3", "fine")')
    assert reply["status"] == "ok" and "'fine'" in str(msgs)
    reply, msgs = mk.run("%functions")
    assert str(leaf_pid) not in stream_text(msgs), "a fresh leaf replaced the dead one"


def _interrupt_sleeping_chain(mk: MetaKernelHandle, entry: str) -> float:
    """Run `entry("sleep")`, interrupt once the leaf sleeps, check the cell failed with
    KeyboardInterrupt and that `entry("again")` then works; the seconds to the reply."""
    msg_id = send_execute(mk.kc, f'call("{entry}", "sleep")')
    collect_iopub(mk.kc, msg_id, timeout=60, until=lambda m: "leaf sleeping" in str(m))
    started = time.monotonic()
    mk.km.interrupt_kernel()
    reply = wait_reply(mk.kc, msg_id, timeout=10)["content"]
    took = time.monotonic() - started
    msgs = collect_iopub(mk.kc, msg_id, timeout=10)
    assert reply["status"] == "error"
    assert "KeyboardInterrupt" in strip_ansi(traceback_text(errors_of(msgs)[0]))
    reply, msgs = mk.run(f'call("{entry}", "again")', timeout=60)
    assert reply["status"] == "ok", reply
    assert "'again'" in str(msgs), "every level is usable again"
    return took


def test_interrupt_five_level_chain(fresh_meta_kernel: MetaKernelHandle) -> None:
    mk = fresh_meta_kernel
    for name, body in CHAIN:
        define(mk, name, body)
    took = _interrupt_sleeping_chain(mk, "lvl1")
    print(f"\nKeyboardInterrupt trace after {took:.2f} s")


def test_interrupt_reaches_a_chain_of_linked_calls(fresh_meta_kernel: MetaKernelHandle) -> None:
    """The second pass of `twice` goes kernel to kernel at every level (links): the router
    knows that stack from notices only, and the interrupt must still reach every level."""
    mk = fresh_meta_kernel
    for name, body in CHAIN:
        define(mk, name, body)
    define(mk, "twice", 'def twice(x):\n    call("lvl1", "warm")\n    return call("lvl1", x)\n')
    _interrupt_sleeping_chain(mk, "twice")
    _, msgs = mk.run("%functions")
    leaf = next(line for line in stream_text(msgs).splitlines() if line.startswith("leaf"))
    assert leaf.count("pid") == 1, f"the interrupt stopped the sleeping leaf: {leaf}"


def _debugpy_adapters() -> set[psutil.Process]:
    """debugpy adapters started for our kernels (they daemonize: not our descendants)."""
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "--for-server" in (proc.info["cmdline"] or []) and "childsite" in proc.environ().get(
                "PYTHONPATH", ""
            ):
                found.add(proc)
        except psutil.Error:
            continue
    return found


def test_meta_kernel_sigkill_leaves_no_child_nor_debugpy_adapter(
    fresh_meta_kernel: MetaKernelHandle,
) -> None:
    mk = fresh_meta_kernel
    define(mk, "py_fn", "def py_fn():\n    return 1\n")
    define(mk, "xpy_fn", "def xpy_fn():\n    return 2\n", kernel="xpython")
    before = _debugpy_adapters()
    for command, args in (("initialize", {"adapterID": "metakernel_dbg"}), ("attach", {})):
        msg = mk.kc.session.msg(
            "debug_request", {"type": "request", "seq": 1, "command": command, "arguments": args}
        )
        mk.kc.control_channel.send(msg)
        wait_reply(mk.kc, msg["header"]["msg_id"], timeout=60, channel="control")
    kernels = mk.children()
    adapters = list(_debugpy_adapters() - before)
    assert adapters, "the debugger started debugpy adapters in the children"
    os.kill(mk.pid, signal.SIGKILL)
    survivors = wait_processes_gone(kernels + adapters, timeout=5)
    assert not survivors, [p.cmdline() for p in survivors]


def test_restart_leaves_no_process(fresh_meta_kernel: MetaKernelHandle) -> None:
    mk = fresh_meta_kernel
    define(mk, "r_fn", "def r_fn():\n    return 1\n")
    before = mk.children()
    mk.km.restart_kernel(now=False)
    assert not wait_processes_gone(before, timeout=10)
    mk.process = psutil.Process(mk.km.provisioner.pid)
    mk.kc.wait_for_ready(timeout=60)
    reply, _ = mk.run("1 + 1")
    assert reply["status"] == "ok"


@pytest.fixture
def broken_specs(tmp_path: Path) -> Iterator[MetaKernelHandle]:
    """A meta-kernel that sees two broken kernelspecs: one exits, one never answers."""
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    for name, code in (
        ("crash", "import sys; sys.exit(3)"),
        ("hang", "import time; time.sleep(600)"),
    ):
        (kernels / name).mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-c", code, "{connection_file}"],
            "display_name": name,
            "language": "python",
        }
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "share" / "jupyter")}
    km, kc = start_ipc_kernel(
        "metakernel_dbg", env=env, extra_arguments=["--MetaKernel.start_timeout=3"]
    )
    handle = MetaKernelHandle(km, kc, psutil.Process(km.provisioner.pid), env)
    try:
        yield handle
    finally:
        shutdown_meta_kernel(handle)


def test_children_that_fail_to_start_are_clear_errors(broken_specs: MetaKernelHandle) -> None:
    mk = broken_specs
    assert "no such kernelspec 'nosuch'" in cell_error(
        mk, "%%function f --kernel nosuch\ndef f():\n    return 1"
    )
    crash = cell_error(mk, "%%function g --kernel crash\ndef g():\n    return 1")
    assert "exited during startup" in crash and "exited with code 3" in crash, crash
    hang = cell_error(mk, "%%function h --kernel hang\ndef h():\n    return 1", timeout=120)
    assert "did not answer within 3 s" in hang, hang
    reply, _ = mk.run('call("g")')
    assert reply["status"] == "error" and "known functions: (none)" in reply["evalue"]
    assert mk.run("1 + 1")[0]["status"] == "ok", "the meta-kernel keeps serving"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%function\ndef f():\n    pass", "usage: %%function NAME"),
        ("%%function 1bad\ndef f():\n    pass", "not a valid function name"),
        ("%%function f --kernel\ndef f():\n    pass", "usage: %%function NAME"),
        ("%%function f --colour red\ndef f():\n    pass", "usage: %%function NAME"),
        ("%%function f 'unclosed\ndef f():\n    pass", "%%function:"),
        ("%%function f\ndef f(:\n    pass", "SyntaxError"),
        ("%%function f\ndef g():\n    pass", "must define 'def f(...)'"),
        ("%load_functions", "usage: %load_functions DIR"),
        ("%load_functions /no/such/dir", "no such directory"),
    ],
)
def test_malformed_magics_are_clear_errors(
    meta_kernel: MetaKernelHandle, cell: str, message: str
) -> None:
    assert message in cell_error(meta_kernel, cell)


def test_load_10000_calls_with_output(fresh_meta_kernel: MetaKernelHandle) -> None:
    mk = fresh_meta_kernel
    for k in range(5):
        define(mk, f"out{k}", f"def out{k}(i):\n    print('out{k}', i)\n    return i * {k}\n")
    rss = []
    for block in range(5):
        first = block * 2000
        code = (
            f"total = 0\nfor i in range({first}, {first + 2000}):\n"
            "    total += call(f'out{i % 5}', i)\ntotal"
        )
        reply, msgs = mk.run(code, timeout=300)
        assert reply["status"] == "ok", reply
        expected = sum(i * (i % 5) for i in range(first, first + 2000))
        assert result_text(msgs) == str(expected)
        lines = stream_text(msgs).splitlines()
        assert lines == [f"out{i % 5} {i}" for i in range(first, first + 2000)], "once, in order"
        rss.append(mk.process.memory_info().rss)
    growth = (rss[-1] - rss[0]) / rss[0]
    print(
        f"\nmeta-kernel RSS after 2k/10k calls: {rss[0] >> 20} / {rss[-1] >> 20} MiB "
        f"({growth:+.1%})"
    )
    assert growth < 0.10, rss


def test_main_kernel_killed_mid_cell_is_an_error_and_a_new_one_serves(
    fresh_meta_kernel: MetaKernelHandle,
) -> None:
    mk = fresh_meta_kernel
    reply, msgs = mk.run("import os\nos.kill(os.getpid(), 9)", timeout=60)
    assert reply["status"] == "error" and "KernelDiedError" in reply["ename"], reply
    assert "signal 9" in reply["evalue"]
    reply, msgs = mk.run("1 + 41", timeout=120)
    assert reply["status"] == "ok" and "42" in str(msgs), "a fresh main kernel runs cells"
