"""Install the ``metakernel_dbg`` kernelspec for Jupyter.

Mirrors :mod:`ipykernel.kernelspec`: the spec directory (``kernel.json`` plus
logos, shipped as package data in ``metakernel_dbg/resources``) is staged in a
temporary directory with ``argv[0]`` rewritten to :data:`sys.executable`, then
handed to :meth:`jupyter_client.kernelspec.KernelSpecManager.install_kernel_spec`.

Flag semantics (same as ``python -m ipykernel install``):

``--user``
    install into the per-user Jupyter data dir (``~/.local/share/jupyter``);
``--sys-prefix``
    install into ``sys.prefix/share/jupyter`` (shorthand for ``--prefix sys.prefix``);
``--prefix P``
    install into ``P/share/jupyter``;
(none of these)
    system-wide install (``/usr/local/share/jupyter`` or similar);
``--name``
    kernelspec directory name (default ``metakernel_dbg``);
``--display-name``
    display name; defaults to the name given with ``--name`` when that differs
    from the default, otherwise to the value in the shipped ``kernel.json``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

KERNEL_NAME = "metakernel_dbg"

#: Directory holding the shipped kernel.json and logos (package data).
RESOURCES = Path(__file__).parent / "resources"


def get_kernel_dict(display_name: str | None = None) -> dict[str, Any]:
    """Return the kernel.json contents with ``argv[0]`` set to this interpreter."""
    with open(RESOURCES / "kernel.json", encoding="utf-8") as f:
        spec = json.load(f)
    spec["argv"] = [sys.executable, *spec["argv"][1:]]
    if display_name:
        spec["display_name"] = display_name
    return spec


def write_kernel_spec(
    path: str | os.PathLike | None = None, display_name: str | None = None
) -> str:
    """Write a kernelspec directory (kernel.json + logos) to ``path``.

    If ``path`` is None a temporary directory is created. Returns the path.
    """
    if path is None:
        path = Path(tempfile.mkdtemp(suffix="_kernels")) / KERNEL_NAME
    path = Path(path)
    shutil.copytree(RESOURCES, path)
    # package data may be installed read-only; make sure we can overwrite kernel.json
    mode = path.stat().st_mode
    if not mode & stat.S_IWUSR:
        path.chmod(mode | stat.S_IWUSR)
    kernel_json = path / "kernel.json"
    if kernel_json.exists():
        kernel_json.chmod(kernel_json.stat().st_mode | stat.S_IWUSR)
    with open(kernel_json, "w", encoding="utf-8") as f:
        json.dump(get_kernel_dict(display_name), f, indent=1)
    return str(path)


def install(
    user: bool = False,
    prefix: str | None = None,
    sys_prefix: bool = False,
    kernel_name: str = KERNEL_NAME,
    display_name: str | None = None,
    kernel_spec_manager: KernelSpecManager | None = None,
) -> str:
    """Install the metakernel_dbg kernelspec and return the directory it was written to.

    ``user``, ``prefix`` and ``sys_prefix`` are mutually exclusive (``sys_prefix``
    means ``prefix=sys.prefix``); with none of them the install is system-wide.
    """
    if kernel_name != KERNEL_NAME and display_name is None:
        display_name = kernel_name
    return install_spec(
        lambda path: write_kernel_spec(path, display_name=display_name),
        kernel_name,
        user=user,
        prefix=prefix,
        sys_prefix=sys_prefix,
        kernel_spec_manager=kernel_spec_manager,
    )


def install_spec(
    write: Callable[[Path], Any],
    kernel_name: str,
    *,
    user: bool = False,
    prefix: str | None = None,
    sys_prefix: bool = False,
    kernel_spec_manager: KernelSpecManager | None = None,
) -> str:
    """Install the kernelspec directory `write(path)` makes; the directory it went to."""
    if sys_prefix:
        if prefix is not None and os.path.abspath(prefix) != os.path.abspath(sys.prefix):
            raise ValueError("Can't specify both prefix and sys_prefix")
        prefix = sys.prefix
    if user and prefix is not None:
        raise ValueError("Can't specify both user and prefix. Please choose one or the other.")
    if kernel_spec_manager is None:
        kernel_spec_manager = KernelSpecManager()

    tmp = tempfile.mkdtemp(suffix="_kernels")
    try:
        path = Path(tmp) / kernel_name
        write(path)
        dest = kernel_spec_manager.install_kernel_spec(
            str(path), kernel_name=kernel_name, user=user, prefix=prefix
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def add_install_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``install`` options (``--user``, ``--sys-prefix``, ``--prefix``,
    ``--name``, ``--display-name``) to ``parser`` and return it."""
    add_location_arguments(parser)
    parser.add_argument(
        "--name",
        type=str,
        default=KERNEL_NAME,
        help=f"Specify a name for the kernelspec (default: {KERNEL_NAME}).",
    )
    parser.add_argument(
        "--display-name",
        type=str,
        default=None,
        dest="display_name",
        help="Specify the display name for the kernelspec.",
    )
    return parser


def add_location_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a kernelspec goes: ``--user``, ``--sys-prefix``, ``--prefix`` (or system-wide)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--user",
        action="store_true",
        help="Install for the current user instead of system-wide",
    )
    where.add_argument(
        "--sys-prefix",
        action="store_true",
        dest="sys_prefix",
        help=f"Install to Python's sys.prefix. Shorthand for --prefix='{sys.prefix}'."
        " For use in conda/virtual-envs.",
    )
    where.add_argument(
        "--prefix",
        type=str,
        default=None,
        help="Specify an install prefix for the kernelspec (installs into PREFIX/share/jupyter).",
    )


def install_from_args(args: argparse.Namespace, installer: Callable[..., str] | None = None) -> str:
    """Run `installer` (default :func:`install`) with the location of a namespace produced by
    :func:`add_install_arguments`, and its name and display name.

    Returns the install path; does not print it (the caller prints
    ``Installed kernelspec NAME in PATH``). On a permission error prints a hint
    to stderr and raises ``SystemExit(1)``.
    """
    user = getattr(args, "user", False)
    try:
        return (installer or install)(
            user=user,
            prefix=getattr(args, "prefix", None),
            sys_prefix=getattr(args, "sys_prefix", False),
            kernel_name=getattr(args, "name", KERNEL_NAME),
            display_name=getattr(args, "display_name", None),
        )
    except OSError as e:
        if e.errno == errno.EACCES:
            print(e, file=sys.stderr)
            if not user:
                print("Perhaps you want `sudo` or `--user`?", file=sys.stderr)
            raise SystemExit(1) from e
        raise


def main(argv: list[str] | None = None) -> None:
    """Standalone entry point: ``python -m metakernel_dbg.kernelspec [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m metakernel_dbg.kernelspec",
        description="Install the metakernel_dbg kernel spec.",
    )
    add_install_arguments(parser)
    args = parser.parse_args(argv)
    dest = install_from_args(args)
    print(f"Installed kernelspec {args.name} in {dest}")


if __name__ == "__main__":
    main()
