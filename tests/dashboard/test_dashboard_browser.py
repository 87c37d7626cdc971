"""The dashboard served by `loyaltylens dashboard` and opened in headless Debian Chromium (Playwright drives it):
every section renders, with charts, and the page logs no error.

Needs /usr/bin/chromium (Debian: ``apt-get install -y --no-install-recommends chromium``); Playwright's own
browser download is never used. Set LOYALTYLENS_DASHBOARD_SCREENSHOT to a path to keep the screenshot
(docs/dashboard.png is made that way).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} not healthy after {timeout_s} s")


@pytest.fixture
def served_dashboard(populated_settings, metrics_server: str, tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "LOYALTYLENS_DATA_DIR": str(populated_settings.data_dir),
        "LOYALTYLENS_DASHBOARD_METRICS_URL": metrics_server,
    }
    # `loyaltylens dashboard` as users start it (it runs streamlit as its child: one process group to stop)
    command = [sys.executable, "-c", "from loyaltylens.cli import main; main()", "dashboard", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_dashboard_renders_in_chromium_without_errors(served_dashboard: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 4200})
            page.set_default_timeout(120_000)  # the 2-core CI machine is often shared: waits are generous, not timed
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.goto(served_dashboard, wait_until="domcontentloaded")
            page.get_by_text("Per-stage latency").wait_for()
            # the script has run to the end; wait until it is no longer running and charts are drawn
            page.wait_for_selector("[data-testid='stStatusWidget']", state="detached")
            page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 6")
            headers = page.locator("h2").all_inner_texts()
            exceptions = page.locator("[data-testid='stException']").count()
            errors = page.locator("[data-testid='stAlertContentError']").all_inner_texts()
            shot = Path(os.environ.get("LOYALTYLENS_DASHBOARD_SCREENSHOT", tmp_path / "dashboard.png"))
            page.screenshot(path=str(shot))  # the app scrolls inside its own container: a tall viewport shows it all
        finally:
            browser.close()
    assert exceptions == 0 and errors == [], errors
    assert problems == [], problems
    for section in ("Registry", "Policy value", "Eval runs", "Feature drift", "Campaign effects", "Per-stage latency"):
        assert any(h.startswith(section) for h in headers), (section, headers)
    assert shot.stat().st_size > 20_000
