"""End to end in headless Chromium: the web UI, served by the real feedback service, lists a customer's
offers; clicking a star rating and pressing the thumbs-up button from the keyboard reach the store."""

from __future__ import annotations

import shutil

import pytest

from loyaltylens.feedback.api import PACKAGED_UI_DIR
from loyaltylens.feedback.client import FeedbackClient
from loyaltylens.feedback.store import SQLiteFeedbackStore
from tests.feedback.conftest import make_offer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium (apt-get install -y chromium)"),
    pytest.mark.skipif(not (PACKAGED_UI_DIR / "index.html").is_file(), reason="the web UI is not built: make ui"),
]


def test_a_click_and_a_keypress_in_the_ui_reach_the_store(feedback_server):
    from playwright.sync_api import expect, sync_playwright

    base_url, data_dir, _ = feedback_server
    with FeedbackClient(base_url) as client:
        client.register(make_offer("d-browser", copy_text="20% off milk and cheese in the app"))
        client.register(make_offer("d-other", customer_id=99, copy_text="Someone else's offer"))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/")
            page.get_by_label("Customer id").fill("7")
            page.get_by_role("button", name="Show offers").click()
            offer = page.get_by_role("article", name="Offer 3")
            expect(offer.get_by_text("20% off milk and cheese in the app")).to_be_visible()
            expect(page.get_by_text("Someone else's offer")).to_have_count(0)

            offer.get_by_label("4 stars").click()
            expect(offer.get_by_role("status")).to_have_text("Thanks, your rating is saved.")

            offer.get_by_role("button", name="Helpful", exact=True).focus()
            page.keyboard.press("Enter")
            expect(offer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")
        finally:
            browser.close()

    with SQLiteFeedbackStore(data_dir / "feedback" / "feedback.sqlite") as store:
        frame = store.feedback_frame()
    assert frame["decision_id"].tolist() == ["d-browser", "d-browser"]
    assert frame["stars"].tolist()[0] == 4 and frame["thumb"].tolist()[1] == "up"
