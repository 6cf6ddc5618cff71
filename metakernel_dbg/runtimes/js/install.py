"""Install JavaScript function kernels: tslab's JS kernel (with npm, into the environment)
and the `metakernel_dbg_js` kernelspec, whose argv preloads the runtime into node.

`metakernel-dbg install --js` (examples/setup.sh) runs this. The npm packages (pinned by
`package-lock.json`, installed with `npm ci`) go to `<data>/metakernel_dbg/js`, where
`<data>` is `PREFIX/share` (`--prefix`, `--sys-prefix`), the user's data directory
(`--user`) or the system's: no global npm state, and nothing is compiled or downloaded
besides the packages (zeromq 6 ships prebuilt binaries and loads them even when npm skips
its install script). A second install with the same lock file keeps the packages.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from . import HERE, KERNEL_NAME, RUNTIME

MIN_NODE = 20
_LOCK = "package-lock.json"
_NPM_TIMEOUT = 600


class JsInstallError(RuntimeError):
    """JavaScript kernels cannot be installed here (no node or npm, npm failed)."""


def data_dir(user: bool = False, prefix: str | None = None) -> Path:
    """`share` of the install's prefix, user or system (where Jupyter's own data goes)."""
    from jupyter_core.paths import SYSTEM_JUPYTER_PATH, jupyter_data_dir

    if prefix is not None:
        return Path(prefix) / "share"
    if user:
        return Path(jupyter_data_dir()).parent
    return Path(SYSTEM_JUPYTER_PATH[0]).parent


def find_node() -> tuple[str, str]:
    """Absolute paths of node and npm; JsInstallError says what is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = [name for name, path in (("node", node), ("npm", npm)) if path is None]
    if missing:
        raise JsInstallError(
            f"{' and '.join(missing)} not found on PATH: JavaScript function kernels need "
            f"Node.js {MIN_NODE} or newer with npm (Debian: apt-get install nodejs npm); "
            "install them, or leave out --js"
        )
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)\.", version.strip())
    if not match or int(match.group(1)) < MIN_NODE:
        raise JsInstallError(f"node {version.strip() or '?'} is too old: need {MIN_NODE}+")
    return node, npm


def install_packages(npm: str, target: Path) -> Path:
    """`npm ci` of the pinned packages into `target` (skipped when already there)."""
    target.mkdir(parents=True, exist_ok=True)
    tslab = target / "node_modules" / "tslab" / "bin" / "tslab"
    installed = target / _LOCK
    if tslab.exists() and installed.exists() and filecmp.cmp(installed, Path(HERE) / _LOCK):
        return tslab
    for name in ("package.json", _LOCK):
        shutil.copyfile(Path(HERE) / name, target / name)
    with tempfile.TemporaryDirectory(prefix="mkdbg-npm-") as cache:
        out = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--cache", cache, "--prefix", str(target)],
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT,
        )
    if out.returncode != 0 or not tslab.exists():
        installed.unlink(missing_ok=True)  # a half install is redone next time
        raise JsInstallError(f"npm ci in {target} failed:\n{out.stdout}{out.stderr}")
    return tslab


def kernel_dict(node: str, tslab: Path) -> dict:
    """The kernelspec: node preloads runtime.cjs into tslab's JS kernel."""
    modules = tslab.parents[2]
    return {
        "argv": [
            *(node, "-r", RUNTIME, str(tslab)),
            *("kernel", "--config-path", "{connection_file}", "--js"),
        ],
        "display_name": "JavaScript (metakernel_dbg function kernel)",
        "language": "javascript",
        "interrupt_mode": "signal",
        "env": {"MKDBG_JS_MODULES": str(modules)},
        "metadata": {"metakernel_dbg": {"runtime": "javascript"}},
    }


def install(
    user: bool = False,
    prefix: str | None = None,
    sys_prefix: bool = False,
    kernel_spec_manager: KernelSpecManager | None = None,
) -> str:
    """Install the packages and the `metakernel_dbg_js` kernelspec; returns its directory."""
    if sys_prefix:
        prefix = sys.prefix
    node, npm = find_node()
    tslab = install_packages(npm, data_dir(user, prefix) / "metakernel_dbg" / "js")
    with tempfile.TemporaryDirectory(suffix="_kernels") as tmp:
        spec_dir = os.path.join(tmp, KERNEL_NAME)
        os.makedirs(spec_dir)
        with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
            json.dump(kernel_dict(node, tslab), f, indent=1)
        ksm = kernel_spec_manager or KernelSpecManager()
        return ksm.install_kernel_spec(spec_dir, KERNEL_NAME, user=user, prefix=prefix)
