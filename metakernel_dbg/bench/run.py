"""`metakernel-dbg bench`: the call plane measured against baselines taken in the same run.

Everything runs on one transport (ipc): the raw pyzmq floor, a plain ipykernel's execute
round trip, and the meta-kernel's cross-kernel calls (child kernels use ipc, the router is
`ipc://`). Call costs are measured *inside* a kernel (`time.perf_counter_ns()` around each
`call()`), so the Session's own per-render overhead is not part of them.

The debugger is measured the way JupyterLab drives it (`debug_request` on the control channel,
timed to the matching `debug_reply`): a stock python3 ipykernel stopped on a breakpoint against
the meta-kernel stopped in a three-kernel chain (main -> outer -> inner), both stopped at the
same time and interleaved; and the in-kernel call cost before and after the debugger is started
in the callee kernels, against a session that has no debugger at all.

Ratios against the in-run baselines are the headline; absolute times are secondary (they
move 30-50 % between runs on a shared machine). Targets are printed next to the ratios and
marked PASS/MISS (rows without a target are "info"); nothing here asserts a timing.

Method (as in the project's performance-baselines reference): `perf_counter_ns`, warm-up
iterations discarded, variants interleaved round-robin (each round runs every variant once,
so drift hits all of them), medians with linear-interpolated p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import queue
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
import zmq

from . import dapcore

SPEC = "python3"
SMALL_ARG = {"x": 1, "name": "f", "v": list(range(10))}  # the reference's "small" args
PAYLOAD = b"x" * 100
DEPTHS = (1, 3, 10)
FANOUT_KERNELS = 10


@dataclass
class Plan:
    """Iteration counts; `quick` is a smoke run (< 90 s), the full run stays < 4 min."""

    quick: bool
    rounds: int  # interleaved rounds of the per-call measurements
    per_round: int  # raw zmq / execute / call samples per round
    depth_per_round: int  # depth-chain samples per depth per round
    fanout_calls: int  # calls across the 10 warm function kernels
    functions: int  # distinct functions of the cold render
    render_rounds: int  # repeats of cold render vs plain starts (alternating)
    acquisitions: int  # warm pool acquisitions
    big_sizes: tuple[int, int]
    big_rounds: int
    big_per_round: tuple[int, int]
    dbg_call_rounds: int  # rounds of in-kernel calls per debugger state
    dbg_call_per_round: int  # calls timed per round
    probe_n: int  # iterations of the hot loop timed in a callee kernel
    dbg_rounds: int  # interleaved rounds, stock vs meta-kernel, while both are stopped
    dbg_stack: int  # back-to-back stackTrace requests per kernel per round
    dbg_cycles: int  # stop cycles (stackTrace + scopes + variables) per kernel per round
    dbg_steps: int  # stepIn -> stopped, outer -> inner

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            calls = (True, 3, 100, 20, 1000, 6, 1, 3, (1 << 20, 5 << 20), 2, (3, 1))
            debugger = (8, 25, 100_000, 2, 10, 5, 3)
        else:
            calls = (False, 10, 300, 100, 1000, 30, 2, 10, (1 << 20, 50 << 20), 5, (4, 1))
            debugger = (40, 30, 300_000, 5, 40, 20, 10)
        return cls(*calls, *debugger)


# -- statistics ----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: list[float], scale: float = 1.0) -> dict[str, float]:
    """median/p99/min/max/mean of `values` divided by `scale`, and n."""
    v = [x / scale for x in values]
    return {
        "median": statistics.median(v),
        "p99": percentile(v, 99),
        "min": min(v),
        "max": max(v),
        "mean": statistics.fmean(v),
        "n": len(v),
    }


# -- baselines: raw zmq and a plain ipykernel ------------------------------------------------
_ECHO_SERVER = """
import os, sys, zmq
parent = os.getppid()
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 0)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    if not s.poll(1000):
        if os.getppid() != parent:
            break  # the bench died
        continue
    frames = s.recv_multipart()
    if frames[-1] == b"quit":
        break
    s.send_multipart(frames)
"""


_UNIX_ECHO_SERVER = """
import os, socket, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1])
listener.listen()
print("ready", flush=True)
conn, _ = listener.accept()
while True:
    data = conn.recv(65536)
    if not data or data == b"quit":
        break
    conn.sendall(data)
"""


def _echo_server(script: str, address: str) -> subprocess.Popen:
    command = [sys.executable, "-c", script, address]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"echo server for {address} did not start")
    return proc


def _end(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RawUnix:
    """A subprocess echo server on a Unix stream socket: the floor of a linked call."""

    def __init__(self, workdir: str) -> None:
        path = os.path.join(workdir, "echo-unix")
        self.proc = _echo_server(_UNIX_ECHO_SERVER, path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.round_trips(50)

    def round_trips(self, n: int) -> list[int]:
        out = []
        sock, payload, clock = self.sock, PAYLOAD, time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            sock.sendall(payload)
            got = 0
            while got < len(payload):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the Unix echo server closed the connection")
                got += len(chunk)
            out.append(clock() - t0)
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"quit")
        self.sock.close()
        _end(self.proc)


class RawZmq:
    """A subprocess ROUTER echo server and a DEALER client: the floor of any call."""

    def __init__(self, workdir: str) -> None:
        self.address = f"ipc://{os.path.join(workdir, 'echo')}"
        self.proc = _echo_server(_ECHO_SERVER, self.address)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.address)
        self.round_trips(50)  # connect + warm up

    def round_trips(self, n: int) -> list[int]:
        out = []
        sock, payload, clock = self.sock, PAYLOAD, time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            sock.send(payload)
            sock.recv()
            out.append(clock() - t0)
        return out

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.sock.send(b"quit")
        self.sock.close(linger=0)
        self.ctx.term()
        _end(self.proc)


class PlainKernel:
    """A kernel on ipc (by default a stock python3 ipykernel), driven by jupyter_client's
    blocking client. `close()` shuts it down; a start that fails half-way shuts it down too."""

    def __init__(
        self,
        workdir: str,
        label: str = "plain",
        kernel_name: str = SPEC,
        spec_dir: str | None = None,
        warm: int = 20,
    ) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        extra: dict[str, Any] = {}
        if spec_dir is not None:
            extra["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=[spec_dir])
        self.label = label
        self.kc: Any = None
        self.km = KernelManager(
            kernel_name=kernel_name,
            transport="ipc",
            ip=os.path.join(workdir, f"{label}-ipc"),
            connection_file=os.path.join(workdir, f"{label}.json"),
            **extra,
        )
        try:
            self.km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=120)
            self.round_trips(warm)
        except BaseException:
            self.close()
            raise

    def round_trips(self, n: int) -> list[int]:
        out = []
        kc, clock = self.kc, time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            msg_id = kc.execute("pass", silent=True, store_history=False)
            while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
                pass
            out.append(clock() - t0)
        with contextlib.suppress(Exception):  # drop the busy/idle status messages
            while True:
                kc.iopub_channel.get_msg(timeout=0)
        return out

    def close(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        with contextlib.suppress(Exception):  # never started: nothing to shut down
            self.km.shutdown_kernel(now=True)


def _env() -> dict[str, str]:
    """The bench's environment for the kernels it starts itself: stock kernels, so without
    the meta-kernel's childsite (TCP_NODELAY) even if this process runs under one."""
    env = dict(os.environ)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    path = [
        p
        for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and not p.rstrip(os.sep).endswith(os.path.join("metakernel_dbg", "childsite"))
    ]
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    else:
        env.pop("PYTHONPATH", None)
    return env


async def _plain_starts(n: int, concurrency: int, workdir: str) -> tuple[float, float]:
    """Start n plain ipykernels (ipc), `concurrency` at a time, each until its first
    kernel_info_reply. Returns (seconds until all ready, seconds to shut them down)."""
    from jupyter_client import AsyncKernelManager

    gate = asyncio.Semaphore(concurrency)
    kms: list[Any] = []

    async def one(i: int) -> None:
        async with gate:
            km = AsyncKernelManager(
                kernel_name=SPEC,
                transport="ipc",
                ip=os.path.join(workdir, f"p{i}-ipc"),
                connection_file=os.path.join(workdir, f"p{i}.json"),
            )
            kms.append(km)
            await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
            kc = km.client()
            km.bench_client = kc  # type: ignore[attr-defined]
            kc.start_channels()
            msg_id = kc.kernel_info()
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(Exception):  # queue.Empty on timeout
                    reply = await kc.get_shell_msg(timeout=1)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return
                if time.monotonic() > deadline or not await km.is_alive():
                    raise RuntimeError(f"plain kernel {i} did not start")

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(n)))
        ready = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        for km in kms:
            kc = getattr(km, "bench_client", None)
            if kc is not None:
                kc.stop_channels()
        await asyncio.gather(*(km.shutdown_kernel(now=True) for km in kms), return_exceptions=True)
        down = time.perf_counter() - t1
    return ready, down


# -- functions the measurements run inside the kernels ----------------------------------------
_A = '''import time

def a(n, x, size=0, callee="b", warm=5):
    """Time n calls A -> callee from inside this kernel (ns each); `size`: a str arg."""
    if size:
        x = "x" * size
    total = 0
    for _ in range(warm):
        call(callee, x)
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        r = call(callee, x)
        out.append(time.perf_counter_ns() - t0)
        total += len(r) if isinstance(r, (dict, list, str)) else 1
    return out
'''

_B = "def b(x):\n    return x\n"

_SINK = "def sink(x):\n    return len(x)\n"

_CHAIN = """def c{i}(d, x):
    if d > {i}:
        return call("c{j}", d, x)
    return x
"""

_HOP = '''import time

def hop(mode, n, x):
    """depth: chains c1 -> ... -> cd timed per depth, depths interleaved;
    fanout: n calls round-robin over c1..c10 (each returns at once), timed twice:
    the first pass includes starting each kernel's serve loop for this render."""
    clock = time.perf_counter_ns
    if mode == "depth":
        call("c1", 10, x)  # warm-up: touches the whole chain
        out = {{str(d): [] for d in {depths}}}
        for _ in range(n):
            for d in {depths}:
                t0 = clock()
                call("c1", d, x)
                out[str(d)].append(clock() - t0)
        return out
    names = ["c%d" % (1 + i % {fanout}) for i in range(n)]
    passes = []
    for _ in range(2):
        t0 = clock()
        for name in names:
            call(name, 0, x)
        passes.append(clock() - t0)
    return passes
'''

_PROBE = '''import gc
import sys
import threading
import time

def probe(reps, n):
    """Debugger state of this kernel and the ns per call of a hot Python loop."""
    def f(v):
        return v + 1
    gc.disable()
    try:
        for i in range(n // 3):
            f(i)
        best = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            for i in range(n):
                f(i)
            best.append((time.perf_counter_ns() - t0) / n)
    finally:
        gc.enable()
    best.sort()
    return {
        "debugpy": "debugpy" in sys.modules,
        "pydevd": "pydevd" in sys.modules,
        "trace": sys.gettrace() is not None or threading.gettrace() is not None,
        "hot_loop_ns": best[len(best) // 2],
        "pid": __import__("os").getpid(),
    }
'''


def _render_dir(n: int, parent: str) -> str:
    """n distinct functions: f00 calls f01..f(n-1) once each, so one call touches all."""
    path = tempfile.mkdtemp(prefix="fns-", dir=parent)
    for i in range(1, n):
        with open(os.path.join(path, f"f{i:02d}.py"), "w") as f:
            f.write(f"def f{i:02d}(x):\n    return x + {i}\n")
    callees = ", ".join(f'"f{i:02d}"' for i in range(1, n))
    with open(os.path.join(path, "f00.py"), "w") as f:
        f.write(f"def f00(x):\n    return sum(call(name, x) for name in [{callees}])\n")
    return path


# -- the debugger (B6): JupyterLab's requests on the control channel ---------------------------
# stock ipykernel: a function cell, a breakpoint on its line 2, a cell calling it
_STOCK_CELL = "def target(x):\n    y = x + 1\n    return y\n"
_STOCK_LINE = 2
_STOCK_RUN = "target(1)"
# meta-kernel: main -> outer -> inner (three kernels), a breakpoint on `return y + 1`
_INNER = "%%function inner\ndef inner(x):\n    y = x * 2\n    return y + 1"
_INNER_LINE = 4
_OUTER = (
    "%%function outer --kernel python3\ndef outer(n):\n    total = 0\n"
    '    for i in range(n):\n        total += call("inner", i)\n    return total'
)
_OUTER_LINE = 5  # total += call("inner", i)
_RENDER = 'result = call("outer", {n})\nresult'
_PRINT_CALL = "import json as _json\nprint(_json.dumps(call({args})))"


class DebugKernel(PlainKernel):
    """A kernel driven the way JupyterLab drives its debugger: `debug_request` on the control
    channel, each timed from sending to the matching `debug_reply`; `debug_event`s and the
    other IOPub messages read by a pump thread."""

    def __init__(self, workdir: str, label: str, kernel_name: str, spec_dir: str | None = None):
        self.kernel_name = kernel_name
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.iopub: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self.seq = 0
        super().__init__(workdir, label, kernel_name, spec_dir, warm=0)
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except Exception:  # noqa: BLE001 - queue.Empty, or the channel closing
                continue
            if msg["header"]["msg_type"] == "debug_event":
                self.events.put(msg["content"])
            else:
                self.iopub.put(msg)

    def close(self) -> None:
        self._stop.set()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
        super().close()

    # -- DAP ------------------------------------------------------------------------------
    def timed(
        self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 60
    ) -> tuple[int, dict[str, Any]]:
        """(ns from sending the request to its debug_reply, the reply's body)."""
        self.seq += 1
        content: dict[str, Any] = {"type": "request", "seq": self.seq, "command": command}
        if arguments is not None:
            content["arguments"] = arguments
        msg = self.kc.session.msg("debug_request", content)
        msg_id = msg["header"]["msg_id"]
        channel = self.kc.control_channel
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter_ns()
        channel.send(msg)
        while True:
            try:
                reply = channel.get_msg(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.label}: no debug_reply to {command}") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        elapsed = time.perf_counter_ns() - t0
        body = reply["content"]
        if body.get("success") is not True:
            raise RuntimeError(f"{self.label}: {command} failed: {body.get('message') or body}")
        return elapsed, body.get("body") or {}

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.timed(command, arguments)[1]

    def wait_event(self, name: str, timeout: float = 60) -> dict[str, Any]:
        """The next `name` debug_event (the events before it are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise TimeoutError(f"{self.label}: no {name} event in {timeout} s") from None
            if event.get("event") == name:
                return event

    def drain_events(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.events.get_nowait()

    def start_debugger(self) -> tuple[int, int]:
        """JupyterLab's "enable debugger": debugInfo, initialize, attach; ns of the last two."""
        self.request("debugInfo")
        t_init, _ = self.timed("initialize", dapcore.jupyterlab_initialize(self.kernel_name))
        t_attach, _ = self.timed("attach", {})
        return t_init, t_attach

    def set_breakpoint(self, cell: str, line: int | None) -> str:
        """JupyterLab's gutter click: dumpCell, debugInfo, setBreakpoints (None: remove)."""
        path = self.request("dumpCell", {"code": cell})["sourcePath"]
        self.request("debugInfo")
        body = self.request(
            "setBreakpoints",
            {
                "breakpoints": [] if line is None else [{"line": line}],
                "source": {"path": path},
                "sourceModified": False,
            },
        )
        if line is not None and not body["breakpoints"][0].get("verified"):
            raise RuntimeError(f"{self.label}: breakpoint on line {line} not verified")
        return path

    def stack(self, thread: int) -> list[dict[str, Any]]:
        return self.request("stackTrace", {"threadId": thread})["stackFrames"]

    def stop_cycle(self, thread: int) -> int:
        """ns of what JupyterLab sends on a stop: stackTrace, scopes(frame 0), variables(Locals)."""
        t0 = time.perf_counter_ns()
        frames = self.request("stackTrace", {"threadId": thread})["stackFrames"]
        scopes = self.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
        local = next((s for s in scopes if s.get("name") == "Locals"), scopes[0])
        self.request("variables", {"variablesReference": local["variablesReference"]})
        return time.perf_counter_ns() - t0

    # -- cells ----------------------------------------------------------------------------
    def execute(self, code: str) -> str:
        return self.kc.execute(code)

    def reply(self, msg_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                content = msg["content"]
                if content.get("status") != "ok":
                    raise RuntimeError(
                        f"{self.label}: {content.get('ename')}: {content.get('evalue')}"
                    )
                return content

    def run(self, code: str, timeout: float = 120) -> str:
        """Run a cell to its end (reply and idle); its stdout."""
        msg_id = self.execute(code)
        self.reply(msg_id, timeout)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.iopub.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "status" and content.get("execution_state") == "idle":
                return "".join(out)

    def call(self, *args: Any) -> Any:
        """`call(*args)` run in a cell of the meta-kernel's main kernel; its return value."""
        return json.loads(self.run(_PRINT_CALL.format(args=", ".join(map(repr, args)))))


def _wait_quiet(pid: int, timeout: float = 15.0) -> None:
    """Wait until a process tree (a kernel and its children: background pool refills,
    debugpy adapters starting) uses under 10 % of a core over 0.3 s, or `timeout` passes."""
    deadline = time.monotonic() + timeout

    def cpu() -> float:
        total = 0.0
        try:
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            return 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(0.3)
        if cpu() - before < 0.03:
            return


# -- phases ---------------------------------------------------------------------------------
class Bench:
    def __init__(self, plan: Plan, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.log = log
        self.workdir = tempfile.mkdtemp(prefix="mkdbg-bench-")
        self.m: dict[str, Any] = {}  # measurements
        self.notes: list[str] = []

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # A: per-call costs, all interleaved against the two baselines
    def call_plane(self) -> None:
        from .session import Session

        plan = self.plan
        self.log("starting the baselines and a session of 14 function kernels ...")
        with contextlib.ExitStack() as stack:
            raw = RawZmq(self.workdir)
            stack.callback(raw.close)
            unix = RawUnix(self.workdir)
            stack.callback(unix.close)
            plain = PlainKernel(self.workdir)
            stack.callback(plain.close)
            session = Session(stdout=None, pool_size=0)
            stack.callback(session.close)
            session.__enter__()
            session.define("b", _B)
            session.define("a", _A)
            session.define("sink", _SINK)
            session.define("hop", _HOP.format(depths=DEPTHS, fanout=FANOUT_KERNELS))
            for i in range(1, FANOUT_KERNELS + 1):
                session.define(f"c{i}", _CHAIN.format(i=i, j=i + 1))
            # warm-up round, discarded
            raw.round_trips(plan.per_round)
            unix.round_trips(plan.per_round)
            plain.round_trips(plan.per_round // 2)
            session.call("a", plan.per_round, SMALL_ARG)
            session.call("hop", "depth", 5, SMALL_ARG)
            raws: list[int] = []
            unixes: list[int] = []
            execs: list[int] = []
            calls: list[int] = []
            depth: dict[int, list[int]] = {d: [] for d in DEPTHS}
            fanout: list[int] = []
            fanout_steady: list[int] = []
            self.log(f"interleaved rounds: {plan.rounds} x (zmq, execute, call, depth, fanout)")
            router = session._core.engine.router
            linked, made = 0, 0  # calls A -> B that went kernel to kernel, of all made
            # per round: medians of (raw zmq, execute, call), for ratios taken within a round
            rounds: list[tuple[float, float, float]] = []
            for r in range(plan.rounds):
                order = [0, 1, 2, 3, 4]
                order = order[r % 5 :] + order[: r % 5]  # rotate who goes first
                got: dict[int, list[int]] = {}
                for v in order:
                    if v == 0:
                        got[0] = raw.round_trips(plan.per_round)
                        raws += got[0]
                        unixes += unix.round_trips(plan.per_round)
                    elif v == 1:
                        got[1] = plain.round_trips(plan.per_round)
                        execs += got[1]
                    elif v == 2:
                        before = router.linked_calls
                        got[2] = session.call("a", plan.per_round, SMALL_ARG)
                        calls += got[2]
                        linked += router.linked_calls - before
                        made += plan.per_round + 5  # + a()'s warm-up calls
                    elif v == 3:
                        out = session.call("hop", "depth", plan.depth_per_round, SMALL_ARG)
                        for d in DEPTHS:
                            depth[d] += out[str(d)]
                    else:
                        first, steady = session.call("hop", "fanout", plan.fanout_calls, 0)
                        fanout.append(first)
                        fanout_steady.append(steady)
                rounds.append(tuple(statistics.median(got[v]) for v in (0, 1, 2)))
            m = self.m
            # call times and the floor drift (up to 2x) within a run on a shared VM: the
            # headline ratios are medians of ratios taken within each interleaved round
            m["call_vs_raw_zmq_per_round"] = statistics.median(c / z for z, _, c in rounds)
            m["execute_vs_call_per_round"] = statistics.median(e / c for _, e, c in rounds)
            m["raw_zmq_rt_us"] = summary(raws, 1e3)
            m["raw_unix_rt_us"] = summary(unixes, 1e3)
            m["linked_call_share"] = linked / made
            m["ipykernel_execute_rt_us"] = summary(execs, 1e3)
            m["call_us"] = summary(calls, 1e3)
            for d in DEPTHS:
                m[f"depth{d}_total_us"] = summary(depth[d], 1e3)
                m[f"depth{d}_per_hop_us"] = summary([t / d for t in depth[d]], 1e3)
            m["fanout_1000_calls_s"] = summary(fanout, 1e9)
            m["fanout_1000_calls_steady_s"] = summary(fanout_steady, 1e9)
            m["fanout_calls"] = plan.fanout_calls

            self.log("large arguments ...")
            small, large = plan.big_sizes
            n_small, n_large = plan.big_per_round
            big: dict[int, list[int]] = {small: [], large: []}
            session.call("a", 1, "", size=small, callee="sink", warm=1)
            for r in range(plan.big_rounds):
                pairs = [(small, n_small), (large, n_large)]
                for size, n in pairs if r % 2 == 0 else pairs[::-1]:
                    big[size] += session.call("a", n, "", size=size, callee="sink", warm=0)
            m["big_arg_small_ms"] = {**summary(big[small], 1e6), "bytes": small}
            m["big_arg_large_ms"] = {**summary(big[large], 1e6), "bytes": large}

            self.log("memory ...")
            engine = session._core.engine
            pids = [i.child.pid for i in engine.all_instances() if i.child.pid]
            pss, rss = _memory(pids)
            m["child_pss_median_mib"] = statistics.median(pss) if pss else float("nan")
            m["child_rss_median_mib"] = statistics.median(rss) if rss else float("nan")
            m["child_kernels_measured"] = len(rss)

    # B: a cold render of N functions vs N plain kernel starts, alternating
    def cold_render(self) -> None:
        from .session import Session

        n = self.plan.functions
        conc = max(1, os.cpu_count() or 1)
        fdir = _render_dir(n, self.workdir)
        expected = sum(range(1, n)) + n - 1  # f00(1) = sum of (1 + i)
        renders: list[float] = []
        unforked: list[float] = []
        render_close: list[float] = []
        plains: list[float] = []
        plain_down: list[float] = []
        for r in range(self.plan.render_rounds):
            variants = ["plain", "render", "unforked"]
            for variant in variants[r % 3 :] + variants[: r % 3]:
                if variant == "plain":
                    self.log(f"{n} plain ipykernel starts at concurrency {conc} ...")
                    sub = tempfile.mkdtemp(prefix="plain-", dir=self.workdir)
                    ready, down = asyncio.run(_plain_starts(n, conc, sub))
                    plains.append(ready)
                    plain_down.append(down)
                else:
                    fork = variant == "render"
                    how = "" if fork else ", fork server off"
                    self.log(f"cold render of {n} functions in a fresh session (no pool{how}) ...")
                    t0 = time.perf_counter()
                    session = Session(stdout=None, pool_size=0, fork=fork)
                    try:
                        session.__enter__()
                        session.load_directory(fdir)
                        result = session.call("f00", 1)
                        (renders if fork else unforked).append(time.perf_counter() - t0)
                    finally:
                        t1 = time.perf_counter()
                        session.close()
                        render_close.append(time.perf_counter() - t1)
                    if result != expected:
                        raise RuntimeError(f"cold render returned {result!r}, not {expected}")
        m = self.m
        m["functions"] = n
        m["start_concurrency"] = conc
        m["cold_render_s"] = summary(renders)
        m["cold_render_unforked_s"] = summary(unforked)
        m["cold_render_close_s"] = summary(render_close)
        m["plain_starts_s"] = summary(plains)
        m["plain_shutdown_s"] = summary(plain_down)

    # C: the same render with a warm pool; warm acquisition
    def warm_pool(self) -> None:
        from .functions import FunctionDef
        from .session import Session

        n = self.plan.functions
        fdir = _render_dir(n, self.workdir)
        expected = sum(range(1, n)) + n - 1
        session = Session(stdout=None, pool_size=2)
        try:
            session.__enter__()
            engine = session._core.engine
            self.log(f"warming a pool of {n} kernels (not timed) ...")
            engine.submit(engine.pool.prewarm(SPEC, n)).result()
            time.sleep(0.5)  # let the last starts settle
            self.log(f"render of {n} functions with a warm pool ...")
            t0 = time.perf_counter()
            session.load_directory(fdir)
            result = session.call("f00", 1)
            self.m["warm_pool_render_s"] = time.perf_counter() - t0
            if result != expected:
                raise RuntimeError(f"warm-pool render returned {result!r}, not {expected}")

            self.log(f"{self.plan.acquisitions} warm acquisitions (pool of 2, refilled) ...")
            acquire: list[float] = []
            ready: list[float] = []
            source = "def w(x):\n    return x\n"
            fdef = FunctionDef("w", SPEC, source, os.path.join(engine.cell_dir, "w.py"))

            async def one() -> tuple[float, float]:
                await engine.pool.prewarm(SPEC, 2)  # wait for the refill (not timed)
                await asyncio.sleep(0.2)
                t0 = time.perf_counter()
                warm = await engine.pool.acquire(SPEC)
                t1 = time.perf_counter()
                await engine.pool.discard(warm)
                await asyncio.sleep(0.05)
                # the whole path a call waits for: acquire + define
                t2 = time.perf_counter()
                inst = await engine.start_instance(fdef, SPEC)
                t3 = time.perf_counter()
                await engine._discard(inst)
                return t1 - t0, t3 - t2

            hits = engine.pool.stats["hits"]
            for _ in range(self.plan.acquisitions):
                a, b = engine.submit(one()).result()
                acquire.append(a)
                ready.append(b)
            self.m["pool_acquire_ms"] = summary(acquire, 1e-3)
            self.m["pool_acquire_ready_ms"] = summary(ready, 1e-3)
            self.m["pool_acquire_all_warm"] = (
                engine.pool.stats["hits"] - hits == 2 * self.plan.acquisitions
            )
        finally:
            session.close()

    # D: the debugger. Stock ipykernel vs the meta-kernel's proxy on a stop; call cost with
    # the debugger never started vs started in the callee kernels
    def debugger(self) -> None:
        from .kernelspec import KERNEL_NAME, write_kernel_spec
        from .session import Session

        plan, m = self.plan, self.m
        spec_dir = os.path.join(self.workdir, "kernels")
        write_kernel_spec(os.path.join(spec_dir, KERNEL_NAME))  # this interpreter's package
        with contextlib.ExitStack() as stack:
            self.log("debugger: a stock ipykernel, a meta-kernel, a session without debugger ...")
            stock = DebugKernel(self.workdir, "stock", SPEC)
            stack.callback(stock.close)
            meta = DebugKernel(self.workdir, "meta", KERNEL_NAME, spec_dir)
            stack.callback(meta.close)
            # the same engine, with no debug proxy; timeouts off, as in the kernel
            session = Session(stdout=None, pool_size=0, call_timeout=None, render_timeout=None)
            stack.callback(session.close)
            session.__enter__()
            session.define("b", _B)
            session.define("a", _A)
            for cell in (
                f"%%function b\n{_B}",
                f"%%function a\n{_A}",
                f"%%function probe\n{_PROBE}",
            ):
                meta.run(cell)
            meta.run(_INNER)
            meta.run(_OUTER)
            meta.call("outer", 1)  # every kernel of the chain is up and has served once
            meta_pid = getattr(meta.km.provisioner, "pid", None)
            if meta_pid:
                _wait_quiet(meta_pid)

            self.log("call cost: no debugger (session) vs meta-kernel, debugger never started ...")
            before = meta.call("probe", 5, plan.probe_n)
            session.call("a", plan.dbg_call_per_round, SMALL_ARG)  # warm-up, discarded
            baseline, never, m["dbg_never_vs_session"] = self._calls_against(session, meta)

            self.log("starting the debugger as JupyterLab does (stock, meta-kernel) ...")
            stock_init, stock_attach = stock.start_debugger()
            meta_init, meta_attach = meta.start_debugger()
            if meta_pid:
                _wait_quiet(meta_pid)
            self.log("call cost, debugger started in the callee kernels ...")
            after = meta.call("probe", 5, plan.probe_n)
            baseline_started, started, m["dbg_started_vs_session"] = self._calls_against(
                session, meta
            )
            if not after["trace"]:
                raise RuntimeError("debugger started, yet no trace function in the callee")
            m["debugpy_in_child_modules"] = before["debugpy"]
            m["pydevd_in_child_modules"] = before["pydevd"]
            m["trace_function_in_child_before_start"] = before["trace"]
            m["trace_function_in_child_after_start"] = after["trace"]
            m["hot_loop_ns_never_started"] = before["hot_loop_ns"]
            m["hot_loop_ns_started"] = after["hot_loop_ns"]
            m["call_no_debugger_us"] = summary(baseline, 1e3)
            m["call_debugger_never_started_us"] = summary(never, 1e3)
            m["call_no_debugger_while_started_us"] = summary(baseline_started, 1e3)
            m["call_debugger_started_us"] = summary(started, 1e3)
            m["dbg_stock_initialize_ms"] = stock_init / 1e6
            m["dbg_stock_attach_ms"] = stock_attach / 1e6
            m["dbg_meta_initialize_ms"] = meta_init / 1e6
            m["dbg_meta_attach_ms"] = meta_attach / 1e6

            self.log("breakpoints, and both kernels stopped on them ...")
            stock.set_breakpoint(_STOCK_CELL, _STOCK_LINE)
            stock.run(_STOCK_CELL)
            stock.execute(_STOCK_RUN)
            stock_thread = stock.wait_event("stopped")["body"]["threadId"]
            meta.set_breakpoint(_INNER, _INNER_LINE)
            render = meta.execute(_RENDER.format(n=3))
            meta_thread = meta.wait_event("stopped")["body"]["threadId"]
            top = stock.stack(stock_thread)[0]
            if (top["name"], top["line"]) != ("target", _STOCK_LINE):
                raise RuntimeError(f"stock kernel stopped at {top['name']}:{top['line']}")
            frames = meta.stack(meta_thread)
            names = [f["name"].split()[0] for f in frames]
            if names != ["inner", "outer", "<module>"] or frames[0]["line"] != _INNER_LINE:
                raise RuntimeError(f"meta-kernel stopped with the stack {names}")
            pids = {f["name"].rsplit("pid", 1)[-1] for f in frames}
            m["dbg_merged_frames"] = len(frames)
            m["dbg_merged_kernels"] = len(pids)

            self.log(
                f"interleaved rounds: {plan.dbg_rounds} x (stackTrace x {plan.dbg_stack}, "
                f"stop cycle x {plan.dbg_cycles}) on each kernel ..."
            )
            kernels = {"stock": (stock, stock_thread), "meta": (meta, meta_thread)}
            for k, thread in kernels.values():  # warm-up, discarded
                for _ in range(3):
                    k.timed("stackTrace", {"threadId": thread})
                k.stop_cycle(thread)
            traces: dict[str, list[int]] = {"stock": [], "meta": []}
            cycles: dict[str, list[int]] = {"stock": [], "meta": []}
            for r in range(plan.dbg_rounds):
                order = ["stock", "meta"] if r % 2 == 0 else ["meta", "stock"]
                for name in order:
                    k, thread = kernels[name]
                    args = {"threadId": thread}
                    traces[name] += [k.timed("stackTrace", args)[0] for _ in range(plan.dbg_stack)]
                for name in order:
                    k, thread = kernels[name]
                    cycles[name] += [k.stop_cycle(thread) for _ in range(plan.dbg_cycles)]
            m["dbg_stock_stacktrace_ms"] = summary(traces["stock"], 1e6)
            m["dbg_merged_stacktrace_ms"] = summary(traces["meta"], 1e6)
            m["dbg_stock_stop_cycle_ms"] = summary(cycles["stock"], 1e6)
            m["dbg_merged_stop_cycle_ms"] = summary(cycles["meta"], 1e6)

            self.log(f"stepIn across kernels (outer -> inner) x {plan.dbg_steps} ...")
            meta.set_breakpoint(_INNER, None)
            meta.request("continue", {"threadId": meta_thread})
            meta.reply(render)
            meta.set_breakpoint(_OUTER, _OUTER_LINE)
            render = meta.execute(_RENDER.format(n=plan.dbg_steps))
            steps: list[int] = []
            for i in range(plan.dbg_steps):
                thread = meta.wait_event("stopped")["body"]["threadId"]
                meta.drain_events()
                t0 = time.perf_counter_ns()
                meta.request("stepIn", {"threadId": thread})
                thread = meta.wait_event("stopped")["body"]["threadId"]
                steps.append(time.perf_counter_ns() - t0)
                if i == 0:
                    top = meta.stack(thread)[0]
                    if (top["name"].split()[0], top["line"]) != ("inner", 3):
                        raise RuntimeError(f"stepIn landed in {top['name']}:{top['line']}")
                meta.request("continue", {"threadId": thread})
            meta.set_breakpoint(_OUTER, None)
            meta.reply(render)
            m["dbg_step_in_ms"] = summary(steps, 1e6)

    def _calls_against(self, session: Any, meta: DebugKernel) -> tuple[list[int], list[int], float]:
        """In-kernel a -> b call times, interleaved in short rounds: (session, meta-kernel,
        median over rounds of meta / session). Call times drift by 2x within a run on this
        kind of VM; a ratio taken within each round cancels most of that out."""
        n = self.plan.dbg_call_per_round
        meta.call("a", n, SMALL_ARG)  # warm-up, discarded
        ours: list[int] = []
        theirs: list[int] = []
        per_round: list[float] = []
        for r in range(self.plan.dbg_call_rounds):
            got: dict[str, list[int]] = {}
            for variant in ("session", "meta") if r % 2 == 0 else ("meta", "session"):
                runner = session if variant == "session" else meta
                got[variant] = runner.call("a", n, SMALL_ARG)
            ours += got["session"]
            theirs += got["meta"]
            per_round.append(statistics.median(got["meta"]) / statistics.median(got["session"]))
        return ours, theirs, statistics.median(per_round)

    def finish(self) -> None:
        self.m["meta_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory(pids: list[int]) -> tuple[list[float], list[float]]:
    """PSS and RSS (MiB) of each process (with its children)."""
    pss: list[float] = []
    rss: list[float] = []
    for pid in pids:
        try:
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True)
            p_rss = p_pss = 0
            for p in procs:
                info = p.memory_full_info()
                p_rss += info.rss
                p_pss += getattr(info, "pss", info.rss)
        except (psutil.Error, OSError):
            continue
        pss.append(p_pss / 2**20)
        rss.append(p_rss / 2**20)
    return pss, rss


# -- report ---------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    versions: dict[str, str] = {}
    for name in ("ipykernel", "jupyter_client", "pyzmq", "debugpy", "psutil", "metakernel_dbg"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    versions["libzmq"] = zmq.zmq_version()
    return {
        "cores": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "mem_total_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_start": list(os.getloadavg()),
        "versions": versions,
    }


def started_vs_never(m: dict[str, Any]) -> float:
    """Call cost with the debugger started / never started, each phase against the session
    (no debugger) interleaved with it, so that drift between the two phases cancels out."""
    return m["dbg_started_vs_session"] / m["dbg_never_vs_session"]


def ratios(m: dict[str, Any]) -> list[dict[str, Any]]:
    """Headline rows: a value, its target and PASS/MISS ("info": reported, no target)."""

    def row(key: str, label: str, value: Any, op: str, target: Any, unit: str = "") -> dict:
        if not op:
            status = "info"
        elif op == "<=":
            status = "PASS" if value <= target else "MISS"
        elif op == ">=":
            status = "PASS" if value >= target else "MISS"
        else:  # "=="
            status = "PASS" if value == target else "MISS"
        return {
            "key": key,
            "label": label,
            "value": value,
            "op": op,
            "target": target,
            "unit": unit,
            "status": status,
        }

    call = m["call_us"]["median"]
    return [
        row(
            "call_vs_raw_zmq",
            "call / raw zmq RT, median of per-round ratios",
            m["call_vs_raw_zmq_per_round"],
            "<=",
            3.0,
            "x",
        ),
        row(
            "call_vs_raw_unix",
            "call median / raw Unix-socket RT (a linked call's transport)",
            call / m["raw_unix_rt_us"]["median"],
            "",
            None,
            "x",
        ),
        row(
            "linked_call_share",
            "calls A -> B that went kernel to kernel (first per render is routed)",
            100 * m["linked_call_share"],
            "",
            None,
            "%",
        ),
        row(
            "execute_vs_call",
            "ipykernel execute RT / call, median of per-round ratios",
            m["execute_vs_call_per_round"],
            ">=",
            8.0,
            "x",
        ),
        row(
            "per_hop_depth10_vs_depth1",
            "per-hop depth 10 / depth 1",
            m["depth10_per_hop_us"]["median"] / m["depth1_per_hop_us"]["median"],
            "<=",
            1.3,
            "x",
        ),
        row(
            "warm_acquisition_ms",
            "warm acquisition median (until the function is defined)",
            m["pool_acquire_ready_ms"]["median"],
            "<=",
            50.0,
            "ms",
        ),
        row(
            "cold_render_vs_plain_starts",
            f"cold {m['functions']}-function render / {m['functions']} plain starts",
            m["cold_render_s"]["median"] / m["plain_starts_s"]["median"],
            "<=",
            1.0,
            "x",
        ),
        row(
            "cold_render_unforked_vs_plain_starts",
            "the same, fork server off (every child a fresh interpreter)",
            m["cold_render_unforked_s"]["median"] / m["plain_starts_s"]["median"],
            "",
            None,
            "x",
        ),
        row(
            "warm_pool_render_s",
            f"{m['functions']}-function render with a warm pool",
            m["warm_pool_render_s"],
            "<=",
            0.5,
            "s",
        ),
        row(
            "fanout_1000_calls_s",
            f"{m['fanout_calls']} calls across {FANOUT_KERNELS} warm function kernels",
            m["fanout_1000_calls_s"]["median"],
            "<=",
            0.5,
            "s",
        ),
        row(
            "stacktrace_stock_vs_merged",
            "stock stackTrace / merged 3-kernel stackTrace",
            m["dbg_stock_stacktrace_ms"]["median"] / m["dbg_merged_stacktrace_ms"]["median"],
            ">=",
            4.0,
            "x",
        ),
        row(
            "stop_cycle_stock_vs_merged",
            "stock stop cycle / merged 3-kernel stop cycle",
            m["dbg_stock_stop_cycle_ms"]["median"] / m["dbg_merged_stop_cycle_ms"]["median"],
            "",
            None,
            "x",
        ),
        row(
            "debugger_no_trace_before_start",
            "trace function installed in child before the debugger starts",
            m["trace_function_in_child_before_start"],
            "==",
            False,
        ),
        row(
            "debugger_never_started_call",
            "never-started call / baseline call (no debugger), per-round median",
            m["dbg_never_vs_session"],
            "<=",
            1.1,
            "x",
        ),
        row(
            "debugger_started_call",
            "call with debugger started in callee / never started",
            started_vs_never(m),
            "",
            None,
            "x",
        ),
    ]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return f"{text}{' ' + unit if unit and unit != 'x' else unit}"
    return f"{value}{unit}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _stat_row(label: str, s: dict[str, float], unit: str) -> list[str]:
    return [
        label,
        _fmt(s["median"], unit),
        _fmt(s["p99"], unit) if s["n"] >= 100 else "-",
        f"{_fmt(s['min'])}-{_fmt(s['max'])}",
        str(s["n"]),
    ]


def render_report(result: dict[str, Any]) -> str:
    m = result["measurements"]
    mach = result["machine"]
    lines = [
        f"metakernel-dbg bench ({'quick' if result['quick'] else 'full'}) - "
        f"{mach['cores']} cores, {mach['cpu_model']}, Python {mach['python']}, "
        f"ipykernel {mach['versions'].get('ipykernel', '?')}, transport ipc",
        "",
        "Headline (ratios against baselines measured in this run):",
        _table(
            ["measurement", "value", "target", "status"],
            [
                [
                    r["label"],
                    _fmt(r["value"], r["unit"]),
                    "-" if r["target"] is None else f"{r['op']} {_fmt(r['target'], r['unit'])}",
                    r["status"],
                ]
                for r in result["ratios"]
            ],
        ),
        "",
        "Absolute (secondary; medians move 30-50 % between runs):",
    ]
    big_s, big_l = m["big_arg_small_ms"], m["big_arg_large_ms"]
    rows = [
        _stat_row("raw pyzmq DEALER/ROUTER RT, 100 B", m["raw_zmq_rt_us"], "us"),
        _stat_row("raw Unix stream socket RT, 100 B", m["raw_unix_rt_us"], "us"),
        _stat_row("ipykernel execute('pass', silent) RT", m["ipykernel_execute_rt_us"], "us"),
        _stat_row("call A -> B, small JSON args", m["call_us"], "us"),
    ]
    for d in DEPTHS:
        rows.append(_stat_row(f"chain depth {d}: total", m[f"depth{d}_total_us"], "us"))
        rows.append(_stat_row(f"chain depth {d}: per hop", m[f"depth{d}_per_hop_us"], "us"))
    rows += [
        _stat_row(
            f"{m['fanout_calls']} calls over {FANOUT_KERNELS} kernels (1st pass)",
            m["fanout_1000_calls_s"],
            "s",
        ),
        _stat_row(
            f"{m['fanout_calls']} calls over {FANOUT_KERNELS} kernels (2nd pass)",
            m["fanout_1000_calls_steady_s"],
            "s",
        ),
        _stat_row(f"arg of {big_s['bytes'] >> 20} MB A -> B", big_s, "ms"),
        _stat_row(f"arg of {big_l['bytes'] >> 20} MB A -> B", big_l, "ms"),
        _stat_row("pool.acquire() of a warm kernel", m["pool_acquire_ms"], "ms"),
        _stat_row("warm acquisition until defined", m["pool_acquire_ready_ms"], "ms"),
        _stat_row(f"cold render, {m['functions']} functions (no pool)", m["cold_render_s"], "s"),
        _stat_row(
            f"cold render, {m['functions']} functions, fork server off",
            m["cold_render_unforked_s"],
            "s",
        ),
        _stat_row(
            f"{m['functions']} plain ipykernel starts, concurrency {m['start_concurrency']}",
            m["plain_starts_s"],
            "s",
        ),
        [
            f"render, {m['functions']} functions, warm pool",
            _fmt(m["warm_pool_render_s"], "s"),
            "-",
            "-",
            "1",
        ],
        _stat_row("stock ipykernel stackTrace (1 kernel)", m["dbg_stock_stacktrace_ms"], "ms"),
        _stat_row(
            f"merged stackTrace ({m['dbg_merged_kernels']} kernels)",
            m["dbg_merged_stacktrace_ms"],
            "ms",
        ),
        _stat_row(
            "stock stop cycle (stackTrace+scopes+variables)", m["dbg_stock_stop_cycle_ms"], "ms"
        ),
        _stat_row(
            f"merged stop cycle ({m['dbg_merged_kernels']} kernels)",
            m["dbg_merged_stop_cycle_ms"],
            "ms",
        ),
        _stat_row("stepIn -> stopped, outer -> inner kernel", m["dbg_step_in_ms"], "ms"),
        _stat_row("call A -> B, session (no debugger)", m["call_no_debugger_us"], "us"),
        _stat_row(
            "call A -> B, meta-kernel, debugger never started",
            m["call_debugger_never_started_us"],
            "us",
        ),
        _stat_row(
            "call A -> B, session (no debugger), 2nd phase",
            m["call_no_debugger_while_started_us"],
            "us",
        ),
        _stat_row(
            "call A -> B, meta-kernel, debugger started", m["call_debugger_started_us"], "us"
        ),
    ]
    lines.append(_table(["measurement", "median", "p99", "min-max", "n"], rows))
    hot_before, hot_after = m["hot_loop_ns_never_started"], m["hot_loop_ns_started"]
    raw = m["call_debugger_started_us"]["median"] / m["call_debugger_never_started_us"]["median"]
    lines += [
        "",
        "Debugger (callee kernels of the meta-kernel):",
        "  before initialize: trace function installed "
        f"{m['trace_function_in_child_before_start']}; "
        f"debugpy in sys.modules {m['debugpy_in_child_modules']} (ipykernel imports it at "
        f"startup), pydevd in sys.modules {m['pydevd_in_child_modules']}",
        "  after initialize + attach: trace function installed "
        f"{m['trace_function_in_child_after_start']}; hot Python loop "
        f"{_fmt(hot_before, 'ns')}/call -> {_fmt(hot_after, 'ns')}/call "
        f"({_fmt(hot_after / hot_before, 'x')})",
        f"  call A -> B started / never started: {_fmt(raw, 'x')} of the medians; "
        f"{_fmt(started_vs_never(m), 'x')} with each phase divided by the session call "
        "interleaved with it (the headline)",
        f"  one-off: initialize {_fmt(m['dbg_stock_initialize_ms'], 'ms')}, attach "
        f"{_fmt(m['dbg_stock_attach_ms'], 'ms')} (stock ipykernel); initialize "
        f"{_fmt(m['dbg_meta_initialize_ms'], 'ms')}, attach {_fmt(m['dbg_meta_attach_ms'], 'ms')}"
        " (meta-kernel: debugpy started in every child)",
        "",
        "Memory:",
        f"  meta side (this process) peak RSS {_fmt(m['meta_peak_rss_mib'], 'MiB')}; "
        f"per child kernel median PSS {_fmt(m['child_pss_median_mib'], 'MiB')}, "
        f"RSS {_fmt(m['child_rss_median_mib'], 'MiB')} "
        f"({m['child_kernels_measured']} kernels)",
    ]
    for note in result["notes"]:
        lines.append(f"Note: {note}")
    lines.append(f"Total bench time {result['elapsed_s']:.1f} s.")
    return "\n".join(lines)


def run(quick: bool, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every measurement; returns the JSON-able result."""
    log = log or (lambda text: print(f"  {text}", file=sys.stderr, flush=True))
    plan = Plan.make(quick)
    t0 = time.perf_counter()
    machine = machine_info()
    bench = Bench(plan, log)
    try:
        bench.call_plane()
        bench.cold_render()
        bench.warm_pool()
        bench.debugger()
        bench.finish()
    finally:
        bench.close()
    m = bench.m
    result = {
        "quick": quick,
        "machine": {**machine, "load_avg_end": list(os.getloadavg())},
        "plan": plan.__dict__,
        "measurements": m,
        "ratios": ratios(m),
        "notes": bench.notes,
        "elapsed_s": time.perf_counter() - t0,
    }
    return result


def main(quick: bool = False, json_path: str | None = None) -> int:
    try:
        result = run(quick)
    except Exception as exc:  # noqa: BLE001 - a failed bench is reported, not a traceback
        import traceback

        traceback.print_exc()
        print(f"metakernel-dbg bench: failed: {exc}", file=sys.stderr)
        return 1
    print(render_report(result))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, default=str)
    return 0
