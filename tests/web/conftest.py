"""Fixtures shared by the browser tests."""

from __future__ import annotations

import pytest

from .browser import Watchdog, launch


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
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    dog = Watchdog(server.url)
    dog.attach(context)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page, dog
    context.close()
    dog.check()
