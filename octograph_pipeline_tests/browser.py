"""Headless Chromium driven over the DevTools protocol, for following the README's UI steps click by click: open
a page, wait for an element, click what a user clicks (by its text or test id), type into a field as a user types,
and read the page. Only what the tests need; Debian's chromium, `websockets` (already in Dagster's tree)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from websockets.sync.client import connect

from .processes import stop_group

# Headless Chromium as every test runs it: quiet (no network of its own), as root in CI, one window size.
HEADLESS = [
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
]
FLAGS = [*HEADLESS, "--remote-debugging-port=0"]  # driven over the DevTools protocol


class BrowserError(AssertionError):
    """The page never showed what a step expected; the message says which step and what the page showed."""


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, chromium: str):
        self.profile = Path(tempfile.mkdtemp(prefix="octograph-chromium-"))
        self.process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file, deadline = self.profile / "DevToolsActivePort", time.monotonic() + 60
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise BrowserError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.socket = connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self.ids = itertools.count(1)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)

    def send(self, method: str, session: bool = False, **params) -> dict:
        message_id = next(self.ids)
        message = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:
            answer = json.loads(self.socket.recv(timeout=60))
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer["result"]

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", session=True, url=url)

    def wait_for(self, expression: str, what: str, timeout: float = 60) -> object:
        """Until the JavaScript `expression` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := self.evaluate(expression):
                return value
            time.sleep(0.25)
        raise BrowserError(f"{what} did not happen in {timeout} s; the page shows: {self.text()[:2000]}")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def click_text(self, text: str, tag: str = "button", timeout: float = 60, until_gone: bool = False) -> None:
        """Clicks the first visible, enabled `tag` element whose text starts with `text` (a count may follow, as
        in "Materialize selected (4)…"), once there is one. With `until_gone`, clicks again until the element
        has gone: a dialog that is still loading can re-render and forget a click (a slow CI machine did)."""
        finder = (
            f"[...document.querySelectorAll({json.dumps(tag)})].find(e => e.innerText.trim().startsWith("
            f"{json.dumps(text)}) && !e.disabled && e.offsetParent !== null)"
        )
        what = f"a {tag} reading {text!r}"
        self._click(finder, what, timeout)
        deadline = time.monotonic() + timeout
        while until_gone and self.evaluate(f"!!({finder})"):
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"{what} was still there {timeout} s after clicks; the page: {self.text()[:2000]}"
                )
            time.sleep(1)
            if self.evaluate(f"!!({finder})"):
                self._click(finder, what, timeout)

    def click_selector(self, selector: str, what: str, timeout: float = 60) -> None:
        self._click(f"document.querySelector({json.dumps(selector)})", what, timeout)

    def _click(self, finder: str, what: str, timeout: float) -> None:
        """A real mouse click at the middle of the element `finder` finds (scrolled into view first)."""
        self.wait_for(f"!!({finder})", what, timeout)
        x, y = self.evaluate(
            f"(e => {{ e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); "
            f"return [r.x + r.width / 2, r.y + r.height / 2]; }})({finder})"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", session=True, type=kind, x=x, y=y, button="left", clickCount=1)

    def type_into(self, selector: str, text: str, what: str) -> None:
        """Focuses the field, selects what it holds and types `text` over it, as a user would."""
        self.wait_for(f"!!document.querySelector({json.dumps(selector)})", what)
        self.evaluate(
            f"(f => {{ f.focus(); f.select && f.select(); }})(document.querySelector({json.dumps(selector)}))"
        )
        self.send("Input.insertText", session=True, text=text)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                session=True,
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
            )

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.send("Page.captureScreenshot", session=True, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        stop_group(self.process)  # chromium and its zygote, renderer and GPU processes
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
