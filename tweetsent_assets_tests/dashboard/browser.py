"""The dashboard tests' browser: the real Streamlit app on a free port, a headless Chromium and a DevTools client."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tweetsent_assets.lib.lake.services import end_process

from ..support import PROJECT_ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"Debian's chromium is not installed ({CHROMIUM} missing)")


@contextmanager
def streamlit_app(lake_root: str, uri: str, data_dir: Path):
    """`dashboard/app.py` served on a free port (refreshing every 2 s), stopped on exit; yields its URL."""
    port = free_port()
    env = {**os.environ, "TWEETSENT_LAKE_ROOT": lake_root, "MLFLOW_TRACKING_URI": uri,
           "TWEETSENT_DATA_DIR": str(data_dir), "TWEETSENT_DASHBOARD_REFRESH_S": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/_stcore/health") == "ok", 120, "streamlit health")
        yield f"http://127.0.0.1:{port}/"
    finally:
        end_process(process)


@contextmanager
def chromium(profile: Path):
    """A headless Chromium with its DevTools on a free port, stopped on exit; yields its first page's websocket."""
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        wait_for(lambda: port_file.exists() and port_file.read_text().strip(), 60, "chromium DevTools port")
        port = int(port_file.read_text().split()[0])
        targets = json.loads(_get(f"http://127.0.0.1:{port}/json/list"))
        yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    finally:
        end_process(process)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str):
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=None, open_timeout=30)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception:
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def navigate(tools: DevTools, url: str) -> None:
    """Load `url` in the page at 1400x1000."""
    tools.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)
    tools.call("Page.enable")
    tools.call("Page.navigate", url=url)


def open_tab(page_ws_url: str) -> DevTools:
    """A second tab (its own Streamlit session) in the browser that owns page `page_ws_url`."""
    port = page_ws_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        return DevTools(json.loads(response.read())["webSocketDebuggerUrl"])


def click_button(tools: DevTools, text: str) -> None:
    """Click the page's button whose caption is `text`, waiting up to 30 s for it to be there."""
    find = f"[...document.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(text)})"
    wait_for(lambda: tools.evaluate(f"(() => {{ const b = {find}; if (b) b.click(); return !!b; }})()"), 30,
             f"a button {text!r} to click")


def screenshot(tools: DevTools, path: Path, height: int) -> Path:
    """A PNG of the whole page, `height` pixels tall, taken once no element is faded by a re-run."""
    tools.call("Emulation.setDeviceMetricsOverride", width=1400, height=height, deviceScaleFactor=1, mobile=False)
    wait_for(lambda: tools.evaluate('document.querySelectorAll(\'[data-stale="true"]\').length') == 0, 30,
             "a settled page (no element faded while the script re-runs)")
    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path
