"""The seed's steps, in order, as an operator does them in a real browser:
create -> details -> reveal -> edit -> reset -> disable -> enable -> delete
with confirmation. Controls are found by role and accessible name."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.support.browser import sign_in
from tests.support.credentials import ADMIN_TOKEN


def authorize(console: Console, dev_key: str, dev_secret: str) -> int:
    credentials = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
    request = urllib.request.Request(
        console.url("/v1/auth"),
        data=json.dumps({"api": "send", "client_ip": "203.0.113.9"}).encode(),
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def copied(page: Any, button: Any) -> str:
    button.click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    return str(page.evaluate("() => navigator.clipboard.readText()"))


def test_seed_steps_in_order(page: Any, console: Console) -> None:
    sign_in(page, console.base, ADMIN_TOKEN)

    # Create Now, with the seed's fields and defaults.
    page.get_by_role("link", name="Create Now").click()
    expect(page.get_by_role("heading", name="Create API key")).to_be_visible()
    expect(page.get_by_label("Send API")).to_be_checked()
    expect(page.get_by_label("Verify API")).to_be_checked()
    page.get_by_label("Description").fill("seed walk-through, prod")
    page.get_by_role("button", name="Create").click()

    # The DevKey and DevSecret, each with a Copy button.
    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    dev_key = page.locator("#dev-key").inner_text()
    dev_secret = page.locator("#dev-secret").inner_text()
    copy_buttons = page.get_by_role("button", name="Copy")
    expect(copy_buttons).to_have_count(2)
    assert copied(page, copy_buttons.nth(1)) == dev_secret
    assert authorize(console, dev_key, dev_secret) == 200

    # Click anywhere on the row: the details page.
    page.get_by_role("link", name="Back to API Keys").click()
    row = page.get_by_role("row").filter(has_text=dev_key)
    row.get_by_role("cell", name="seed walk-through, prod").click()
    expect(page.get_by_role("heading", name="seed walk-through, prod")).to_be_visible()
    expect(page.get_by_text("Enabled").first).to_be_visible()

    # Show DevSecret: the same secret, and the reveal is in the history.
    page.get_by_role("button", name="Show DevSecret").click()
    expect(page.locator("#dev-secret")).to_have_text(dev_secret)
    history = page.get_by_role("region", name="History")
    expect(history.get_by_text("DevSecret revealed")).to_be_visible()

    # Edit: description, whitelist and permissions.
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Description").fill("seed walk-through, production")
    page.get_by_label("IP whitelist").fill("203.0.113.0/24")
    page.get_by_label("Verify API").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    settings = page.get_by_role("region", name="Settings")
    expect(settings.get_by_text("203.0.113.0/24")).to_be_visible()
    expect(settings.get_by_text("Send API", exact=True)).to_be_visible()
    expect(history.get_by_text("IP whitelist changed")).to_be_visible()

    # Reset DevSecret asks again; Cancel keeps the secret.
    page.get_by_role("button", name="Edit").click()
    page.get_by_role("button", name="Reset DevSecret").click()
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("button", name="Confirm reset")).to_be_hidden()
    page.get_by_role("button", name="Reset DevSecret").click()
    page.get_by_role("button", name="Confirm reset").click()
    expect(page.get_by_role("heading", name="DevSecret reset")).to_be_visible()
    new_secret = page.locator("#dev-secret").inner_text()
    assert new_secret != dev_secret
    assert authorize(console, dev_key, dev_secret) == 401
    assert authorize(console, dev_key, new_secret) == 200

    # Disable, then Enable.
    page.get_by_role("link", name="Open key details").click()
    page.get_by_role("button", name="Disable").click()
    expect(
        page.get_by_role("heading", name="seed walk-through, production")
    ).to_contain_text("Disabled")
    assert authorize(console, dev_key, new_secret) == 403
    page.get_by_role("button", name="Enable").click()
    expect(
        page.get_by_role("heading", name="seed walk-through, production")
    ).to_contain_text("Enabled")
    assert authorize(console, dev_key, new_secret) == 200

    # Delete asks again: Cancel keeps the key, Confirm delete removes it.
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("button", name="Confirm delete")).to_be_hidden()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Confirm delete").click()
    expect(page.get_by_role("heading", name="API Keys", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Key {dev_key} deleted.")).to_be_visible()
    expect(page.get_by_role("link", name=dev_key)).to_have_count(0)
    assert authorize(console, dev_key, new_secret) == 401


def test_keyboard_only(page: Any, console: Console) -> None:
    made = console.create_key(description="keyboard user")
    sign_in(page, console.base, ADMIN_TOKEN)
    page.get_by_role("link", name=made["dev_key"]).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="keyboard user")).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Confirm delete")
    expect(confirm).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("button", name="Delete", exact=True)).to_be_focused()


def test_confirmations_work_without_javascript(browser: Any, console: Console) -> None:
    made = console.create_key(description="no script")
    context = browser.new_context(java_script_enabled=False, base_url=console.base)
    try:
        page = context.new_page()
        sign_in(page, console.base, ADMIN_TOKEN)
        page.goto(f"/console/keys/{made['id']}")
        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_role("link", name="Cancel", exact=True).click()
        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_role("button", name="Confirm delete").click()
        expect(page.get_by_text(f"Key {made['dev_key']} deleted.")).to_be_visible()
    finally:
        context.close()
