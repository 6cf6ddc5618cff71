"""Tests for installing the metakernel_dbg kernelspec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metakernel_dbg.kernel import install as kernelspec

REPO = Path(__file__).resolve().parent.parent
HAS_CLI = (REPO / "metakernel_dbg" / "cli.py").exists()


def check_spec_dir(path: Path, name: str = "metakernel_dbg", display_name: str | None = None):
    assert path.name == name
    spec = json.loads((path / "kernel.json").read_text(encoding="utf-8"))
    assert spec["argv"] == [
        sys.executable,
        "-m",
        "metakernel_dbg.kernelapp",
        "-f",
        "{connection_file}",
    ]
    assert spec["display_name"] == (display_name or "Python (meta-kernel debugger)")
    assert spec["language"] == "python"
    assert spec["metadata"]["debugger"] is True
    assert spec["interrupt_mode"] == "message"
    for size in (32, 64):
        logo = (path / f"logo-{size}x{size}.png").read_bytes()
        assert logo[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(logo[16:20], "big") == size  # IHDR width
        assert int.from_bytes(logo[20:24], "big") == size  # IHDR height
    return spec


def jupyter_kernelspecs(prefix: Path) -> dict:
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"))
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)["kernelspecs"]


def test_repo_kernelspec_matches_package_resources():
    for name in ("kernel.json", "logo-32x32.png", "logo-64x64.png"):
        assert (REPO / "kernelspec" / name).read_bytes() == (
            kernelspec.RESOURCES / name
        ).read_bytes()
    spec = json.loads((REPO / "kernelspec" / "kernel.json").read_text())
    assert spec["argv"][0] == "python"


def test_install_function(tmp_path):
    dest = Path(kernelspec.install(prefix=str(tmp_path)))
    assert dest == tmp_path / "share" / "jupyter" / "kernels" / "metakernel_dbg"
    check_spec_dir(dest)
    specs = jupyter_kernelspecs(tmp_path)
    assert "metakernel_dbg" in specs
    assert Path(specs["metakernel_dbg"]["resource_dir"]) == dest
    listed = specs["metakernel_dbg"]["spec"]
    assert listed["display_name"] == "Python (meta-kernel debugger)"
    assert listed["metadata"]["debugger"] is True
    assert listed["argv"][0] == sys.executable


def test_install_from_args_name_and_display_name(tmp_path):
    import argparse

    parser = kernelspec.add_install_arguments(argparse.ArgumentParser())
    ns = parser.parse_args(["--prefix", str(tmp_path), "--name", "mkd-test"])
    dest = Path(kernelspec.install_from_args(ns))
    # like ipykernel: a non-default --name also becomes the display name
    check_spec_dir(dest, name="mkd-test", display_name="mkd-test")

    ns = parser.parse_args(
        ["--prefix", str(tmp_path), "--name", "mkd-test2", "--display-name", "Meta Debug"]
    )
    dest = Path(kernelspec.install_from_args(ns))
    check_spec_dir(dest, name="mkd-test2", display_name="Meta Debug")
    assert {"mkd-test", "mkd-test2"} <= set(jupyter_kernelspecs(tmp_path))


def test_install_argument_parsing():
    import argparse

    parser = kernelspec.add_install_arguments(argparse.ArgumentParser())
    ns = parser.parse_args([])
    assert (ns.user, ns.sys_prefix, ns.prefix, ns.name, ns.display_name) == (
        False,
        False,
        None,
        "metakernel_dbg",
        None,
    )
    assert parser.parse_args(["--sys-prefix"]).sys_prefix is True
    assert parser.parse_args(["--user"]).user is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--user", "--prefix", "/tmp/x"])
    with pytest.raises(ValueError):
        kernelspec.install(user=True, prefix="/tmp/x")


def test_install_sys_prefix(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    dest = Path(kernelspec.install(sys_prefix=True))
    assert dest == tmp_path / "share" / "jupyter" / "kernels" / "metakernel_dbg"
    check_spec_dir(dest)


@pytest.mark.skipif(not HAS_CLI, reason="metakernel_dbg/cli.py not written yet")
def test_install_cli(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-m", "metakernel_dbg", "install", "--prefix", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    dest = tmp_path / "share" / "jupyter" / "kernels" / "metakernel_dbg"
    assert f"Installed kernelspec metakernel_dbg in {dest}" in out.stdout
    check_spec_dir(dest)
    assert "metakernel_dbg" in jupyter_kernelspecs(tmp_path)


# --------------------------------------------------------------------------- JavaScript


def test_js_kernelspec_preloads_the_runtime_from_the_environment():
    from jupyter_client.kernelspec import KernelSpecManager

    from metakernel_dbg.runtimes.js import RUNTIME

    spec = KernelSpecManager().get_kernel_spec("metakernel_dbg_js")
    node, preload, runtime, tslab, *rest = spec.argv
    assert os.path.isabs(node) and os.path.basename(node) == "node"
    assert (preload, runtime) == ("-r", RUNTIME)
    assert tslab.endswith("/node_modules/tslab/bin/tslab") and os.path.exists(tslab)
    assert rest == ["kernel", "--config-path", "{connection_file}", "--js"]
    assert spec.language == "javascript" and spec.interrupt_mode == "signal"
    modules = Path(spec.env["MKDBG_JS_MODULES"])
    assert (modules / "zeromq" / "package.json").exists()
    assert Path(sys.prefix) in modules.parents, "installed into the environment, not globally"


def test_install_js_without_node_is_a_clear_error(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "metakernel_dbg", "install", "--prefix", str(tmp_path)]
    out = subprocess.run([*command, "--js"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "node and npm not found on PATH" in out.stderr
    assert "Node.js 20 or newer" in out.stderr
    assert not (tmp_path / "share" / "jupyter" / "kernels" / "metakernel_dbg_js").exists()


def test_setup_fails_clearly_without_node(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dirname").symlink_to(shutil.which("dirname"))
    out = subprocess.run(
        ["/bin/bash", str(REPO / "examples" / "setup.sh")],
        env={"PATH": str(tools), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "setup: node not found on PATH" in out.stderr and "npm" in out.stderr
