"""E: kernels on another host, over the link between two emulated hosts.

The rows: a call A -> B (a kernel on host A calling a function whose kernel runs on host B,
linked over Curve TCP after the first call) against the floors of the same link, measured
in the same rounds: raw TCP, ZMQ, ZMQ + CurveZMQ echo round trips from A to servers on B;
remote kernel starts, cold (SSH launch, interpreter start, bootstrap, definition) and
pooled (a warm kernel on B until its function is defined); and the event-loop lag that
gateway_provisioners' ResponseManager causes as shipped, against the lag once fixed
(`launch/remote.py`, pitfall 1).

The hosts are the emulated hosts of the source tree (`tests/hosts`: network, mount and PID
namespaces, sshd on B), made for this measurement and removed after it. That needs root
(CAP_NET_ADMIN) and a source checkout; otherwise these rows are skipped, with the reason.
Everything is measured inside host A by `python -m metakernel_dbg.bench.remote CONFIG`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import zmq

from .baselines import _ECHO_SERVER, _STREAM_ECHO_SERVER, RawUnix, RawZmq, serve
from .programs import A_FN, B_FN
from .stats import SMALL_ARG, BenchRun, summary

HOSTS_DIR = Path(__file__).resolve().parents[2] / "tests" / "hosts"
SPEC = "remote_b"
ZMQ_PORT, CURVE_PORT, TCP_PORT = 5601, 5602, 5603  # on B: a namespace of its own
_LAG = """
import asyncio, json, statistics, time
from metakernel_dbg.launch.remote import fix_response_manager
from gateway_provisioners.response_manager import ResponseManager

async def lag(seconds=0.5):
    late, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        late.append(time.perf_counter() - t0 - 0.001)
    return statistics.median(late) * 1000

async def main():
    ResponseManager.instance()  # as a provisioner makes it, on this loop
    shipped = await lag()
    fix_response_manager()
    print(json.dumps({"gp_loop_lag_shipped_ms": shipped, "gp_loop_lag_fixed_ms": await lag()}))

asyncio.run(main())
"""


def _hosts_module() -> tuple[Any, str | None]:
    """tests/hosts of the source tree, or the reason it cannot make hosts here."""
    if not (HOSTS_DIR / "__init__.py").exists():
        return None, "needs a source checkout (tests/hosts: the emulated hosts)"
    spec = importlib.util.spec_from_file_location("mkdbg_hosts", HOSTS_DIR / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.unavailable()


def measure(run: BenchRun) -> None:
    hosts_module, reason = _hosts_module()
    if reason:
        run.m["remote_skipped"] = reason
        run.notes.append(f"kernels on another host not measured: {reason}")
        return
    from ..launch.remotespec import install_remote_spec

    run.log("emulated hosts A and B (sshd on B) ...")
    with contextlib.ExitStack() as stack:
        hosts = stack.enter_context(hosts_module.Hosts(("A", "B"), sshd=("B",)))
        prefix = hosts.state / "jupyter"
        install_remote_spec(
            hosts=["B"], python=sys.executable, kernel_name=SPEC, prefix=str(prefix)
        )
        b = hosts.addr("B")
        public, secret = zmq.curve_keypair()
        servers = [
            (_ECHO_SERVER, f"tcp://{b}:{ZMQ_PORT}"),
            (_ECHO_SERVER, f"tcp://{b}:{CURVE_PORT}", secret.decode()),
            (_STREAM_ECHO_SERVER, f"{b}:{TCP_PORT}"),
        ]
        for script, *args in servers:
            proc = serve(script, *args, wrap=lambda argv: hosts.command("B", argv), env=hosts.env)
            stack.callback(_end, proc)
        config = {"b": b, "server_key": public.decode(), "plan": run.plan.__dict__}
        run.log("calls A -> B against the floors of the link, remote kernel starts ...")
        out = hosts.run(
            "A",
            [sys.executable, "-m", "metakernel_dbg.bench.remote", json.dumps(config)],
            env={"JUPYTER_PATH": str(prefix / "share" / "jupyter")},
            timeout=600,
        )
        if out.returncode:
            raise RuntimeError(f"remote bench failed in host A: {out.stderr[-3000:]}")
        run.m.update(json.loads(out.stdout.splitlines()[-1]))


def _end(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def inside_a(config: dict[str, Any]) -> dict[str, Any]:
    """The measurements, in host A (the meta-kernel's host)."""
    from ..session import Session

    b, plan = config["b"], config["plan"]
    quick, rounds, per_round = plan["quick"], plan["rounds"], plan["per_round"]
    m: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        tcp = RawUnix("", tcp=(b, TCP_PORT))
        stack.callback(tcp.close)
        plain = RawZmq("", f"tcp://{b}:{ZMQ_PORT}")
        stack.callback(plain.close)
        curve = RawZmq("", f"tcp://{b}:{CURVE_PORT}", config["server_key"].encode())
        stack.callback(curve.close)
        session = Session(stdout=None, pool_size=0)
        stack.callback(session.close)
        session.__enter__()
        session.define("rb", B_FN.replace("def b(", "def rb("), kernel=SPEC)
        session.define("a", A_FN)
        session.call("a", per_round, SMALL_ARG, callee="rb")  # warm-up, routed then linked
        router = session._core.engine.router
        before = router.linked_calls
        got: dict[str, list[int]] = {"tcp": [], "zmq": [], "curve": [], "call": []}
        per_round_ratios: dict[str, list[float]] = {"tcp": [], "zmq": [], "curve": []}
        variants = list(got)
        for r in range(rounds):
            medians = {}
            for v in variants[r % 4 :] + variants[: r % 4]:
                if v == "call":
                    ns = session.call("a", per_round, SMALL_ARG, callee="rb")
                else:
                    ns = {"tcp": tcp, "zmq": plain, "curve": curve}[v].round_trips(per_round)
                got[v] += ns
                medians[v] = statistics.median(ns)
            for v in per_round_ratios:
                per_round_ratios[v].append(medians["call"] / medians[v])
        m["remote_linked_share"] = (router.linked_calls - before) / (
            rounds * per_round + 5 * rounds
        )
        for v, key in (("tcp", "raw_tcp"), ("zmq", "raw_zmq"), ("curve", "curve_zmq")):
            m[f"remote_{key}_rt_us"] = summary(got[v], 1e3)
            m[f"remote_call_vs_{key}"] = statistics.median(per_round_ratios[v])
        m["remote_call_us"] = summary(got["call"], 1e3)

        starts = 2 if quick else 5
        cold = []
        for i in range(starts):
            t0 = time.perf_counter()
            session.define(f"cold{i}", f"def cold{i}():\n    return {i}\n", kernel=SPEC)
            cold.append(time.perf_counter() - t0)
        m["remote_cold_start_s"] = summary(cold)
    m["remote_pooled_start_ms"] = summary(_pooled_starts(starts), 1e-3)
    lag = subprocess.run([sys.executable, "-c", _LAG], capture_output=True, text=True, timeout=60)
    m.update(json.loads(lag.stdout.splitlines()[-1]))
    return m


def _pooled_starts(n: int) -> list[float]:
    """Seconds from a warm kernel on B to its function defined (the pool refilled, untimed)."""
    from ..session import Session

    session = Session(stdout=None, pool_size=1)
    try:
        session.__enter__()
        engine = session._core.engine
        took = []
        for i in range(n):
            engine.submit(engine.pool.prewarm(SPEC, 1)).result()
            engine.submit(asyncio.sleep(0.2)).result()  # let the start settle
            t0 = time.perf_counter()
            session.define(f"pooled{i}", f"def pooled{i}():\n    return {i}\n", kernel=SPEC)
            took.append(time.perf_counter() - t0)
        return took
    finally:
        session.close()


if __name__ == "__main__":
    print(json.dumps(inside_a(json.loads(sys.argv[1]))))
