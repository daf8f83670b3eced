"""The screenshot tour: every page of every audience on the demo street, at 390×844 and at
1366×768, in zh and en, into docs/screenshots/tour/ (issue 19). Not part of the suite's
checks: it runs when asked,

    LINLI_SCREENSHOTS=1 ./test tests/browser/test_screenshots.py

and the pictures are looked at, not compared (fonts and the clock make every run differ)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import PHONE
from tests.browser.tour import PAGES, demo_street, sign_in  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.once,
    pytest.mark.committing,
    pytest.mark.skipif(
        not os.environ.get("LINLI_SCREENSHOTS"), reason="the screenshot tour: LINLI_SCREENSHOTS=1"
    ),
]

TOUR = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "tour"
SIZES = {"phone": PHONE, "desk": {"width": 1366, "height": 768}}


def name_of(path: str) -> str:
    """/m/3/statement → m-n-statement; / → home; a signed token → token."""
    parts = ["token" if len(part) > 20 else part for part in path.split("?")[0].split("/")]
    return re.sub(r"\d+", "n", "-".join(p for p in parts if p)) or "home"


@pytest.mark.parametrize("audience", list(PAGES))
def test_every_page_in_both_languages_and_sizes(live_server, demo_street, browser, audience):  # noqa: F811
    folder = TOUR / audience
    folder.mkdir(parents=True, exist_ok=True)
    # Signed in once (a phone gets one sign-in code a minute); size and language then change.
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, audience)
        for locale in ("zh", "en"):
            page.goto(f"{live_server}/?lang={locale}")  # remembered in the session
            for size, viewport in SIZES.items():
                page.set_viewport_size(viewport)
                for path in PAGES[audience](demo_street):
                    response = page.goto(live_server + path)
                    assert response is not None and response.ok, path
                    page.wait_for_load_state("networkidle")  # a page that sends itself
                    height = page.evaluate("document.documentElement.scrollHeight")
                    page.screenshot(
                        path=str(folder / f"{name_of(path)}-{locale}-{size}.jpg"),
                        full_page=True,
                        # The first three screens: a long list (the audit log) shows its
                        # shape there, and the tour stays a few MB.
                        clip={
                            "x": 0,
                            "y": 0,
                            "width": viewport["width"],
                            "height": min(height, 3 * viewport["height"]),
                        },
                        type="jpeg",
                        quality=50,
                    )
    finally:
        context.close()
