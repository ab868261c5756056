"""Roll with a grace period, restore, and usage in a real browser against a
real gunicorn. Controls are found by role and accessible name; the old
secret's grace and the restored key's state are checked on /v1/auth."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.support.browser import sign_in
from tests.support.credentials import ADMIN_TOKEN

GRACE = "Grace period (seconds)"
# Each worker writes its usage counts at least every 10 s; the page is read
# again until they show, for at most this long.
USAGE_DEADLINE_SECONDS = 60


def authorize(
    console: Console, dev_key: str, dev_secret: str, client_ip: str = "203.0.113.9"
) -> int:
    credentials = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
    request = urllib.request.Request(
        console.url("/v1/auth"),
        data=json.dumps({"api": "send", "client_ip": client_ip}).encode(),
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


def history_types(console: Console, key_id: str) -> list[str]:
    items = console.api("GET", f"/v1/keys/{key_id}/history").json()["items"]
    return [item["type"] for item in items]


def test_roll_with_grace_shows_the_new_secret_once_and_the_old_one_still_works(
    page: Any, console: Console
) -> None:
    made = console.create_key(description="rolled in the browser")
    sign_in(page, console.base, ADMIN_TOKEN)
    page.goto(f"/console/keys/{made['id']}")
    page.get_by_role("button", name="Edit").click()

    # Asks first; Escape cancels and nothing happens.
    page.get_by_label(GRACE).fill("3600")
    page.get_by_role("button", name="Roll DevSecret").click()
    confirm = page.get_by_role("button", name="Confirm roll")
    expect(confirm).to_be_focused()
    expect(page.get_by_role("group", name="Roll the DevSecret?")).to_contain_text(
        "keeps working for 3600 seconds"
    )
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("button", name="Roll DevSecret")).to_be_focused()
    assert history_types(console, made["id"]) == ["created"]

    page.get_by_role("button", name="Roll DevSecret").click()
    page.get_by_role("button", name="Confirm roll").click()
    expect(page.get_by_role("heading", name="DevSecret rolled")).to_be_visible()
    expect(page.get_by_text("The previous DevSecret still works until")).to_be_visible()
    new_secret = page.locator("#dev-secret").inner_text()
    assert new_secret != made["dev_secret"]
    expect(page.get_by_role("button", name="Copy")).to_have_count(2)

    # Both secrets are let in during the grace.
    assert authorize(console, made["dev_key"], new_secret) == 200
    assert authorize(console, made["dev_key"], made["dev_secret"]) == 200
    stored = console.api("GET", f"/v1/keys/{made['id']}").json()
    until = stored["previous_secret_expires_at"]
    assert until is not None

    # The details say until when; the new secret is not shown again.
    page.get_by_role("link", name="Open key details").click()
    note = page.get_by_role("note").filter(has_text="rolled away, still works until")
    expect(note).to_be_visible()
    expect(note.locator("time")).to_have_attribute("datetime", until)
    expect(page.locator("#dev-secret")).to_have_count(0)
    history = page.get_by_role("region", name="History")
    expect(history.get_by_text("DevSecret rolled")).to_be_visible()
    expect(history.get_by_text("Previous DevSecret works until")).to_be_visible()
    assert history_types(console, made["id"]) == ["created", "secret_rolled"]


def test_bad_grace_is_named_beside_its_field(page: Any, console: Console) -> None:
    made = console.create_key(description="bad grace")
    sign_in(page, console.base, ADMIN_TOKEN)
    page.goto(f"/console/keys/{made['id']}/edit")
    for typed, says in (
        ("-5", "must be between 0 and 2592000 inclusive"),
        ("2592001", "must be between 0 and 2592000 inclusive"),
        ("soon", "must be a whole number of seconds from 0 to 2592000"),
    ):
        page.get_by_label(GRACE).fill(typed)
        page.get_by_role("button", name="Roll DevSecret").click()
        page.get_by_role("button", name="Confirm roll").click()
        expect(page.get_by_role("alert")).to_contain_text(
            "The DevSecret was not rolled"
        )
        field = page.get_by_label(GRACE)
        expect(field).to_have_value(typed)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(
            "How long the current DevSecret keeps working: 0 (it stops at once) to "
            f"2592000 (30 days). 86400 is one day. {GRACE} {says}."
        )
    assert history_types(console, made["id"]) == ["created"]


def test_restore_a_deleted_key_then_enable_it(page: Any, console: Console) -> None:
    made = console.create_key(description="deleted, then restored")
    sign_in(page, console.base, ADMIN_TOKEN)
    page.goto(f"/console/keys/{made['id']}")
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Confirm delete").click()
    expect(page.get_by_text("deleted. Its history stays")).to_be_visible()
    assert authorize(console, made["dev_key"], made["dev_secret"]) == 401

    # From the list to the deleted key, through the audit log.
    page.get_by_role("link", name="Deleted keys").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.locator(f'a[href="/console/keys/{made["id"]}"]').first.click()
    expect(page.get_by_text("This key was deleted")).to_be_visible()
    expect(page.get_by_text(made["dev_key"]).first).to_be_visible()

    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("button", name="Confirm restore")).to_be_focused()
    page.get_by_role("button", name="Confirm restore").click()
    expect(page.get_by_text("restored, disabled")).to_be_visible()
    expect(page.get_by_role("heading", name="deleted, then restored")).to_be_visible()
    assert authorize(console, made["dev_key"], made["dev_secret"]) == 403

    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("Key enabled.")).to_be_visible()
    assert authorize(console, made["dev_key"], made["dev_secret"]) == 200
    history = page.get_by_role("region", name="History")
    expect(history.get_by_text("Restored", exact=True)).to_be_visible()
    assert history_types(console, made["id"])[-3:] == ["deleted", "restored", "enabled"]


def test_usage_shows_after_auth_calls(page: Any, console: Console) -> None:
    made = console.create_key(
        description="used in the browser", ip_whitelist=["203.0.113.0/24"]
    )
    sign_in(page, console.base, ADMIN_TOKEN)
    page.goto(f"/console/keys/{made['id']}")
    usage = page.get_by_role("region", name="Usage")
    expect(usage.get_by_role("table")).to_be_visible()
    settings = page.get_by_role("region", name="Settings")
    expect(settings.get_by_text("Never", exact=True)).to_be_visible()  # last used

    for _ in range(3):
        assert authorize(console, made["dev_key"], made["dev_secret"]) == 200
    refused = authorize(console, made["dev_key"], made["dev_secret"], "198.51.100.7")
    assert refused == 403

    # The counts reach the store with each worker's next flush: read the
    # page again until they are there (a deadline, not a measured duration).
    today = usage.get_by_role("row").nth(1)
    deadline = time.monotonic() + USAGE_DEADLINE_SECONDS
    while True:
        page.reload()
        cells = today.get_by_role("cell").all_inner_texts()
        if cells[1:3] == ["3", "0"] and cells[4] == "1":
            break
        assert time.monotonic() < deadline, f"usage never showed: {cells}"
        page.wait_for_timeout(250)
    header = usage.get_by_role("row").first.get_by_role("columnheader")
    expect(header).to_have_text(
        [
            "Day",
            "Allowed",
            "Refused: disabled",
            "Refused: expired",
            "Refused: IP not allowed",
            "Refused: API not permitted",
        ]
    )
    last_used = console.api("GET", f"/v1/keys/{made['id']}").json()["last_used_at"]
    assert last_used is not None
    # Created and last change may fall in the same second: read the time
    # under "Last used" itself.
    shown = settings.locator(
        "xpath=.//dt[normalize-space()='Last used']/following-sibling::dd[1]//time"
    )
    expect(shown).to_have_attribute("datetime", last_used)
