"""Headless Chromium for the dashboard tests: find or install it, load a page, screenshot it.

Console errors are collected through the Chrome DevTools protocol (a websocket on 127.0.0.1)
when the ``websockets`` package is importable, and from Chromium's stderr log otherwise.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BASE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--hide-scrollbars", "--mute-audio")
INSTALL_TIMEOUT = 900


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary on ``PATH``, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@functools.lru_cache(maxsize=1)
def ensure_chromium() -> tuple[str | None, str]:
    """Find Chromium, installing Debian's ``chromium`` with apt-get when missing and root.

    Returns
    -------
    path, reason : (str or None, str)
        The binary, or None with the reason it could not be had.
    """
    path = find_chromium()
    if path:
        return path, ""
    if shutil.which("apt-get") is None:
        return None, "chromium is not installed and apt-get is unavailable"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = []
    wait = ["-o", "DPkg::Lock::Timeout=300"]  # another process may be installing packages
    for cmd in (["apt-get", *wait, "update"], ["apt-get", *wait, "install", "-y", "chromium"]):
        for _attempt in range(3):
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                      timeout=INSTALL_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return None, f"{' '.join(cmd)} failed: {exc}"
            if done.returncode == 0:
                break
            log.append(done.stderr.strip()[-400:])
            time.sleep(10)
        else:
            return None, f"{' '.join(cmd)} failed: {log[-1] if log else '?'}"
    path = find_chromium()
    return (path, "") if path else (None, "apt-get installed no chromium binary")


def _flags(profile: str) -> list[str]:
    return [*BASE_FLAGS, f"--user-data-dir={profile}"]


def screenshot(binary: str, url: str, out: Path, size: tuple[int, int] = (1400, 2400),
               timeout: float = 120.0) -> str:
    """Render ``url`` to the PNG ``out``; return Chromium's stderr log."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [binary, *_flags(profile), "--enable-logging=stderr", "--v=0",
             f"--screenshot={out}", f"--window-size={size[0]},{size[1]}",
             "--virtual-time-budget=3000", url],
            capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stderr


def stderr_errors(log: str) -> list[str]:
    """Page errors Chromium logged to stderr (uncaught exceptions, console errors)."""
    return [line for line in log.splitlines()
            if "Uncaught" in line or ("CONSOLE" in line and ":ERROR:" in line)]


@dataclass
class Page:
    """A page open in headless Chromium, driven over the DevTools protocol."""

    socket: Any
    errors: list[str] = field(default_factory=list)
    _next: int = 0

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, recording error events seen meanwhile."""
        self._next += 1
        ident = self._next
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._record(message)

    def wait_for(self, event: str, timeout: float = 30.0) -> None:
        """Read events until ``event`` arrives."""
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            self._record(message)
            if message.get("method") == event:
                return

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (JSON-serialisable results only)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _record(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"uncaught: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.errors.append(f"console.{params['type']}: {' '.join(args)}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append(f"log: {params['entry'].get('text')}")


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists():
            lines = marker.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited early with {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError("chromium did not open a DevTools port in time")


@contextmanager
def open_page(binary: str, url: str, size: tuple[int, int] = (1400, 2400),
              timeout: float = 60.0) -> Iterator[Page]:
    """Open ``url`` in headless Chromium and yield a :class:`Page` once it has loaded.

    Raises
    ------
    ImportError
        If ``websockets`` is not installed (fall back to :func:`screenshot` and
        :func:`stderr_errors`).
    """
    from websockets.sync.client import connect

    # Chromium's helper processes may still write the profile as the browser exits: they are
    # stopped with it (one process group), and a straggling file does not fail the test.
    with tempfile.TemporaryDirectory(prefix="chromium-profile-",
                                     ignore_cleanup_errors=True) as tmp:
        profile = Path(tmp)
        process = subprocess.Popen(
            [binary, *_flags(str(profile)), "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port = _devtools_port(profile, process, timeout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                        timeout=timeout) as reply:
                targets = json.loads(reply.read())
            target = next(t for t in targets if t.get("type") == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=None,
                         open_timeout=timeout) as socket:
                page = Page(socket)
                for domain in ("Runtime", "Log", "Page"):
                    page.call(f"{domain}.enable")
                page.call("Page.navigate", url=url)
                page.wait_for("Page.loadEventFired", timeout)
                yield page
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a browser started in a session of its own, and every helper process of it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def png_is_blank(path: Path) -> bool:
    """True when every pixel of the PNG has the same colour."""
    import matplotlib.image as mpimg
    import numpy as np

    pixels = mpimg.imread(str(path))
    flat = pixels.reshape(-1, pixels.shape[-1]) if pixels.ndim == 3 else pixels.reshape(-1, 1)
    return bool(np.all(flat == flat[0]))
