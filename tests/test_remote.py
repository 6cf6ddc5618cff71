"""Function kernels on other hosts, end to end, on emulated hosts (tests/hosts).

Hosts A, B and C are Linux namespaces with their own network (a private /24), mounts
(/tmp, /root), pids and, on B and C, sshd. The meta-kernel runs in A, started by
jupyter_client from this process (its connection is ipc, in a directory A shares);
function kernels run on B and C through kernelspecs written by `metakernel-dbg
remote-spec` (the metakernel-dbg-ssh provisioner, CurveZMQ transport encryption). The tests
that need hosts skip, with the reason, unless this process can make them (root with
CAP_NET_ADMIN, as in CI); the hosts and all they ran are removed whatever happens.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import (
    MetaKernelHandle,
    collect_iopub,
    errors_of,
    expect_ok,
    send_execute,
    stream_text,
    traceback_text,
    wait_reply,
)
from hosts import HostProcess, Hosts, unavailable
from jupyter_client import AsyncKernelManager
from jupyter_client.manager import KernelManager
from test_debugger import INITIALIZE, DapClient

from metakernel_dbg.launch.children import ChildKernel
from metakernel_dbg.launch.remote import RemoteHost
from metakernel_dbg.launch.remotespec import remote_kernel_dict

REPO = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("metakernel-dbg"))
#: what runs on a host for a remote kernel: the launcher/kernel, its listener, debugpy
KERNEL_MARKS = ("metakernel_dbg.launch.remotekernel", "debugpy")
_metas = itertools.count(1)


# -- hosts, kernelspecs, meta-kernels in A --------------------------------------------------
@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with Hosts(("A", "B", "C"), sshd=("B", "C")) as made:
        yield made


@pytest.fixture(scope="module")
def specs(hosts: Hosts) -> Iterator[str]:
    """JUPYTER_PATH with remote_b, remote_c (the CLI's specs), slow_b (a launcher slower
    than its launch timeout), plain_b (no Curve support), py_b (a relative interpreter),
    gp_b (GP's own provisioner, no Curve) and mk_in_a (the meta-kernel in A)."""
    prefix = hosts.state / "jupyter"
    for host in ("B", "C"):
        name = f"remote_{host.lower()}"
        argv = [CLI, "remote-spec", name, "--host", host, "--prefix", str(prefix)]
        subprocess.run(argv, check=True, capture_output=True)
    kernels = prefix / "share" / "jupyter" / "kernels"
    slow = remote_kernel_dict(["B"], sys.executable, launch_timeout=1, bootstrap_timeout=77)
    slow["argv"] = ["/bin/sh", "-c", 'sleep 3; exec "$0" "$@"', *slow["argv"]]
    plain = remote_kernel_dict(["B"], sys.executable)
    del plain["metadata"]["supported_encryption"]
    relative = remote_kernel_dict(["B"], sys.executable)
    relative["argv"][0] = "python"
    unencrypted = remote_kernel_dict(["B"], sys.executable, bootstrap_timeout=7.5)
    del unencrypted["metadata"]["supported_encryption"]  # and GP's own provisioner:
    unencrypted["metadata"]["kernel_provisioner"] = {
        "provisioner_name": "distributed-provisioner",
        "config": {"remote_hosts": ["B"], "unauthorized_users": []},
    }
    meta = {
        "argv": [
            *("nsenter", "-t", str(hosts.init_pid("A")), "-n", "-m", "-u", "-i", "-p"),
            f"--wd={REPO}",
            *("--", sys.executable, "-m", "metakernel_dbg.kernelapp", "-f", "{connection_file}"),
        ],
        "display_name": "metakernel_dbg in A",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": True},
    }
    specs = {"slow_b": slow, "plain_b": plain, "py_b": relative, "gp_b": unencrypted}
    for name, spec in {**specs, "mk_in_a": meta}.items():
        (kernels / name).mkdir()
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    try:
        yield os.environ["JUPYTER_PATH"]
    finally:
        if saved is None:
            del os.environ["JUPYTER_PATH"]
        else:
            os.environ["JUPYTER_PATH"] = saved


def start_meta(hosts: Hosts, *args: str) -> MetaKernelHandle:
    """A meta-kernel in host A (`args`: its --MetaKernel options)."""
    folder = hosts.state / f"meta{next(_metas)}"
    folder.mkdir()
    km = KernelManager(
        kernel_name="mk_in_a",
        transport="ipc",
        ip=str(folder / "k"),
        connection_file=str(folder / "k.json"),
    )
    km.shutdown_wait_time = 30.0  # a graceful end: the meta-kernel ends its remote kernels
    km.start_kernel(extra_arguments=list(args), cwd=str(REPO))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    nsenter = psutil.Process(km.provisioner.pid)  # type: ignore[union-attr]
    return MetaKernelHandle(km, kc, nsenter.children()[0])


def close_meta(meta: MetaKernelHandle) -> None:
    meta.kc.stop_channels()
    if meta.km.has_kernel:
        meta.km.shutdown_kernel(now=False)


@pytest.fixture(scope="module")
def meta(hosts: Hosts, specs: str) -> Iterator[MetaKernelHandle]:
    handle = start_meta(hosts)
    try:
        yield handle
    finally:
        close_meta(handle)


def kernels_on(hosts: Hosts, host: str, mark: str = "") -> list[HostProcess]:
    """The processes of remote kernels on `host` (with `mark` in their command line)."""
    return [
        p
        for p in hosts.processes(host)
        if any(m in p.cmdline for m in KERNEL_MARKS) and mark in p.cmdline
    ]


def kernel_of(hosts: Hosts, host: str, pid: int) -> list[HostProcess]:
    """The processes of the remote kernel whose pid on `host` is `pid` (kernel, listener)."""
    found = [p for p in hosts.processes(host) if p.host_pid == pid]
    return [p for p in kernels_on(hosts, host) if found and p.cmdline == found[0].cmdline]


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something true (every 0.2 s, at most `timeout` s)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)
    return result


def ok(meta: MetaKernelHandle, code: str, timeout: float = 120) -> list[dict[str, Any]]:
    reply, msgs = meta.run(code, timeout=timeout)
    expect_ok(reply, msgs)
    return msgs


def result_of(msgs: list[dict[str, Any]]) -> Any:
    text = next(m for m in msgs if m["msg_type"] == "execute_result")
    return eval(text["content"]["data"]["text/plain"])  # noqa: S307 - our own repr


WHERE = "import os, socket\ndef where():\n    return socket.gethostname(), os.getpid()\n"


# -- calls, output, errors, traces ------------------------------------------------------------
ON_A = """%%function on_a
import socket
def on_a(x):
    print("A got", x)
    return [socket.gethostname(), x]"""
ON_C = """%%function on_c --kernel remote_c
import socket
def on_c(x):
    print("C got", x)
    return [socket.gethostname(), x, call("on_a", x)]"""
ON_B = """%%function on_b --kernel remote_b
import os, socket
def on_b(n):
    env = os.environ.get("PYDEVD_DISABLE_FILE_VALIDATION")  # forwarded by the provisioner
    return [socket.gethostname(), env] + [call("on_c", i) for i in range(n)]"""


def test_calls_and_output_between_hosts_a_b_c(meta: MetaKernelHandle) -> None:
    for cell in (ON_A, ON_C, ON_B):
        ok(meta, cell)
    msgs = ok(meta, "call('on_b', 2)")
    assert result_of(msgs) == ["B", "1", ["C", 0, ["A", 0]], ["C", 1, ["A", 1]]]
    assert stream_text(msgs) == "C got 0\nA got 0\nC got 1\nA got 1\n", "program order"
    msgs = ok(meta, "%functions")
    assert re.search(r"on_b .*remote_b pid \d+ on B", stream_text(msgs)), stream_text(msgs)


def test_errors_cross_hosts_and_the_trace_names_three_hosts(meta: MetaKernelHandle) -> None:
    ok(meta, "%%function divide_c --kernel remote_c\ndef divide_c(x):\n    return 1 / x")
    ok(meta, "%%function via_b --kernel remote_b\ndef via_b(x):\n    return call('divide_c', x)")
    msgs = ok(
        meta,
        "try:\n    call('via_b', 0)\nexcept ZeroDivisionError as exc:\n    print('caught', exc)",
    )
    assert stream_text(msgs) == "caught division by zero\n"
    reply, msgs = meta.run("call('via_b', 0)")
    assert reply["status"] == "error" and reply["ename"] == "ZeroDivisionError"
    text = traceback_text([m for m in msgs if m["msg_type"] == "error"][0])
    titles = [line for line in text.splitlines() if line.startswith("── ")]
    hosts = [re.search(r" on (\w+)", t).group(1) for t in titles]  # type: ignore[union-attr]
    assert hosts == ["A", "B", "C"], text
    assert "return 1 / x" in text and "pid" in titles[2] and "divide_c" in titles[2]


SNIFFER = r"""
import json, select, socket, sys
curve, plain, b_ip, c_ip = sys.argv[1].encode(), sys.argv[2].encode(), *sys.argv[3:5]
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
raw.bind(("eth0", 0))
server = socket.create_server((c_ip, 0))
print(server.getsockname()[1], flush=True)
seen, conns = {"curve": 0, "plain": 0, "b_to_c": 0, "frames": 0}, []
src, dst = socket.inet_aton(b_ip), socket.inet_aton(c_ip)
while True:
    ready = select.select([raw, server, sys.stdin, *conns], [], [], 1)[0]
    if sys.stdin in ready and not sys.stdin.readline():
        break
    if server in ready:
        conns.append(server.accept()[0])
    for conn in [c for c in conns if c in ready]:
        if not conn.recv(65536):
            conns.remove(conn)
    if raw in ready:
        frame = raw.recv(65536)
        seen["frames"] += 1
        seen["curve"] += curve in frame
        seen["plain"] += plain in frame
        seen["b_to_c"] += frame[26:30] == src and frame[30:34] == dst
print(json.dumps(seen), flush=True)
"""


def test_linked_calls_between_hosts_travel_curve_encrypted(
    meta: MetaKernelHandle, hosts: Hosts
) -> None:
    """What C's network interface shows while B calls C over a direct line and C's kernel
    gets its definition: nothing of a marker in the source and the arguments, while a
    plaintext copy of another marker, sent to C over plain TCP, is seen (the control).
    Meanwhile B calls a kernel on B too: over a Unix socket."""
    marker, plain = "MARKER-curve-7f3a-" * 3, "MARKER-plain-9e1c"
    sniffer = hosts.popen(
        "C",
        [sys.executable, "-c", SNIFFER, marker, plain, hosts.addr("B"), hosts.addr("C")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(sniffer.stdout.readline())  # type: ignore[union-attr]
        send = f"import socket; socket.create_connection(('{hosts.addr('C')}', {port}))" + (
            f".sendall(b'{plain}')"
        )
        assert hosts.run("B", [sys.executable, "-c", send]).returncode == 0
        ok(meta, f"%%function echo_c --kernel remote_c\n# {marker}\ndef echo_c(x):\n    return x")
        ok(meta, "%%function echo_b --kernel remote_b\ndef echo_b(x):\n    return x")
        ok(meta, "%%function loop_b --kernel remote_b\ndef loop_b(x, n):\n"
                 "    return [call('echo_c', call('echo_b', x)) for _ in range(n)]")  # fmt: skip
        assert result_of(ok(meta, f"call('loop_b', {marker!r}, 20)")) == [marker] * 20
        unix = hosts.run("B", ["ss", "-x", "-a"]).stdout  # B's Unix sockets (its netns)
        assert re.search(r"ESTAB .*/mkdbg-lines-\w+/d-", unix), "a Unix line on B: " + unix
    finally:
        out, _ = sniffer.communicate("", timeout=60)
    seen = json.loads(out.splitlines()[-1])
    assert seen["plain"] >= 1, f"the capture works: {seen}"
    assert seen["b_to_c"] > 0, f"B called C directly (a line from B to C): {seen}"
    assert seen["curve"] == 0, f"the marker crossed the link in clear: {seen}"


# -- interrupt, a killed remote kernel, timeouts -------------------------------------------
def test_interrupt_stops_a_remote_call_and_the_kernel_lives_on(meta: MetaKernelHandle) -> None:
    ok(meta, f"%%function nap_b --kernel remote_b\n{WHERE}import time\ndef nap_b(s):\n"
             "    print('napping', flush=True)\n    time.sleep(s)\n    return where()")  # fmt: skip
    host, pid = result_of(ok(meta, "call('nap_b', 0)"))
    assert host == "B"
    msg_id = send_execute(meta.kc, "call('nap_b', 600)")
    collect_iopub(meta.kc, msg_id, until=lambda m: "napping" in stream_text([m]))
    meta.km.interrupt_kernel()
    reply = wait_reply(meta.kc, msg_id, timeout=60)["content"]
    msgs = collect_iopub(meta.kc, msg_id)
    assert reply["status"] == "error", reply
    assert "KeyboardInterrupt" in traceback_text(errors_of(msgs)[0])
    assert result_of(ok(meta, "call('nap_b', 0)")) == ("B", pid), "the same kernel serves on"


def test_a_remote_kernel_killed_mid_call_is_reported_lost_and_replaced(
    meta: MetaKernelHandle, hosts: Hosts
) -> None:
    ok(meta, f"%%function doomed_b --kernel remote_b\n{WHERE}import time\n"
             "def doomed_b(s):\n    print(*where(), flush=True)\n    time.sleep(s)\n"
             "    return where()")  # fmt: skip
    msg_id = send_execute(meta.kc, "call('doomed_b', 600)")
    printed = collect_iopub(meta.kc, msg_id, until=lambda m: bool(stream_text([m])))
    host, pid = stream_text(printed).split()
    assert host == "B"
    doomed = kernel_of(hosts, "B", int(pid))
    assert doomed
    assert hosts.run("B", ["kill", "-KILL", pid]).returncode == 0
    reply = wait_reply(meta.kc, msg_id, timeout=60)["content"]
    msgs = collect_iopub(meta.kc, msg_id)
    assert reply["status"] == "error", reply
    report = reply["evalue"] + stream_text(msgs, "stderr") + traceback_text(errors_of(msgs)[0])
    assert f"doomed_b [remote_b pid {pid} on B] was lost" in report, report
    assert result_of(ok(meta, "call('doomed_b', 0)"))[0] == "B", "a new kernel serves it"
    wait_until(lambda: not set(doomed) & set(kernels_on(hosts, "B")), 30,
               "nothing of the killed kernel left (its listener)")  # fmt: skip


DIES = """import os
def dies():
    with open(f"/tmp/kernel-{os.environ['KERNEL_ID']}.log", "a") as log:  # GP's kernel log
        log.write("last words on B\\n")
    os.kill(os.getpid(), 9)
"""
DYING = f"""
from metakernel_dbg import RenderError, Session
with Session(pool_size=0) as s:
    s.define("dies", {DIES!r}, kernel="remote_b")
    try:
        s.call("dies")
    except RenderError as exc:
        print(exc.trace.to_text())
"""


def test_a_scripts_trace_of_a_lost_remote_kernel_shows_its_log(hosts: Hosts, specs: str) -> None:
    out = hosts.run("A", [sys.executable, "-c", DYING], timeout=180)
    assert "dies [remote_b pid" in out.stdout and "on B" in out.stdout, out.stdout + out.stderr
    assert "KernelDied: dies" in out.stdout and "last output:" in out.stdout, out.stdout
    assert "last words on B" in out.stdout, "the end of its log, fetched from B"


# -- the debugger -------------------------------------------------------------------------------
REMOTE_CELL = (
    "%%function step_b --kernel remote_b\nimport socket\ndef step_b(x):\n"
    "    y = x * 2\n    z = y + 1\n    return [socket.gethostname(), z]"
)


def test_debugger_stops_in_a_remote_function_with_the_merged_stack(
    hosts: Hosts, specs: str
) -> None:
    """Breakpoint set before the function's kernel exists on B (its cell file is written
    there); merged stack across hosts; variables; a step; stepIn from A into B."""
    meta = start_meta(hosts)
    dap = DapClient(meta.kc)
    try:
        assert dap.request("initialize", INITIALIZE)["success"] is True
        assert dap.request("attach", {})["success"] is True
        path = dap.request("dumpCell", {"code": REMOTE_CELL})["body"]["sourcePath"]
        bp = {"breakpoints": [{"line": 5}], "source": {"path": path}, "sourceModified": False}
        dap.request("setBreakpoints", bp)
        assert dap.reply(dap.execute(REMOTE_CELL))["status"] == "ok"
        on_b = hosts.run("B", ["cat", path]).stdout
        assert "def step_b(x):" in on_b, "the cell's file exists on B under the frontend's path"

        render = dap.execute("result = call('step_b', 20)\nresult")
        dap.wait_event("stopped", timeout=60)
        frames = dap.frames()
        names = [f["name"] for f in frames]
        assert [n.split()[0] for n in names] == ["step_b", "<module>"], names
        assert re.fullmatch(r"step_b  \[remote_b pid \d+ on B\]", names[0]), names
        assert "[main pid" in names[1] and " on " not in names[1]
        assert (frames[0]["line"], frames[0]["source"]["path"]) == (5, path)
        assert dap.variables(frames[0]["id"]) == {"x": "20", "y": "40"}
        dap.request("next", {"threadId": 1})
        dap.wait_event("stopped")
        assert dap.frames()[0]["line"] == 6
        assert dap.variables(dap.frames()[0]["id"])["z"] == "41"
        dap.request("setBreakpoints", {**bp, "breakpoints": []})
        dap.request("continue", {"threadId": 1})
        assert dap.reply(render)["status"] == "ok"

        # stepIn on a call line in A stops at the remote callee's first line on B
        caller = "x = 1\nresult = call('step_b', x)\nresult"
        main = dap.request("dumpCell", {"code": caller})["body"]["sourcePath"]
        dap.request(
            "setBreakpoints",
            {"breakpoints": [{"line": 2}], "source": {"path": main}, "sourceModified": False},
        )
        render = dap.execute(caller)
        dap.wait_event("stopped", timeout=60)
        assert [f["name"].split()[0] for f in dap.frames()] == ["<module>"]
        dap.request("stepIn", {"threadId": 1})
        dap.wait_event("stopped", timeout=60)
        top = dap.frames()[0]
        assert (top["name"].split()[0], top["line"], " on B]" in top["name"]) == ("step_b", 4, True)
        dap.request("setBreakpoints", {"breakpoints": [], "source": {"path": main}})
        dap.request("continue", {"threadId": 1})
        assert dap.reply(render)["status"] == "ok"
    finally:
        dap.close()
        close_meta(meta)


# -- kernelspecs that cannot work --------------------------------------------------------------
def test_kernelspecs_that_cannot_be_secured_or_started_are_refused(
    meta: MetaKernelHandle, hosts: Hosts
) -> None:
    reply, msgs = meta.run("%%function bare --kernel plain_b\ndef bare():\n    return 1")
    assert reply["status"] == "error" and "curve" in reply["evalue"].lower(), reply
    reply, msgs = meta.run("%%function rel --kernel py_b\ndef rel():\n    return 1")
    assert reply["status"] == "error" and "by absolute path" in reply["evalue"], reply
    # GP's own provisioner starts it unencrypted: refused before a key is sent, and ended
    # (by its kill, which GP's 10 ms listener timeout can miss on a loaded host: at the
    # latest by its start-up watchdog, never bootstrapped)
    reply, msgs = meta.run("%%function clear --kernel gp_b\ndef clear():\n    return 1")
    assert reply["status"] == "error" and "without CurveZMQ" in reply["evalue"], reply
    wait_until(lambda: not kernels_on(hosts, "B", "--bootstrap-timeout 7.5"), 60, "gp_b gone")

    reply, msgs = meta.run("%%function late --kernel slow_b\ndef late():\n    return 1")
    assert reply["status"] == "error" and "slow_b" in reply["evalue"], reply
    assert "Waited too long" in reply["evalue"], reply
    # a launch left behind would start its kernel once its `sleep 3` is over: watch B
    # until well after that (the launches began before the error came)
    slow = "--bootstrap-timeout 77"
    deadline = time.monotonic() + 3 + 2
    while time.monotonic() < deadline:
        assert not kernels_on(hosts, "B", slow), "a launch that timed out left something"
        assert not [p for p in hosts.processes("B") if p.cmdline == "sleep 3"]
        time.sleep(0.2)
    ok(meta, "1 + 1")


# -- timeouts, pool, leases, restart, shutdown: nothing left on the hosts ---------------------
def test_a_timed_out_remote_call_replaces_its_kernel(hosts: Hosts, specs: str) -> None:
    """(This meta-kernel also pins the call plane's TCP ports: a firewall's rules.)"""
    meta = start_meta(
        hosts,
        "--MetaKernel.call_timeout=15",
        "--MetaKernel.pool_size=0",
        "--MetaKernel.callplane_ports=45000-45099",
    )
    try:
        ok(meta, f"%%function stuck_b --kernel remote_b\n{WHERE}import time\n"
                 "def stuck_b(s):\n    time.sleep(s)\n    return where()")  # fmt: skip
        host, pid = result_of(ok(meta, "call('stuck_b', 0)"))
        stuck = kernel_of(hosts, "B", pid)
        out = hosts.run("B", ["ss", "-tanp"]).stdout  # the stuck kernel's TCP sockets
        rows = [line.split()[:5] for line in out.splitlines() if f"pid={pid}," in line]
        listening = {local for state, _, _, local, _ in rows if state == "LISTEN"}
        dialled = {  # connections it opened to A: the router's and the lease's ports
            int(peer.rsplit(":", 1)[1])
            for state, _, _, local, peer in rows
            if state == "ESTAB" and peer.startswith(hosts.addr("A") + ":")
            and not any(local.endswith(":" + p.rsplit(":", 1)[1]) for p in listening)
        }  # fmt: skip
        lines = {int(p.rsplit(":", 1)[1]) for p in listening if p.startswith(hosts.addr("B"))}
        assert len(dialled) == 2 and lines, out
        assert all(45000 <= port <= 45099 for port in dialled | lines), out
        reply, msgs = meta.run("call('stuck_b', 600)")
        assert reply["ename"] == "CallTimeoutError", reply
        assert f"stuck_b [remote_b pid {pid} on B] did not return within 15 s" in reply["evalue"]
        wait_until(lambda: not set(stuck) & set(kernels_on(hosts, "B")), 30,
                   "the stuck kernel is gone from B")  # fmt: skip
        assert result_of(ok(meta, "call('stuck_b', 0)"))[1] != pid
    finally:
        close_meta(meta)


KERNEL_ID = "import os\ndef {0}():\n    return os.environ['KERNEL_ID']"


def test_pooled_remote_kernels_and_leases_after_a_sigkilled_meta_kernel(
    hosts: Hosts, specs: str
) -> None:
    """A second function on remote_b gets the kernel the pool warmed on B; once the
    meta-kernel is SIGKILLed, every kernel it had on B ends when its lease expires."""
    meta = start_meta(hosts, "--MetaKernel.lease_timeout=3", "--MetaKernel.pool_size=1")
    try:
        ok(meta, "%%function orphan_b --kernel remote_b\n" + KERNEL_ID.format("orphan_b"))
        kernel_id = result_of(ok(meta, "call('orphan_b')"))
        first = kernels_on(hosts, "B", f"--kernel-id {kernel_id}")[0].cmdline
        ours = re.search(r"--response-address \S+", first).group(0)  # type: ignore[union-attr]
        warm = wait_until(
            lambda: {p.cmdline for p in kernels_on(hosts, "B", ours)} - {first}, 120, "warm"
        )
        ok(meta, "%%function pooled_b --kernel remote_b\n" + KERNEL_ID.format("pooled_b"))
        pooled = result_of(ok(meta, "call('pooled_b')"))
        assert any(f"--kernel-id {pooled} " in cmd for cmd in warm), "the warm kernel"
        assert meta.process is not None
        meta.process.kill()
        wait_until(lambda: not kernels_on(hosts, "B", ours), 60, "leases expire on B")
        log = hosts.run("B", ["cat", f"/tmp/kernel-{kernel_id}.log"]).stdout
        assert "did not renew the lease" in log, log
    finally:
        meta.kc.stop_channels()
        meta.km.shutdown_kernel(now=True)  # what is left of it in A


def test_restart_and_shutdown_leave_nothing_on_the_hosts(
    meta: MetaKernelHandle, hosts: Hosts
) -> None:
    ok(meta, f"%%function last_b --kernel remote_b\n{WHERE}def last_b():\n    return where()")
    assert kernels_on(hosts, "B")
    meta.km.restart_kernel(now=False)
    meta.kc.wait_for_ready(timeout=120)
    wait_until(lambda: not kernels_on(hosts, "B") and not kernels_on(hosts, "C"), 60,
               "B and C empty after a restart")  # fmt: skip
    ok(meta, f"%%function again_b --kernel remote_b\n{WHERE}def again_b():\n    return where()")
    assert result_of(ok(meta, "call('again_b')"))[0] == "B"
    close_meta(meta)
    wait_until(lambda: not kernels_on(hosts, "B"), 60, "B empty after a shutdown")


# -- the kernelspec helper (no hosts needed) ------------------------------------------------
def test_remote_spec_writes_a_working_kernelspec(tmp_path: Path) -> None:
    out = subprocess.run(
        [CLI, "remote-spec", "far", "--host", "B", "--host", "C", "--prefix", str(tmp_path),
         "--python", "/opt/py/bin/python3", "--env", "OMP_NUM_THREADS=1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "kernels on B, C" in out.stdout
    spec = json.loads((tmp_path / "share/jupyter/kernels/far/kernel.json").read_text())
    assert spec["argv"][:3] == ["/opt/py/bin/python3", "-m", "metakernel_dbg.launch.remotekernel"]
    assert "{transport_encryption}" in spec["argv"] and "{response_address}" in spec["argv"]
    assert spec["metadata"]["supported_encryption"] == ["curve"]
    provisioner = spec["metadata"]["kernel_provisioner"]
    assert provisioner["provisioner_name"] == "metakernel-dbg-ssh"
    assert provisioner["config"]["remote_hosts"] == ["B", "C"]
    assert spec["env"]["OMP_NUM_THREADS"] == "1"
    bad = subprocess.run(
        [CLI, "remote-spec", "x", "--host", "B", "--python", "python", "--prefix", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "absolute path" in bad.stderr


def test_shutdown_never_signals_a_remote_pid_here() -> None:
    """A remote kernel's pid is a pid on its host: here it may be anyone. A process of
    this host with that pid survives the kernel's shutdown; the same shutdown of a local
    kernel with that pid kills it (so the check can fail)."""

    async def shut(remote: RemoteHost | None, pid: int) -> None:
        child = ChildKernel("f-1", "remote_b", "f", str(REPO))
        child.km, child.pid, child.remote = AsyncKernelManager(), pid, remote
        await child.shutdown(now=True)

    bystanders = [subprocess.Popen(["sleep", "600"], start_new_session=True) for _ in range(2)]
    try:
        asyncio.run(shut(RemoteHost("B", "10.250.17.2"), bystanders[0].pid))
        assert bystanders[0].poll() is None, "a local process shares the remote pid: spared"
        asyncio.run(shut(None, bystanders[1].pid))
        assert bystanders[1].wait(timeout=30) == -9, "the same pid of a local kernel: killed"
    finally:
        for proc in bystanders:
            proc.kill()
            proc.wait()
