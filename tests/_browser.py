"""Headless Debian chromium driven by Playwright's Python API, for the app and viewer tests.

Playwright's own browser download does not work offline, so the system chromium is used
(``executable_path``). The Makefile's test target installs it when it is missing; where it is still
missing (no root, no network), the browser tests skip and say why.
"""
from __future__ import annotations

import io
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-quic", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
         "--disable-dev-shm-usage"]


def chromium_or_skip() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("browser tests skipped: chromium is not installed and could not be installed "
                    "(`make test` runs `apt-get install -y chromium` when it is missing)")
    pytest.importorskip("playwright", reason="browser tests skipped: playwright is not installed "
                                             "(pip install 'motion4d[app]')")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromium for a test module; ``page()`` opens a fresh page (own context)."""

    def __init__(self, executable: str, tmp: Path) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        self.tmp = tmp

    def page(self, width: int = 1200, height: int = 900, **kwargs):
        ctx = self.browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True, **kwargs)
        page = ctx.new_page()
        page.set_default_timeout(90000)       # software WebGL on a busy 2-core machine is slow to give a frame
        return page

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


def shot(target) -> np.ndarray:
    """A screenshot of a page or of the box of a locator, as ``uint8 [H, W, 3]``.

    A locator is cut out of a page screenshot by its bounding box (a live WebGL canvas never counts as
    "stable", which an element screenshot waits for).
    """
    from PIL import Image

    if hasattr(target, "bounding_box"):
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        data = target.page.screenshot(clip=box, timeout=90000, animations="disabled")
    else:
        data = target.screenshot(timeout=90000, animations="disabled")
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def drawn(img: np.ndarray) -> float:
    """Spread of the pixel values (0 for a blank, single-colour image)."""
    return float(img.reshape(-1, 3).astype(np.float32).std(0).max())
