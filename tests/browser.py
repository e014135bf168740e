"""A real browser for the tests of report.html: Playwright driving Debian's Chromium by its path.

One browser per test module (`browser`; the browser tests live in one module, so in effect one per
session): while Playwright's sync API is open, its asyncio loop counts as running in this thread,
and every Prefect flow a later module runs (asyncio.run) would fail, so the browser must close
with the module. Fixtures of wider scope (the session's `demo` run) are built before it. Each
test opens its own page (`open_report`), which records every console message and uncaught page
error so a test can assert there were none.
Without /usr/bin/chromium the tests skip with the apt-get hint, except in CI, where .ci/run sets
ROLECALL_REQUIRE_BROWSER=1 and a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# No network of any kind: the report must work from file:// with nothing else.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
# Seconds a report may take to load and show its explorer (the 100,000-row one included).
READY_TIMEOUT_S = 60
# Where to save screenshots when set (a folder); the tests take them either way.
SCREENSHOT_DIR = os.environ.get("ROLECALL_SCREENSHOT_DIR")


@dataclass
class OpenReport:
    """A report open in a page, with what the page said on the console and what it threw."""

    page: Any  # playwright.sync_api.Page
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Console errors and warnings, page errors, dialogs and any request that left the file."""
        return ([f"console {kind}: {text}" for kind, text in self.console
                 if kind in ("error", "warning", "assert")]
                + [f"page error: {e}" for e in self.errors]
                + [f"dialog: {d}" for d in self.dialogs]
                + [f"request: {r}" for r in self.requests if not r.startswith(("file:", "data:"))])

    def screenshot(self, name: str, **options: Any) -> bytes:
        """A PNG of the page (or of options' element), also saved when SCREENSHOT_DIR is set."""
        target = options.pop("element", None) or self.page
        image: bytes = target.screenshot(**options)
        if SCREENSHOT_DIR:
            Path(SCREENSHOT_DIR, f"{name}.png").write_bytes(image)
        return image


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, launched once for the module (see above why not for the session)."""
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium "
                   "(sudo apt-get install chromium)")
        if os.environ.get("ROLECALL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_report(browser: Any, report: Path, fragment: str = "") -> OpenReport:
    """Open report.html from file:// in a fresh page and wait until its explorer is ready."""
    page = browser.new_page(viewport=VIEWPORT)
    opened = OpenReport(page)
    page.on("console", lambda message: opened.console.append((message.type, message.text)))
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request.url))

    def dismiss(dialog: Any) -> None:
        opened.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(report.resolve().as_uri() + fragment)
    page.wait_for_selector("#findings[data-ready=true]", timeout=READY_TIMEOUT_S * 1000)
    return opened
