"""Fixtures shared by the browser tests."""

from __future__ import annotations

import pytest

from .browser import launch


@pytest.fixture(scope="module")
def browser():
    """One headless system Chromium per test module (Playwright, never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
