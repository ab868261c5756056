"""axe-core on every console page, at desktop and phone widths: no serious
or critical violation. axe-core comes from the npm registry (see
tests/support/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    AUDITOR_TOKEN,
    Console,
    assert_accessible,
    served_console,
)
from tests.support.browser import ensure_axe, sign_in
from tests.support.credentials import ADMIN_TOKEN


@pytest.fixture(scope="module")
def fresh(
    chromium_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """A console of its own, so its first list page is the empty store's."""
    ensure_axe()
    with served_console(tmp_path_factory.mktemp("axe")) as served:
        yield served


@pytest.mark.parametrize("width", [1440, 375])
def test_every_admin_page(browser: Any, fresh: Console, width: int) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, base_url=fresh.base
    )
    try:
        page = context.new_page()
        visit_admin_pages(page, fresh)
    finally:
        context.close()


def visit_admin_pages(page: Any, console: Console) -> None:
    page.goto("/console/login")
    assert_accessible(page)
    page.get_by_role("button", name="Sign in").click()  # no token: an error
    expect(page.get_by_text("Enter your operator token.")).to_be_visible()
    assert_accessible(page)
    sign_in(page, console.base, ADMIN_TOKEN)
    assert_accessible(page)  # the list, empty or not

    page.get_by_role("link", name="Create Now").click()
    assert_accessible(page)
    page.get_by_label("IP whitelist").fill("nonsense")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)  # with errors beside the fields
    page.get_by_label("IP whitelist").fill("203.0.113.0/24")
    page.get_by_role("button", name="Create").click()
    assert_accessible(page)  # DevKey and DevSecret with Copy buttons

    page.get_by_role("link", name="Open key details").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    key_url = page.url
    key_id = key_url.rsplit("/", 1)[1]
    assert_accessible(page)
    page.get_by_role("button", name="Show DevSecret").click()
    assert_accessible(page)
    page.get_by_role("button", name="Delete", exact=True).click()
    assert_accessible(page)  # the confirmation in place
    page.goto(key_url + "?as_of=2001-01-01T00:00:00")
    assert_accessible(page)  # the as-of error
    page.goto(key_url + "/delete")
    assert_accessible(page)  # the confirmation page without JavaScript
    page.goto(key_url + "/reset-secret")
    assert_accessible(page)
    visit_roll_pages(page, key_url)

    page.goto(key_url + "/edit")
    assert_accessible(page)
    page.get_by_role("button", name="Reset DevSecret").click()
    assert_accessible(page)
    console.api("PATCH", f"/v1/keys/{key_id}", {"description": "meanwhile"})
    page.get_by_label("Description").fill("mine")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)  # the conflict

    page.goto("/console/?status=enabled&q=zzz-no-match")
    assert_accessible(page)
    page.goto("/console/audit")
    assert_accessible(page)
    page.goto("/console/audit?since=soon")
    assert_accessible(page)
    page.goto("/console/keys/00000000-0000-0000-0000-000000000000")
    assert_accessible(page)  # not found

    page.goto(key_url)
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Confirm delete").click()
    page.goto(key_url)
    assert_accessible(page)  # a deleted key's history, with Restore
    page.get_by_role("button", name="Restore").click()
    assert_accessible(page)  # the confirmation in place
    page.goto(key_url + "/restore")
    assert_accessible(page)  # the confirmation page without JavaScript
    page.get_by_role("button", name="Confirm restore").click()
    expect(page.get_by_text("restored, disabled")).to_be_visible()
    assert_accessible(page)


def visit_roll_pages(page: Any, key_url: str) -> None:
    """Roll with a grace period: its confirmations, its error beside the
    field, the new secret, and the details with the grace and usage."""
    page.goto(key_url + "/roll-secret?grace_seconds=60")
    assert_accessible(page)  # the confirmation page without JavaScript
    page.goto(key_url + "/roll-secret?grace_seconds=-1")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)  # the edit page, the error beside the grace field
    page.get_by_label("Grace period (seconds)").fill("600")
    page.get_by_role("button", name="Roll DevSecret").click()
    assert_accessible(page)  # the confirmation in place
    page.get_by_role("button", name="Confirm roll").click()
    expect(page.get_by_role("heading", name="DevSecret rolled")).to_be_visible()
    assert_accessible(page)
    page.goto(key_url)
    expect(page.get_by_role("region", name="Usage")).to_be_visible()
    assert_accessible(page)  # the grace's end, last use and the usage table


def test_auditor_pages(browser: Any, fresh: Console) -> None:
    made = fresh.create_key(description="for the auditor")
    context = browser.new_context(base_url=fresh.base)
    try:
        page = context.new_page()
        sign_in(page, fresh.base, AUDITOR_TOKEN)
        assert_accessible(page)
        page.goto(f"/console/keys/{made['id']}")
        assert_accessible(page)
        page.goto(f"/console/keys/{made['id']}/edit")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        assert_accessible(page)
    finally:
        context.close()
