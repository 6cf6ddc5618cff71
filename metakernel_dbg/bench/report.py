"""The report: headline ratios with their targets, absolute tables, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import psutil
import zmq

from .renders import FARM_SLOTS, FARM_THREADS, FARM_WORKERS
from .stats import DEPTHS, FANOUT_KERNELS


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


def _python(m: dict[str, Any]) -> str:
    return str(m.get("python", "")) or sys.version.split()[0]


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
    rows = [
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
            "<=",
            1.5,
            "x",
        ),
        row(
            "debugger_started_hot_loop",
            f"hot Python loop in a callee, debugger started / never (Python {_python(m)})",
            m["hot_loop_ns_started"] / m["hot_loop_ns_never_started"],
            "<=",
            1.5,
            "x",
        ),
        *(
            row(
                f"step_{kind}_vs_stock",
                f"{kind} -> stopped across kernels / the same step in one stock kernel",
                m[f"dbg_step_meta_{kind}_ms"]["median"] / m[f"dbg_step_stock_{kind}_ms"]["median"],
                "<=",
                1.0,
                "x",
            )
            for kind in ("stepIn", "next", "stepOut")
        ),
        row(
            "step_across_kernels_ms",
            "median step -> stopped across kernels (moonshot: 20 ms)",
            max(m[f"dbg_step_meta_{kind}_ms"]["median"] for kind in ("stepIn", "next", "stepOut")),
            "",
            None,
            "ms",
        ),
        row(
            "call_py_js_vs_py_py",
            "call Python -> JS / Python -> Python, per-round median",
            m["lang_call_py_js_vs_py_py"],
            "<=",
            2.0,
            "x",
        ),
        row(
            "call_js_py_vs_py_py",
            "call JS -> Python / Python -> Python, per-round median",
            m["lang_call_js_py_vs_py_py"],
            "<=",
            2.0,
            "x",
        ),
        row(
            "call_js_js_vs_py_py",
            "call JS -> JS / Python -> Python, per-round median",
            m["lang_call_js_js_vs_py_py"],
            "",
            None,
            "x",
        ),
        row(
            "stacktrace_js_level_vs_python",
            "merged stackTrace with a JS level / all-Python (3 kernels each)",
            m["lang_stacktrace_js_ms"]["median"] / m["lang_stacktrace_python_ms"]["median"],
            "",
            None,
            "x",
        ),
        row(
            "first_stacktrace_js_level_vs_python",
            "the same, first stackTrace of a stop (holds the JS caller)",
            m["lang_stacktrace_first_js_ms"]["median"]
            / m["lang_stacktrace_first_python_ms"]["median"],
            "",
            None,
            "x",
        ),
    ]
    if "renders_per_s" not in m:
        return rows + _remote_rows(m, row)  # no example found (see the notes)
    rate = m["renders_per_s"]
    for level, op, target in (("2", "", None), ("4", ">=", 1.5), ("8", "", None)):
        rows.append(
            row(
                f"renders_c{level}_vs_c1",
                f"renders/s of the example, concurrency {level} / concurrency 1",
                rate[level] / rate["1"],
                op,
                target,
                "x",
            )
        )
    rows += [
        row(
            "farm_vs_local",
            f"renders/s, LocalCluster of {FARM_WORKERS} workers x {FARM_THREADS} threads / "
            f"one engine at concurrency {FARM_SLOTS} (alternating batches)",
            m["farm_renders_per_s"] / m["farm_local_renders_per_s"],
            "",
            None,
            "x",
        ),
        row(
            "farm_overhead_ms",
            "farm overhead per render over the local engine (batch wall time / renders)",
            m["farm_overhead_ms"],
            "<=",
            5.0,
            "ms",
        ),
        row(
            "farm_latency_overhead_ms",
            "one render's latency, farm - local engine (median of pairs)",
            m["farm_latency_overhead_ms"],
            "",
            None,
            "ms",
        ),
        row(
            "farm_latency_vs_dask_noop",
            "the same / a no-op Dask task's round trip (Dask's own floor)",
            m["farm_latency_overhead_ms"] / m["dask_noop_task_ms"]["median"],
            "",
            None,
            "x",
        ),
    ]
    return rows + _remote_rows(m, row)


def _remote_rows(m: dict[str, Any], row: Callable[..., dict]) -> list[dict[str, Any]]:
    """Kernels on another host (bench/remote.py), when the emulated hosts could be made."""
    if "remote_call_us" not in m:
        return []
    return [
        row(
            "remote_call_vs_raw_zmq",
            "call A -> B (other host) / ZMQ RT on the same link, per-round median",
            m["remote_call_vs_raw_zmq"],
            "",
            None,
            "x",
        ),
        row(
            "remote_call_vs_raw_tcp",
            "call A -> B (other host) / raw TCP RT on the same link",
            m["remote_call_vs_raw_tcp"],
            "",
            None,
            "x",
        ),
        row(
            "remote_pooled_start_ms",
            "remote kernel from the warm pool until its function is defined",
            m["remote_pooled_start_ms"]["median"],
            "<=",
            100.0,
            "ms",
        ),
        row(
            "gp_loop_lag_fixed_ms",
            f"event loop lag with GP's ResponseManager (as shipped: "
            f"{m['gp_loop_lag_shipped_ms']:.2g} ms)",
            m["gp_loop_lag_fixed_ms"],
            "<=",
            1.0,
            "ms",
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


def _remote_stat_rows(m: dict[str, Any]) -> list[list[str]]:
    if "remote_call_us" not in m:
        return []
    return [
        _stat_row("link A -> B: raw TCP RT, 100 B", m["remote_raw_tcp_rt_us"], "us"),
        _stat_row("link A -> B: ZMQ DEALER/ROUTER RT, 100 B", m["remote_raw_zmq_rt_us"], "us"),
        _stat_row("link A -> B: ZMQ + CurveZMQ RT, 100 B", m["remote_curve_zmq_rt_us"], "us"),
        _stat_row("call A -> B, kernel on another host (linked)", m["remote_call_us"], "us"),
        _stat_row("remote kernel start, cold (until defined)", m["remote_cold_start_s"], "s"),
        _stat_row("remote kernel start, warm pool", m["remote_pooled_start_ms"], "ms"),
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
        *(
            _stat_row(f"{kind} -> stopped, {where}", m[f"dbg_step_{who}_{kind}_ms"], "ms")
            for kind in ("stepIn", "next", "stepOut")
            for who, where in (("stock", "one stock kernel"), ("meta", "across kernels"))
        ),
        *_remote_stat_rows(m),
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
        _stat_row("call Python -> Python", m["lang_call_py_py_us"], "us"),
        _stat_row("call Python -> JS", m["lang_call_py_js_us"], "us"),
        _stat_row("call JS -> Python", m["lang_call_js_py_us"], "us"),
        _stat_row("call JS -> JS", m["lang_call_js_js_us"], "us"),
        _stat_row("merged stackTrace, all Python", m["lang_stacktrace_python_ms"], "ms"),
        _stat_row("merged stackTrace, a JS level", m["lang_stacktrace_js_ms"], "ms"),
        _stat_row(
            "first stackTrace of a stop, all Python", m["lang_stacktrace_first_python_ms"], "ms"
        ),
        _stat_row("first stackTrace of a stop, a JS level", m["lang_stacktrace_first_js_ms"], "ms"),
    ]
    if "renders_per_s" in m:
        per_level = m["renders_measured_per_level"]
        rows += [
            [f"renders/s of the example, concurrency {c}", _fmt(r), "-", "-", str(per_level)]
            for c, r in m["renders_per_s"].items()
        ]
        rows += [
            [
                f"renders/s, LocalCluster {FARM_WORKERS} workers x {FARM_THREADS} threads",
                _fmt(m["farm_renders_per_s"]),
                "-",
                "-",
                "-",
            ],
            [
                f"renders/s, one engine at concurrency {FARM_SLOTS}, alternating with it",
                _fmt(m["farm_local_renders_per_s"]),
                "-",
                "-",
                "-",
            ],
            _stat_row("one render, local engine", m["render_local_ms"], "ms"),
            _stat_row("one render, through the farm", m["render_farm_ms"], "ms"),
            _stat_row("no-op Dask task round trip", m["dask_noop_task_ms"], "ms"),
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
