"""`metakernel-dbg` (also `python -m metakernel_dbg`): install, run, render, bench.

Exit codes of `run`: 0 success (JSON result on stdout), 1 the render failed (merged trace
on stderr, JSON trace written if asked), 2 bad usage (one-line message on stderr).
`render` renders a batch (see batch/command.py), with the same exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .batch import command as batch
from .kernel import install as kernelspec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metakernel-dbg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="install the kernelspec")
    kernelspec.add_install_arguments(install)
    install.add_argument(
        "--js",
        action="store_true",
        help="also install JavaScript function kernels (tslab with npm, kernelspec "
        "metakernel_dbg_js); needs node and npm",
    )
    run = sub.add_parser("run", help="call FUNCTION from a function directory")
    run.add_argument("directory", help="function directory (NAME.py defines def NAME)")
    run.add_argument("function")
    run.add_argument("args", nargs="*", metavar="ARG_JSON", help="arguments as JSON values")
    run.add_argument("--trace-json", metavar="PATH", help="write the JSON trace on failure")
    run.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="format of the trace printed on stderr",
    )
    run.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a call may take (0: no timeout)"
    )
    batch.add_arguments(sub.add_parser("render", help="render a batch of inputs (JSON lines)"))
    remote = sub.add_parser(
        "remote-spec", help="install a kernelspec whose kernels run on other hosts (SSH)"
    )
    remote.add_argument("name", help="kernelspec name (%%%%function f --kernel NAME)")
    remote.add_argument(
        "--host", action="append", dest="hosts", required=True, help="a host (repeatable)"
    )
    remote.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter on the hosts, by absolute path (default: this one's path)",
    )
    remote.add_argument("--display-name", default=None)
    remote.add_argument(
        "--launch-timeout", type=int, default=30, help="seconds a kernel may take to start"
    )
    remote.add_argument(
        "--bootstrap-timeout",
        type=float,
        default=60.0,
        help="seconds after which a kernel nobody bootstrapped ends itself",
    )
    remote.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="kernel environment"
    )
    kernelspec.add_location_arguments(remote)
    bench = sub.add_parser("bench", help="measure the call plane against in-run baselines")
    bench.add_argument("--quick", action="store_true", help="few iterations (a smoke run)")
    bench.add_argument("--json", metavar="PATH", help="write the results as JSON")
    diff = sub.add_parser(
        "difftest", help="the debugger against stock ipykernel + debugpy, program by program"
    )
    diff.add_argument("--examples", type=int, default=0, help="generated programs to run")
    diff.add_argument("--seed", type=int, default=0, help="seed of the generated programs")
    diff.add_argument("--no-corpus", action="store_true", help="generated programs only")
    return parser


def _usage_error(message: str) -> int:
    print(f"metakernel-dbg: error: {message}", file=sys.stderr)
    return 2


def run(ns: argparse.Namespace) -> int:
    """Load a function directory, call one function, report the result or the trace."""
    from .engine.functions import DefinitionError, load_directory
    from .session import RenderError, Session

    try:
        names = [f.name for f in load_directory(ns.directory)]
    except DefinitionError as exc:
        return _usage_error(str(exc))
    if ns.function not in names:
        return _usage_error(f"unknown function {ns.function!r} (known: {', '.join(names)})")
    args: list[Any] = []
    for raw in ns.args:
        try:
            args.append(json.loads(raw))
        except ValueError:
            return _usage_error(f"argument is not valid JSON: {raw}")
    timeout = ns.timeout or None
    with Session(stdout=sys.stderr, call_timeout=timeout) as session:
        session.load_directory(ns.directory)
        try:
            result = session.call(ns.function, *args)
        except RenderError as exc:
            trace = exc.trace
            if ns.trace_json:
                with open(ns.trace_json, "w", encoding="utf-8") as f:
                    f.write(trace.to_json())
            color = ns.format == "text" and sys.stderr.isatty()
            print(
                trace.to_json() if ns.format == "json" else trace.to_text(color=color),
                file=sys.stderr,
            )
            return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


def install_js(ns: argparse.Namespace) -> int:
    """The `metakernel_dbg_js` kernelspec and its npm packages (`install --js`)."""
    from .runtimes.js import KERNEL_NAME
    from .runtimes.js.install import JsInstallError, install

    try:
        dest = install(user=ns.user, prefix=ns.prefix, sys_prefix=ns.sys_prefix)
    except JsInstallError as exc:
        print(f"metakernel-dbg: error: {exc}", file=sys.stderr)
        return 1
    print(f"Installed kernelspec {KERNEL_NAME} in {dest}")
    return 0


def remote_spec(ns: argparse.Namespace) -> int:
    """Install a kernelspec whose kernels the metakernel-dbg-ssh provisioner starts."""
    from functools import partial

    from .launch.remotespec import install_remote_spec

    env = dict(item.partition("=")[::2] for item in ns.env)
    if not all(env) or any("=" not in item for item in ns.env):
        return _usage_error("--env takes NAME=VALUE")
    installer = partial(
        install_remote_spec,
        hosts=ns.hosts,
        python=ns.python,
        launch_timeout=ns.launch_timeout,
        bootstrap_timeout=ns.bootstrap_timeout,
        env=env,
    )
    try:
        dest = kernelspec.install_from_args(ns, installer)
    except ValueError as exc:
        return _usage_error(str(exc))
    print(f"Installed kernelspec {ns.name} in {dest} (kernels on {', '.join(ns.hosts)})")
    return 0


def main(argv: list[str] | None = None) -> None:
    ns = _parser().parse_args(argv)
    if ns.command == "install":
        dest = kernelspec.install_from_args(ns)
        print(f"Installed kernelspec {ns.name} in {dest}")
        code = install_js(ns) if ns.js else 0
    elif ns.command == "remote-spec":
        code = remote_spec(ns)
    elif ns.command == "run":
        code = run(ns)
    elif ns.command == "render":
        code = batch.main(ns)
    elif ns.command == "difftest":
        from .difftest.run import run_and_report

        code = run_and_report(ns.examples, ns.seed, not ns.no_corpus)
    else:
        from .bench import run as bench

        code = bench.main(quick=ns.quick, json_path=ns.json)
    sys.exit(code)
