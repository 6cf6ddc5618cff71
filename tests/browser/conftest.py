"""Fixtures for the JupyterLab + Chromium browser tests (see ``lab.py`` for the helpers).

* ``lab_kernelspecs`` -- kernelspec directories to make discoverable (override it in a test
  module, e.g. ``return [REPO / "kernelspec"]``); the venv's ``python3`` is always there.
* ``lab_server`` -- a running, isolated ``jupyter lab`` (:class:`lab.LabServer`); killed with
  all its kernels at teardown.  Log: ``<tmp_path>/lab/jupyter-server.log``.
* ``lab_factory`` -- start more/custom servers: ``lab_factory(kernelspecs=[...], ...)``.
* ``chromium`` (session) -- Debian's /usr/bin/chromium via Playwright, headless.
* ``lab_page`` -- a fresh page (1600x1000) whose kernel websockets are watched; on failure
  a screenshot ``failure.png`` is saved; browser console goes to ``browser-console.log``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import lab


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives real JupyterLab in Chromium via Playwright (slow)"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def require_chromium() -> None:
    """Skip without Chromium -- except under CI, where a missing browser is a failure."""
    if lab.chromium_available():
        return
    message = f"{lab.CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def lab_kernelspecs() -> list[Path]:
    """Extra kernelspec directories for ``lab_server``; override to add e.g. metakernel_dbg."""
    return []


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator[Callable[..., lab.LabServer]]:
    servers: list[lab.LabServer] = []

    def start(**kwargs: Any) -> lab.LabServer:
        workdir = tmp_path / ("lab" if not servers else f"lab{len(servers)}")
        server = lab.start_lab(workdir, **kwargs)
        servers.append(server)
        return server

    yield start
    leftovers = []
    for server in servers:
        leftovers += lab.survivors(server.stop())
    assert not leftovers, f"processes survived server teardown: {leftovers}"


@pytest.fixture
def lab_server(
    lab_factory: Callable[..., lab.LabServer], lab_kernelspecs: list[Path]
) -> lab.LabServer:
    return lab_factory(kernelspecs=lab_kernelspecs)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = lab.launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def lab_page(chromium: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(lab.UI_TIMEOUT)
    page = context.new_page()
    lab.debug_traffic(page)
    console = open(tmp_path / "browser-console.log", "w")  # noqa: SIM115
    page.on("console", lambda msg: console.write(f"[{msg.type}] {msg.text}\n"))
    page.on("pageerror", lambda exc: console.write(f"[pageerror] {exc}\n"))
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                path = lab.shot(page, tmp_path, "failure")
                print(f"\nfailure screenshot: {path}")
            except Exception as exc:  # the page may be gone
                print(f"\ncould not take failure screenshot: {exc}")
            print(f"browser console log: {tmp_path / 'browser-console.log'}")
            print(f"debug traffic (last 20): {lab.debug_traffic(page).log[-20:]}")
            print(f"refused debug requests: {lab.debug_traffic(page).refused}")
        context.close()
        console.close()
