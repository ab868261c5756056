"""The console's rules in a real browser: stale edits, validation errors,
the auditor's read-only view, CSRF, the session cookie, sign-out and
revoked tokens."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import AUDITOR_TOKEN, Console
from tests.support.browser import sign_in
from tests.support.credentials import ADMIN_TOKEN

CHANGING_CONTROLS = [
    ("link", "Create Now"),
    ("button", "Edit"),
    ("button", "Disable"),
    ("button", "Enable"),
    ("button", "Delete"),
    ("button", "Show DevSecret"),
    ("button", "Reset DevSecret"),
    ("button", "Roll DevSecret"),
    ("button", "Restore"),
]


def test_stale_edit_says_so_and_keeps_both_sides(
    context: Any, console: Console
) -> None:
    made = console.create_key(description="shared key")
    mine = context.new_page()
    sign_in(mine, console.base, ADMIN_TOKEN)
    mine.goto(f"/console/keys/{made['id']}/edit")
    theirs = context.new_page()
    theirs.goto(f"/console/keys/{made['id']}/edit")
    theirs.get_by_label("IP whitelist").fill("198.51.100.0/24")
    theirs.get_by_label("Description").fill("their description")
    theirs.get_by_role("button", name="Save").click()
    expect(theirs.get_by_text("Changes saved.")).to_be_visible()

    mine.get_by_label("Description").fill("my description")
    mine.get_by_label("Send API").uncheck()
    mine.get_by_role("button", name="Save").click()
    alert = mine.get_by_role("alert")
    expect(alert).to_contain_text("Someone else changed this key")
    expect(mine.get_by_label("Description")).to_have_value("my description")
    expect(mine.get_by_label("Send API")).not_to_be_checked()
    expect(mine.get_by_label("IP whitelist")).to_have_value("198.51.100.0/24")
    expect(mine.get_by_text("Changed meanwhile to: their description")).to_be_visible()
    assert console.api("GET", f"/v1/keys/{made['id']}").json()["description"] == (
        "their description"
    )

    mine.get_by_role("button", name="Save").click()
    expect(mine.get_by_text("Changes saved.")).to_be_visible()
    stored = console.api("GET", f"/v1/keys/{made['id']}").json()
    assert stored["description"] == "my description"
    assert stored["permissions"] == ["verify"]
    assert stored["ip_whitelist"] == ["198.51.100.0/24"]


def test_validation_errors_appear_beside_their_fields(
    page: Any, console: Console
) -> None:
    sign_in(page, console.base, ADMIN_TOKEN)
    page.goto("/console/keys/new")
    page.get_by_label("Description").fill("bad input")
    page.get_by_label("Expiration date").fill("2001-02-03")
    page.get_by_label("IP whitelist").fill("203.0.113.0/24\nnot-an-address")
    page.get_by_label("Send API").uncheck()
    page.get_by_label("Verify API").uncheck()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was created")
    expiry = page.get_by_label("Expiration date")
    expect(expiry).to_have_attribute("aria-invalid", "true")
    expect(expiry).to_have_accessible_description(
        "Leave blank and the key never expires. It stays valid through the end of "
        "the chosen day (UTC). Expiration date must be in the future."
    )
    whitelist = page.get_by_label("IP whitelist")
    expect(whitelist).to_have_value("203.0.113.0/24\nnot-an-address")
    expect(page.locator("#ip_whitelist-error")).to_contain_text("'not-an-address'")
    expect(page.locator("#permissions-error")).to_contain_text(
        "must name at least one API"
    )
    expect(page.get_by_label("Description")).to_have_value("bad input")


def test_auditor_reads_everything_and_changes_nothing(
    context: Any, console: Console
) -> None:
    made = console.create_key(description="audited key")
    page = context.new_page()
    sign_in(page, console.base, AUDITOR_TOKEN)
    expect(page.get_by_role("link", name=made["dev_key"])).to_be_visible()
    for role, name in CHANGING_CONTROLS:
        expect(page.get_by_role(role, name=name, exact=True)).to_have_count(0)
    page.get_by_role("link", name=made["dev_key"]).click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.get_by_text("Only admins can reveal DevSecrets")).to_be_visible()
    for role, name in CHANGING_CONTROLS:
        expect(page.get_by_role(role, name=name, exact=True)).to_have_count(0)
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    # A forged form post, with the auditor's own valid CSRF token.
    for action in ("disable", "reveal", "delete", "reset-secret", "roll-secret"):
        status = page.evaluate(
            """async ([id, action]) => {
                const token = document.querySelector('input[name=csrf_token]').value;
                const body = new URLSearchParams({csrf_token: token});
                const r = await fetch(`/console/keys/${id}/${action}`,
                                      {method: 'POST', body});
                return r.status;
            }""",
            [made["id"], action],
        )
        assert status == 403
    history = console.api("GET", f"/v1/keys/{made['id']}/history").json()["items"]
    assert [item["type"] for item in history] == ["created"]


def test_post_without_a_valid_csrf_token_is_refused(
    page: Any, console: Console
) -> None:
    made = console.create_key(description="csrf target")
    sign_in(page, console.base, ADMIN_TOKEN)
    page.goto(f"/console/keys/{made['id']}")
    page.evaluate(
        "() => document.querySelectorAll('input[name=csrf_token]')"
        ".forEach(input => { input.value = 'forged'; })"
    )
    page.get_by_role("button", name="Disable").click()
    expect(
        page.get_by_role("heading", name="This form could not be accepted")
    ).to_be_visible()
    assert console.api("GET", f"/v1/keys/{made['id']}").json()["status"] == "enabled"


def test_session_cookie_flags(context: Any, page: Any, console: Console) -> None:
    sign_in(page, console.base, ADMIN_TOKEN)
    cookies = [c for c in context.cookies() if c["name"] == "keyledger_console"]
    assert len(cookies) == 1
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP here; Secure behind HTTPS
    assert cookie["path"] == "/console"
    assert ADMIN_TOKEN not in cookie["value"]
    assert page.evaluate("() => document.cookie") == ""  # out of scripts' reach


def test_sign_out(page: Any, console: Console) -> None:
    sign_in(page, console.base, ADMIN_TOKEN)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You signed out.")).to_be_visible()
    page.goto("/console/")
    expect(page.get_by_label("Operator token")).to_be_visible()


def test_revoked_token_ends_the_session(page: Any, console: Console) -> None:
    services = console.services()
    try:
        services.operators.create("temp", "admin", "klo_browser-temp-token-987654")
        sign_in(page, console.base, "klo_browser-temp-token-987654")
        services.operators.revoke("temp")
    finally:
        services.close()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_text("Your operator token was revoked")).to_be_visible()
    expect(page.get_by_label("Operator token")).to_be_visible()
    page.get_by_label("Operator token").fill("klo_browser-temp-token-987654")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("unknown or was revoked")).to_be_visible()
