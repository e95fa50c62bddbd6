"""A real browser for the dashboard: Debian's chromium (`apt-get install -y chromium`) driven by the
Python Playwright package, never a browser download. Outside CI a machine without chromium skips these
tests; in CI (`CI` set) a missing browser is a failure, so that a broken install cannot pass."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from local.stack import StackState

CHROMIUM = os.environ.get("STEADFAST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# Package scope, not session: while Playwright's sync API is started, its event loop is marked as the
# running loop of the main thread (between calls too, see playwright/_impl/_greenlets.py). A session-scoped
# browser kept it so until the end of the run, and every later async test failed with "Runner.run() cannot
# be called from a running event loop" (pytest-asyncio) or "asyncio.run() cannot be called ..." (handlers).
# Stopped with the last test of this package, Playwright closes its loop and the thread has none again.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def dashboard(browser: Browser, stack: StackState) -> Iterator[Page]:
    """The dashboard of the local stack, signed in with its dev API key, connected live."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(stack.stream_url + "/")
    page.wait_for_selector("#conn-state[data-state=live]", timeout=30_000)
    yield page
    context.close()
