"""The console's key pages through the Flask test client, on both stores:
roles, validation beside the fields, the recorded actor, stale edits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.api.context import services_of
from tests.support.console import (
    AUDITOR_TOKEN,
    ConsoleClient,
    field_errors,
    key_id_in,
    page_text,
    signed_in,
)
from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import ApiClient


@pytest.fixture
def admin(client: FlaskClient) -> ConsoleClient:
    return signed_in(client, ADMIN_TOKEN)


@pytest.fixture
def auditor(app: Flask) -> ConsoleClient:
    services_of(app).operators.create("audrey", "auditor", AUDITOR_TOKEN)
    return signed_in(app.test_client(), AUDITOR_TOKEN)


@pytest.fixture
def key(api: ApiClient) -> dict[str, Any]:
    return api.create_key(description="payments backend, prod")


text = page_text


def test_empty_store_offers_create_now(admin: ConsoleClient) -> None:
    page = text(admin.get("/console/"))
    assert "<h1>API Keys</h1>" in page
    assert "No API keys yet" in page
    assert page.count(">Create Now</a>") == 1


def test_create_with_the_seed_defaults(admin: ConsoleClient, api: ApiClient) -> None:
    response = admin.create(description="payments backend, prod")
    assert response.status_code == 200
    page = text(response)
    assert page.count(">Copy</button>") == 2
    dev_key = re.search(r'<code class="copy-value" id="dev-key"[^>]*>([^<]+)<', page)
    secret = re.search(r'<code class="copy-value" id="dev-secret"[^>]*>([^<]+)<', page)
    assert dev_key is not None
    assert secret is not None
    stored = api.get(f"/v1/keys/{key_id_in(response)}").json
    assert stored["expires_at"] is None  # blank expiry: never
    assert stored["ip_whitelist"] == []  # blank whitelist: any IP
    assert stored["permissions"] == ["send", "verify"]
    auth = api.auth(dev_key.group(1), secret.group(1), client_ip="198.51.100.1")
    assert auth.status_code == 200


def test_every_invalid_field_is_named_beside_it(
    admin: ConsoleClient, api: ApiClient
) -> None:
    response = admin.create(
        description="two\nlines",
        expires_at="2020-01-01",
        ip_whitelist="203.0.113.0/24\n10.0.0.300",
        permissions=[],
    )
    assert response.status_code == 422
    errors = field_errors(response)
    assert set(errors) == {"description", "expires_at", "ip_whitelist", "permissions"}
    assert errors["expires_at"] == "Expiration date must be in the future."
    assert "10.0.0.300" in errors["ip_whitelist"]
    assert 'aria-invalid="true"' in text(response)
    assert "two\nlines" in text(response)  # what was typed is kept
    assert api.get("/v1/keys").json["items"] == []


def test_list_shows_a_row_per_key_with_its_status(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    other = api.create_key(description="support desk")
    api.action(other["id"], "disable")
    page = text(admin.get("/console/"))
    assert page.count('class="row-link"') == 2
    assert f'data-href="/console/keys/{key["id"]}"' in page
    assert "badge-disabled" in page
    assert "badge-enabled" in page


def test_list_filters_by_status_and_search(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    other = api.create_key(description="support desk")
    api.action(other["id"], "disable")
    disabled = text(admin.get("/console/?status=disabled"))
    assert other["dev_key"] in disabled
    assert key["dev_key"] not in disabled
    searched = text(admin.get("/console/?q=PAYMENTS"))
    assert key["dev_key"] in searched
    assert other["dev_key"] not in searched
    bad = admin.get("/console/?status=deleted")
    assert bad.status_code == 422
    assert "status" in field_errors(bad)


def test_list_pages(admin: ConsoleClient, api: ApiClient) -> None:
    made = [api.create_key(description=f"key {n}")["dev_key"] for n in range(23)]
    first = text(admin.get("/console/"))
    link = re.search(r'href="(/console/\?after=[^"]+)">Next page', first)
    assert link is not None
    second = text(admin.get(link.group(1).replace("&amp;", "&")))
    shown = [k for k in made if k in first] + [k for k in made if k in second]
    assert sorted(shown) == sorted(made)
    assert "Next page" not in second
    assert "First page" in second


def test_details_show_settings_and_history(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    api.patch(key["id"], {"ip_whitelist": ["203.0.113.0/24"]})
    page = text(admin.get(f"/console/keys/{key['id']}"))
    for label in ("Edit", "Disable", "Delete", "Show DevSecret", "Show"):
        assert f">{label}</button>" in page
    assert '<h2 id="history-title">History</h2>' in page
    assert "IP whitelist changed" in page
    assert "Any IP" in page
    assert "203.0.113.0/24" in page
    assert 'id="dev-secret"' not in page  # hidden until revealed


def test_reveal_is_a_recorded_post(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    assert admin.get(f"/console/keys/{key['id']}/reveal").status_code == 405
    response = admin.post(f"/console/keys/{key['id']}/reveal")
    assert response.status_code == 200
    secret = api.get(f"/v1/keys/{key['id']}/secret").json["dev_secret"]
    assert secret in text(response)
    types = [
        item["type"] for item in api.get(f"/v1/keys/{key['id']}/history").json["items"]
    ]
    assert types.count("secret_revealed") == 2  # the console's and the API's


def test_changes_record_operator_address_and_request_id(
    app: Flask, api: ApiClient, key: dict[str, Any]
) -> None:
    services_of(app).operators.create("carol", "admin", "klo_carol-123456")
    carol = ConsoleClient(app.test_client())
    carol.sign_in("klo_carol-123456")
    token = carol.csrf()
    response = carol.client.post(
        f"/console/keys/{key['id']}/disable",
        data={"csrf_token": token},
        headers={"X-Request-Id": "console-req-42"},
        environ_base={"REMOTE_ADDR": "192.0.2.77"},
    )
    assert response.status_code == 303
    last = api.get(f"/v1/keys/{key['id']}/history").json["items"][-1]
    assert last["type"] == "disabled"
    assert last["actor"] == "carol"
    assert last["source_ip"] == "192.0.2.77"
    assert last["request_id"] == "console-req-42"


def test_disable_enable_delete(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    path = f"/console/keys/{key['id']}"
    assert admin.post(f"{path}/disable").status_code == 303
    assert ">Enable</button>" in text(admin.get(path))
    assert admin.post(f"{path}/enable").status_code == 303
    confirm = text(admin.get(f"{path}/delete"))
    assert ">Confirm delete</button>" in confirm
    assert ">Cancel</a>" in confirm
    assert admin.post(f"{path}/delete").status_code == 303
    assert api.get(f"/v1/keys/{key['id']}").status_code == 404
    deleted = text(admin.get(path))
    assert "This key was deleted" in deleted
    assert ">Edit</button>" not in deleted


def test_view_as_of(admin: ConsoleClient, api: ApiClient, key: dict[str, Any]) -> None:
    created = api.get(f"/v1/keys/{key['id']}/history").json["items"][0]["occurred_at"]
    api.patch(key["id"], {"description": "renamed"})
    page = text(admin.get(f"/console/keys/{key['id']}?as_of={created}"))
    assert "as it stood at" in page
    assert "payments backend, prod" in page.split("History")[0]
    early = admin.get(f"/console/keys/{key['id']}?as_of=2001-01-01T00:00:00")
    assert early.status_code == 422
    assert "did not exist" in field_errors(early)["as_of"]
    garbled = admin.get(f"/console/keys/{key['id']}?as_of=yesterday")
    assert "as_of" in field_errors(garbled)


def test_unknown_key_is_a_404_page(admin: ConsoleClient) -> None:
    for path in (
        "/console/keys/not-a-uuid",
        f"/console/keys/{'0' * 8}-0000-0000-0000-{'0' * 12}",
    ):
        response = admin.get(path)
        assert response.status_code == 404
        assert "Not found" in text(response)


def edit_form(admin: ConsoleClient, key_id: str) -> dict[str, Any]:
    page = text(admin.get(f"/console/keys/{key_id}/edit"))
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    return {"version": version.group(1)}


def test_edit_saves_only_what_changed(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    form = edit_form(admin, key["id"])
    response = admin.post(
        f"/console/keys/{key['id']}/edit",
        {
            **form,
            "description": "renamed",
            "expires_at": "",
            "ip_whitelist": "",
            "permissions": ["send", "verify"],
        },
    )
    assert response.status_code == 303
    history = api.get(f"/v1/keys/{key['id']}/history").json["items"]
    assert [item["type"] for item in history] == ["created", "description_changed"]


def test_stale_edit_says_so_and_loses_nothing(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    form = edit_form(admin, key["id"])
    api.patch(
        key["id"],
        {"description": "changed by someone else", "ip_whitelist": ["198.51.100.0/24"]},
    )
    mine = {
        **form,
        "description": "my description",
        "expires_at": "",
        "ip_whitelist": "",
        "permissions": ["send"],
    }
    response = admin.post(f"/console/keys/{key['id']}/edit", mine)
    assert response.status_code == 409
    page = text(response)
    assert "Someone else changed this key while you were editing it" in page
    assert 'value="my description"' in page  # my input is kept
    assert "changed by someone else" in page  # their value is shown beside it
    assert "198.51.100.0/24</textarea>" in page  # their field I did not touch
    assert (
        api.get(f"/v1/keys/{key['id']}").json["description"]
        == "changed by someone else"
    )
    resend = re.search(r'name="version" value="(\d+)"', page)
    assert resend is not None
    again = admin.post(
        f"/console/keys/{key['id']}/edit",
        {**mine, "version": resend.group(1), "ip_whitelist": "198.51.100.0/24"},
    )
    assert again.status_code == 303
    stored = api.get(f"/v1/keys/{key['id']}").json
    assert stored["description"] == "my description"
    assert stored["permissions"] == ["send"]
    assert stored["ip_whitelist"] == ["198.51.100.0/24"]


def test_edit_validation_errors_keep_the_input(
    admin: ConsoleClient, key: dict[str, Any]
) -> None:
    form = edit_form(admin, key["id"])
    response = admin.post(
        f"/console/keys/{key['id']}/edit",
        {
            **form,
            "description": "payments backend, prod",
            "expires_at": "1999-12-31",
            "ip_whitelist": "not-an-ip",
            "permissions": ["send", "verify"],
        },
    )
    assert response.status_code == 422
    assert set(field_errors(response)) == {"expires_at", "ip_whitelist"}
    assert "not-an-ip</textarea>" in text(response)


def test_edit_without_its_version_is_refused(
    admin: ConsoleClient, key: dict[str, Any]
) -> None:
    response = admin.post(f"/console/keys/{key['id']}/edit", {"description": "x"})
    assert response.status_code == 400


def test_reset_secret_shows_the_new_one(admin: ConsoleClient, api: ApiClient) -> None:
    made = api.create_key()
    confirm = text(admin.get(f"/console/keys/{made['id']}/reset-secret"))
    assert ">Confirm reset</button>" in confirm
    response = admin.post(f"/console/keys/{made['id']}/reset-secret")
    page = text(response)
    assert "DevSecret reset" in page
    assert made["dev_secret"] not in page
    assert api.auth(made["dev_key"], made["dev_secret"]).status_code == 401


ADMIN_ONLY_POSTS = ["reveal", "disable", "enable", "delete", "edit", "reset-secret"]


def test_auditor_sees_no_control_that_changes_or_reveals(
    auditor: ConsoleClient, key: dict[str, Any]
) -> None:
    pages = [
        text(auditor.get("/console/")),
        text(auditor.get(f"/console/keys/{key['id']}")),
        text(auditor.get("/console/audit")),
    ]
    for page in pages:
        for label in (
            "Create Now",
            ">Edit<",
            ">Disable<",
            ">Enable<",
            ">Delete<",
            "Show DevSecret",
            "Reset DevSecret",
        ):
            assert label not in page
    assert "History" in pages[1]


@pytest.mark.parametrize("action", ADMIN_ONLY_POSTS)
def test_auditor_posts_are_forbidden(
    auditor: ConsoleClient, api: ApiClient, key: dict[str, Any], action: str
) -> None:
    before = api.get(f"/v1/keys/{key['id']}/history").json["items"]
    response = auditor.post(f"/console/keys/{key['id']}/{action}", {"version": "1"})
    assert response.status_code == 403
    assert api.get(f"/v1/keys/{key['id']}/history").json["items"] == before


def test_auditor_posts_are_forbidden_even_without_a_token(
    auditor: ConsoleClient, key: dict[str, Any]
) -> None:
    response = auditor.post(f"/console/keys/{key['id']}/disable", csrf=False)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path", ["/console/keys/new", "/edit", "/delete", "/reset-secret"]
)
def test_auditor_cannot_open_forms(
    auditor: ConsoleClient, key: dict[str, Any], path: str
) -> None:
    url = path if path.startswith("/console") else f"/console/keys/{key['id']}{path}"
    assert auditor.get(url).status_code == 403
    assert (
        auditor.post("/console/keys/new", {"permissions": ["send"]}).status_code == 403
    )


def test_auditor_on_an_empty_store_is_not_offered_create(
    auditor: ConsoleClient,
) -> None:
    page = text(auditor.get("/console/"))
    assert "No API keys yet" in page
    assert "Create Now" not in page
