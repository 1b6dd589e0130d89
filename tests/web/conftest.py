"""Fixtures shared by the browser tests."""

from __future__ import annotations

import pytest

from .browser import launch, watched_page


@pytest.fixture(scope="module")
def browser():
    """One headless system Chromium per test module (Playwright, never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def web(server, browser):
    """A fresh page of the module's ``server`` under a watchdog that fails the test on any
    console error, 4xx/5xx answer or request to another host."""
    context, dog, page = watched_page(browser, server.url, viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)
    page.set_default_timeout(60_000)
    yield page, dog
    context.close()
    dog.check()
