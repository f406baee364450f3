"""The report in a real headless Chromium (Debian's package; `make browser` installs it).

Driven over the DevTools protocol (websocket-client, from the lock): the page
loads from file:// with no console error, no uncaught exception and no
request other than file: and data: URLs; every image has decoded to a
non-empty bitmap; the verdict is visible on screen. A full-page screenshot
is written next to the test's temp files (its path is printed) and checked to
be a real picture.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WIDTH = 1200


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run `make browser` (apt-get install chromium)")
    return path


class DevTools:
    """A minimal DevTools protocol client for one page target."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60):
        deadline = time.time() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.time() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
def browser(tmp_path):
    proc = subprocess.Popen(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, ws_url = time.time() + 60, None
        while ws_url is None and time.time() < deadline:
            line = proc.stderr.readline()
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            ws_url = match.group(1) if match else None
            assert line or proc.poll() is None, "chromium exited before DevTools was up"
        assert ws_url, "chromium did not print its DevTools address"
        port = re.search(r":(\d+)/", ws_url).group(1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _page(port: str) -> DevTools:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
        pages = [t for t in json.load(response) if t["type"] == "page"]
    return DevTools(pages[0]["webSocketDebuggerUrl"])


def _open_report(port: str, path: str):
    page = _page(port)
    for domain in ("Page", "Runtime", "Log", "Network"):
        page.call(f"{domain}.enable")
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=WIDTH,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    page.call("Page.navigate", url="file://" + os.path.abspath(path))
    page.wait_for("Page.loadEventFired")
    return page


CHECKS = """(() => {
  const imgs = Array.from(document.images).map(i => ({
    alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
    shown: i.getBoundingClientRect().width}));
  const v = document.getElementById('verdict');
  const r = v.getBoundingClientRect();
  const style = getComputedStyle(v);
  return {imgs, verdict: v.innerText, verdictBox: [r.top, r.width, r.height],
          verdictShown: style.display !== 'none' && style.visibility === 'visible'
                        && parseFloat(style.opacity) > 0,
          height: document.documentElement.scrollHeight};
})()"""


@pytest.mark.parametrize(
    "fixture,verdict", [("pipeline_run", "BLESSED"), ("weak_run", "NOT BLESSED")]
)
def test_report_renders_in_chromium(fixture, verdict, request, browser, tmp_path):
    run = request.getfixturevalue(fixture)
    report = run.report_path
    page = _open_report(browser, report)
    state = page.evaluate(CHECKS)

    # The verdict is on screen, at the top, and says what the run said.
    assert state["verdict"].startswith(verdict + ":"), state["verdict"]
    top, width, height = state["verdictBox"]
    assert state["verdictShown"] and width > 300 and height > 20 and 0 <= top < 300
    # Every image decoded to a real bitmap and takes space on the page.
    assert len(state["imgs"]) == 4, state["imgs"]
    for img in state["imgs"]:
        assert img["complete"] and img["w"] > 300 and img["h"] > 200 and img["shown"] > 200, img

    # No console error, no uncaught exception, nothing fetched but file: and data:.
    errors = [
        e
        for e in page.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert not errors, errors
    urls = [
        e["params"]["request"]["url"]
        for e in page.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls

    shot = page.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": WIDTH, "height": state["height"], "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    path = tmp_path / f"report-{fixture}.png"
    path.write_bytes(png)
    print(f"screenshot: {path}")
    image = Image.open(io.BytesIO(png))
    assert image.size == (WIDTH, state["height"]) and state["height"] > 2000
    pixels = np.asarray(image.convert("RGB")).astype(int)
    # The banner at the top is green when blessed and red when not.
    banner = pixels[int(top) + 5 : int(top + height) - 5, 40 : WIDTH - 40].reshape(-1, 3).mean(0)
    red, green = banner[0], banner[1]
    assert (green > red) if verdict == "BLESSED" else (red > green), banner
    page.ws.close()


# Class folder names as an attacker would pick them: an HTML tag whose handler
# would run if the page inserted it as markup, terminal escape codes (colour,
# window title, bell), and TeX that matplotlib would parse.
HOSTILE_NAMES = [
    "<img src=x onerror=\"window.pwned=1;document.title='pwned'\">",
    "red\x1b[31m\x1b]0;owned\x07",
    "$\\x$",
]


def test_hostile_class_names_render_as_text_and_run_nothing(browser, tmp_path):
    """The report of an evaluation whose classes carry the names above (page.render
    on the evaluation of test_report_names, figures included)."""
    from test_report_names import evaluation

    from reporting import page as report_page

    html = report_page.render(
        report_page.ReportInputs(
            evaluation_uri="eval", blessed=True, class_names=HOSTILE_NAMES, title="hostile names"
        ),
        evaluation(),
    )
    assert "<script" not in html.lower()  # no JSON or code embedded: nothing to break out of
    path = tmp_path / "hostile.html"
    path.write_text(html)
    page = _open_report(browser, str(path))
    state = page.evaluate("""(() => ({
      pwned: window.pwned === undefined ? null : window.pwned, title: document.title,
      handlers: document.querySelectorAll('[onerror]').length,
      imgs: Array.from(document.images).map(i => i.src.slice(0, 22)),
      text: document.body.innerText}))()""")
    assert state["pwned"] is None and state["title"] == "hostile names", state
    assert state["handlers"] == 0
    assert state["imgs"] and all(src.startswith("data:image/png;base64") for src in state["imgs"])
    assert HOSTILE_NAMES[0] in state["text"]  # shown as the text it is
    assert "$\\x$" in state["text"]
    assert not [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
    page.ws.close()
