"""What every browser test shares: Debian's Chromium, launched once for the folder, and waits for htmx to settle.

Playwright's own browser downloads are never used; a missing Chromium fails the tests rather than skipping them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# An element carries one of these while htmx fetches, swaps or settles it: a click then may land on a node
# that is about to be replaced.
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling"
COUNT_SWAPS = """() => {
    if (window.__htmxSwaps) return;
    window.__htmxSwaps = {};
    document.addEventListener("htmx:afterSwap", (event) => {
        const target = (event.detail && event.detail.target) || event.target;
        if (target && target.id) window.__htmxSwaps[target.id] = (window.__htmxSwaps[target.id] || 0) + 1;
    });
}"""
SWAPS_INTO = "(id) => (window.__htmxSwaps && window.__htmxSwaps[id]) || 0"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is required at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def htmx_settled(page: Page) -> None:
    """Until no htmx request, swap or settle is under way anywhere on the page."""
    page.wait_for_function(f"() => !document.querySelector({HTMX_BUSY!r})")


@contextmanager
def refreshes(page: Page, target_id: str, times: int = 1) -> Iterator[None]:
    """Around an action: afterwards, wait until htmx has swapped new content into `#target_id` `times` more
    times and the page is quiet. A command form announces its change twice (now and shortly after, see
    web/static/js/app.js), so the next click waits for both instead of racing the second."""
    page.evaluate(COUNT_SWAPS)
    before: int = page.evaluate(SWAPS_INTO, target_id)
    yield
    page.wait_for_function(f"([id, wanted]) => ({SWAPS_INTO})(id) >= wanted", arg=[target_id, before + times])
    htmx_settled(page)
