"""Debian's chromium driven by Playwright, for the live view's tests and its docs screenshot.

Playwright's own browser download is not reachable here, so the system browser is launched by path;
CI installs it (scripts/chromium.sh) and there a missing browser fails the tests instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

import pytest

CHROMIUM = os.environ.get("PERCEPTRON_MOCK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip (fail in CI, where scripts/chromium.sh installs it) when there is no chromium to drive."""
    if os.path.exists(CHROMIUM) and shutil.which(CHROMIUM):
        return
    message = f"no chromium at {CHROMIUM}: `apt-get install chromium` (scripts/chromium.sh does it in CI)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator["object"]:
    """A fresh page of a headless chromium with a profile of its own."""
    from playwright.sync_api import sync_playwright

    args = ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with tempfile.TemporaryDirectory(prefix="perceptron-mock-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=args, headless=True, viewport={"width": width, "height": height}
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()
