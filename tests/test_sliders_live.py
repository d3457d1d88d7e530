"""A slider moved in a live JupyterLab, in headless Chromium: the widget renders from a real kernel,
typing a value into its readout reaches the kernel, and the view below it is recomputed.

JupyterLab runs on 127.0.0.1 with the app exposed to the page (``--expose-app-in-browser``), Chromium
is driven through its DevTools protocol (``websocket-client``, a dependency of jupyter_server). Skipped
where no Chromium is installed (the CI machine has one)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from bimix.compendium.site_check import find_chromium
from bimix.paths import REPO_ROOT

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, predicate, timeout=90.0, every=0.25):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


class _Page:
    """One Chromium tab driven over the DevTools protocol: JavaScript evaluated, its value returned."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws, self.n = websocket.create_connection(ws_url, timeout=60, suppress_origin=True), 0

    def js(self, expression: str):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "awaitPromise": True, "returnByValue": True}}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.n:
                result = reply["result"]
                assert "exceptionDetails" not in result, result["exceptionDetails"]
                return result["result"].get("value")


# the sentence the Output widget shows under the sliders (the view's first paragraph)
_SENTENCE = "(() => { const p = document.querySelector('.widget-output p'); return p ? p.textContent : ''; })()"
_PICTURE = "(() => { const i = document.querySelector('.widget-output img'); return i ? i.src : ''; })()"
_READOUT = "(() => { const r = document.querySelector('.widget-readout'); return r ? r.textContent : ''; })()"


def test_moving_notebook_00s_noise_slider_in_jupyterlab_recomputes_the_view(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from bimix.compendium import sliders\n"
                                          "sliders.synthetic_fit_sliders(0.003).widget")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "live.ipynb")
    lab_port, cdp_port = _free_port(), _free_port()
    # JupyterLab's workspaces, settings and runtime files in the test's folder, not the user's home
    home = {name: str(tmp_path / "jupyter" / name) for name in ("JUPYTERLAB_WORKSPACES_DIR", "JUPYTERLAB_SETTINGS_DIR",
                                                                "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                            f"--ServerApp.port={lab_port}", "--IdentityProvider.token=", "--expose-app-in-browser",
                            f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=None",
                            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root"],
                           cwd=REPO_ROOT, env={**os.environ, **home}, stdout=subprocess.DEVNULL,
                           stderr=(tmp_path / "lab.log").open("w"))
    browser = None
    try:
        _wait("JupyterLab", lambda: lab.poll() is None and _get(f"http://127.0.0.1:{lab_port}/api/status")
              or (lab.poll() is not None and pytest.fail((tmp_path / "lab.log").read_text()[-2000:])))
        browser = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                                    f"--remote-debugging-port={cdp_port}", f"--user-data-dir={tmp_path / 'chrome'}",
                                    "--window-size=1400,1000", f"http://127.0.0.1:{lab_port}/lab/tree/live.ipynb"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        targets = _wait("Chromium", lambda: [t for t in json.loads(_get(f"http://127.0.0.1:{cdp_port}/json") or "[]")
                                             if t.get("type") == "page" and "/lab" in t.get("url", "")])
        page = _Page(targets[0]["webSocketDebuggerUrl"])
        _wait("the notebook and its kernel", lambda: page.js(
            "(() => { const a = window.jupyterapp; const w = a && a.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return !!(k && k.status === 'idle'); })()"))
        page.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        before = _wait("the widget's first view", lambda: page.js(_SENTENCE))
        assert before.startswith("Noise 0.3%") and page.js(_READOUT) == "0.003"
        picture = page.js(_PICTURE)
        assert len(picture) > 1000  # the view's figure, a PNG data URL
        # type 0.040 into the noise slider's readout and press Enter, as a reader does
        page.js("(() => { const r = document.querySelector('.widget-readout'); r.focus(); r.textContent = '0.040';"
                " r.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', keyCode: 13, which: 13, bubbles: true}));"
                " })()")
        after = _wait("the recomputed view", lambda: (s := page.js(_SENTENCE)) != before and s)
        assert after.startswith("Noise 4.0%"), after
        assert page.js(_READOUT) == "0.040"
        # the picture was redrawn too: the view's PNG differs from the first one
        assert len(page.js(_PICTURE)) > 1000 and page.js(_PICTURE) != picture
    finally:
        for proc in (browser, lab):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.read().decode()
    except OSError:
        return None
