"""A: per-call costs of the call plane, interleaved against the raw floors and ipykernel."""

from __future__ import annotations

import contextlib
import statistics

import psutil

from .baselines import PlainKernel, RawUnix, RawZmq
from .programs import A_FN, B_FN, CHAIN_FN, HOP_FN, SINK_FN
from .stats import DEPTHS, FANOUT_KERNELS, SMALL_ARG, BenchRun, summary


def measure(run: BenchRun) -> None:
    from ..session import Session

    plan = run.plan
    run.log("starting the baselines and a session of 14 function kernels ...")
    with contextlib.ExitStack() as stack:
        raw = RawZmq(run.workdir)
        stack.callback(raw.close)
        unix = RawUnix(run.workdir)
        stack.callback(unix.close)
        plain = PlainKernel(run.workdir)
        stack.callback(plain.close)
        session = Session(stdout=None, pool_size=0)
        stack.callback(session.close)
        session.__enter__()
        session.define("b", B_FN)
        session.define("a", A_FN)
        session.define("sink", SINK_FN)
        session.define("hop", HOP_FN.format(depths=DEPTHS, fanout=FANOUT_KERNELS))
        for i in range(1, FANOUT_KERNELS + 1):
            session.define(f"c{i}", CHAIN_FN.format(i=i, j=i + 1))
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
        run.log(f"interleaved rounds: {plan.rounds} x (zmq, execute, call, depth, fanout)")
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
        m = run.m
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

        run.log("large arguments ...")
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

        run.log("memory ...")
        engine = session._core.engine
        pids = [i.child.pid for i in engine.all_instances() if i.child.pid]
        pss, rss = _memory(pids)
        m["child_pss_median_mib"] = statistics.median(pss) if pss else float("nan")
        m["child_rss_median_mib"] = statistics.median(rss) if rss else float("nan")
        m["child_kernels_measured"] = len(rss)


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
