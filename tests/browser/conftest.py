"""Headless Chromium for the end-to-end tests: one browser per test session.

Chromium comes from the system (Debian's ``chromium`` package at /usr/bin/chromium), not
from Playwright's own download. Without it the tests are skipped with a hint, except in CI
(``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import caches
from django.core.management import call_command

from tests.browser.sweep import LogCapture, find_card_data

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
README_IMAGES = ROOT / "static" / "readme"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run here)", pytrace=False)
    pytest.skip(
        f"{reason}: install Chromium (Debian/Ubuntu: `apt-get install chromium`) "
        "and the test dependency group to run the browser tests"
    )


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """A headless Chromium shared by every browser test of the session."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    # Playwright's sync API keeps an event loop in this thread; Django refuses ORM calls
    # next to a running loop unless told that this test code is synchronous anyway.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(chromium) -> Iterator:
    """A fresh browser profile (cookies, storage) for one test."""
    ctx = chromium.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under artifacts/screenshots/ (a test artifact, not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@dataclass(frozen=True)
class Received:
    """One request as the shop's server received it, body bytes included."""

    method: str
    path: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("latin-1")


@pytest.fixture
def server_requests(live_server) -> Iterator[list[Received]]:
    """Every request that reaches the live server during the test, recorded at the WSGI layer.

    The body is read off the socket before Django sees it and handed on unchanged, so
    this is exactly what arrived: no browser-side view, no parsing in between.
    """
    httpd = live_server.thread.httpd
    application = httpd.get_app()
    received: list[Received] = []

    def recording(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        received.append(Received(environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        return application(environ, start_response)

    httpd.set_app(recording)
    try:
        yield received
    finally:
        httpd.set_app(application)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The text of every log record of the project and Django during the test, any level."""
    handler = LogCapture()
    loggers = [logging.getLogger(name) for name in ("checkout", "merchant_site", "django")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture
def demo_shop(sandbox_url, live_server, log_lines) -> Iterator[str]:
    """The demo shop with its catalogue on a live server, paying against the sandbox; its
    URL. Afterwards the database, sessions, cache, logs and mails are searched for the
    sandbox's card numbers and the tests' CVC (tests.browser.shopper.CVC)."""
    from checkout.sandbox.cards import CARDS
    from tests.browser.shopper import CVC

    # The sandbox's key lives in its tables, which each test empties; the shop caches the
    # key it fetched, so a key from an earlier test must not linger.
    caches["default"].clear()
    mail.outbox.clear()
    call_command("seed_demo", stdout=io.StringIO())
    yield live_server.url
    leaks = find_card_data(
        pans=[card.pan for card in CARDS], cvcs=[CVC], log_lines=log_lines, mails=mail.outbox
    )
    assert leaks == [], "card data was kept: " + "; ".join(leaks)
