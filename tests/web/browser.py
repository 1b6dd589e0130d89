"""Driving the system Chromium with Playwright (never a downloaded browser), and the watchdog
every browser test runs under: any console error, any 4xx/5xx answer and any request to a
host other than the server fails the test."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from dataclasses import dataclass, field

import pytest

CHROMIUM = os.environ.get("QUBITHUB_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

have_chromium = os.path.exists(CHROMIUM) or shutil.which("chromium") is not None
needs_chromium = pytest.mark.skipif(not have_chromium, reason=f"no system Chromium at {CHROMIUM} (apt-get install chromium)")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                                      args=ARGS, headless=True)


@dataclass
class Watchdog:
    origin: str
    problems: list[str] = field(default_factory=list)

    def attach(self, context) -> None:
        host = urllib.parse.urlsplit(self.origin).netloc

        def route(r):
            url = urllib.parse.urlsplit(r.request.url)
            if url.scheme in ("data", "blob") or url.netloc == host:
                r.continue_()
            else:
                self.problems.append(f"external request: {r.request.url}")
                r.abort()

        context.route("**/*", route)
        context.on("page", self._page)
        for page in context.pages:
            self._page(page)

    def _page(self, page) -> None:
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error on {page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error on {page.url}: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} for {r.request.method} {r.url}"))
        # A request the browser itself dropped (navigating away: net::ERR_ABORTED) is no server failure;
        # every answer the server did give is checked above.
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "") and self.problems.append(
            f"failed request {r.url}: {r.failure}"))

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


#: A small phone's viewport: every page must fit its width.
PHONE = {"width": 360, "height": 740}


def watched_page(browser, origin: str, **context_options):
    """``(context, dog, page)``: a new browser context under a ``Watchdog`` and a page in it."""
    context = browser.new_context(**context_options)
    dog = Watchdog(origin)
    dog.attach(context)
    return context, dog, context.new_page()


def assert_fit_a_phone(page, origin: str, paths) -> None:
    """Each page of ``paths`` is no wider than the phone (``page`` has the ``PHONE`` viewport)."""
    for path in paths:
        page.goto(origin + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a 360 px phone"
