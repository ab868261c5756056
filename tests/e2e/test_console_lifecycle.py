"""The console's lifecycle controls through the Flask test client, on both
stores: roll a secret with a grace period, restore a deleted key, usage and
last use. Each change goes through the ledger like the API's, so it shows in
the history, the audit feed and the change feed in the operator's name."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.api.context import services_of
from service.console.display import DENIAL_LABELS
from service.usage_report import DENIAL_REASONS
from tests.support.console import (
    AUDITOR_TOKEN,
    ConsoleClient,
    field_errors,
    page_text,
    signed_in,
)
from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import ApiClient

GRACE_LABEL = "Grace period (seconds)"


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


def shown_secret(response: Any) -> str:
    found = re.search(
        r'<code class="copy-value" id="dev-secret"[^>]*>([^<]+)<', text(response)
    )
    assert found is not None, "the page shows no DevSecret"
    return found.group(1)


def history(api: ApiClient, key_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/keys/{key_id}/history").json["items"])


def flush(app: Flask) -> None:
    assert services_of(app).usage_flusher.flush()


# --------------------------------------------------------------------------
# roll
# --------------------------------------------------------------------------


def test_edit_page_offers_roll_with_a_grace_field(
    admin: ConsoleClient, key: dict[str, Any]
) -> None:
    page = text(admin.get(f"/console/keys/{key['id']}/edit"))
    assert f'<label for="grace_seconds">{GRACE_LABEL}</label>' in page
    assert 'name="grace_seconds" value="86400"' in page
    assert ">Roll DevSecret</button>" in page
    assert ">Confirm roll</button>" in page  # the in-place confirmation, hidden


def test_roll_asks_first_and_records_nothing_until_confirmed(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    before = history(api, key["id"])
    confirm = admin.get(f"/console/keys/{key['id']}/roll-secret?grace_seconds=3600")
    assert confirm.status_code == 200
    page = text(confirm)
    assert ">Confirm roll</button>" in page
    assert ">Cancel</a>" in page
    assert "keeps working for 3600 seconds" in page
    assert 'name="grace_seconds" value="3600"' in page
    assert history(api, key["id"]) == before
    assert api.get(f"/v1/keys/{key['id']}").json["previous_secret_expires_at"] is None


def test_roll_shows_the_new_secret_once_and_when_the_old_one_stops(
    app: Flask, admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    response = admin.post(
        f"/console/keys/{key['id']}/roll-secret", {"grace_seconds": "3600"}
    )
    assert response.status_code == 200
    page = text(response)
    assert "<h1>DevSecret rolled</h1>" in page
    new_secret = shown_secret(response)
    assert new_secret != key["dev_secret"]
    assert key["dev_secret"] not in page
    stored = api.get(f"/v1/keys/{key['id']}").json
    until = stored["previous_secret_expires_at"]
    assert until is not None
    assert f'still works until <strong><time datetime="{until}">' in page
    # Both secrets work during the grace.
    assert api.auth(key["dev_key"], new_secret).status_code == 200
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200

    details = text(admin.get(f"/console/keys/{key['id']}"))
    assert new_secret not in details  # shown once
    assert "The previous DevSecret, rolled away, still works until" in details
    assert f'<time datetime="{until}">' in details
    assert "DevSecret rolled" in details  # the history
    assert "Previous DevSecret works until" in details
    shown_until = until.replace("T", " ").replace("Z", " UTC")
    assert f'<span class="visually-hidden">to </span>{shown_until}' in details


@pytest.mark.parametrize("grace", ["0", "2592000"])
def test_roll_accepts_the_contract_limits(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any], grace: str
) -> None:
    response = admin.post(
        f"/console/keys/{key['id']}/roll-secret", {"grace_seconds": grace}
    )
    assert response.status_code == 200
    assert history(api, key["id"])[-1]["type"] == "secret_rolled"
    page = text(response)
    if grace == "0":
        assert "stopped working at once" in page
        assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 401
    else:
        assert "still works until" in page


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("-1", "must be between 0 and 2592000 inclusive"),
        ("2592001", "must be between 0 and 2592000 inclusive"),
        ("abc", "must be a whole number of seconds from 0 to 2592000"),
        ("", "must be a whole number of seconds from 0 to 2592000"),
        ("1.5", "must be a whole number of seconds from 0 to 2592000"),
        ("9" * 40, "must be a whole number of seconds from 0 to 2592000"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_grace_is_named_beside_its_field_and_rolls_nothing(
    admin: ConsoleClient,
    api: ApiClient,
    key: dict[str, Any],
    typed: str,
    says: str,
    method: str,
) -> None:
    before = history(api, key["id"])
    path = f"/console/keys/{key['id']}/roll-secret"
    if method == "GET":
        response = admin.get(path, query_string={"grace_seconds": typed})
    else:
        response = admin.post(path, {"grace_seconds": typed})
    assert response.status_code == 422
    errors = field_errors(response)
    assert errors == {"grace_seconds": f"{GRACE_LABEL} {says}."}
    page = text(response)
    assert "The DevSecret was not rolled" in page
    assert f'name="grace_seconds" value="{html.escape(typed)}"' in page
    assert 'aria-describedby="grace_seconds-hint grace_seconds-error"' in page
    assert history(api, key["id"]) == before


def test_roll_without_a_csrf_token_is_refused(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    response = admin.post(
        f"/console/keys/{key['id']}/roll-secret", {"grace_seconds": "60"}, csrf=False
    )
    assert response.status_code == 400
    assert "This form could not be accepted" in text(response)
    assert [item["type"] for item in history(api, key["id"])] == ["created"]


def test_roll_of_a_deleted_or_unknown_key_is_not_found(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    for key_id in (key["id"], "00000000-0000-0000-0000-000000000000", "nope"):
        response = admin.post(
            f"/console/keys/{key_id}/roll-secret", {"grace_seconds": "60"}
        )
        assert response.status_code == 404


def test_roll_is_recorded_in_history_audit_and_change_feed(
    app: Flask, api: ApiClient, key: dict[str, Any]
) -> None:
    services_of(app).operators.create("carol", "admin", "klo_carol-123456")
    carol = ConsoleClient(app.test_client())
    carol.sign_in("klo_carol-123456")
    response = carol.client.post(
        f"/console/keys/{key['id']}/roll-secret",
        data={"grace_seconds": "600", "csrf_token": carol.csrf()},
        headers={"X-Request-Id": "console-roll-7"},
        environ_base={"REMOTE_ADDR": "192.0.2.77"},
    )
    assert response.status_code == 200
    last = history(api, key["id"])[-1]
    assert last["type"] == "secret_rolled"
    assert last["actor"] == "carol"
    assert last["source_ip"] == "192.0.2.77"
    assert last["request_id"] == "console-roll-7"
    until = api.get(f"/v1/keys/{key['id']}").json["previous_secret_expires_at"]
    assert last["changes"] == {
        "previous_secret_expires_at": {"from": None, "to": until}
    }
    audit = api.get(f"/v1/audit?type=secret_rolled&key_id={key['id']}").json["items"]
    assert [(item["actor"], item["version"]) for item in audit] == [
        ("carol", last["version"])
    ]
    changes = api.get("/v1/changes?after=0").json["items"]
    assert [c["type"] for c in changes if c["key_id"] == key["id"]] == [
        "created",
        "secret_rolled",
    ]


# --------------------------------------------------------------------------
# restore
# --------------------------------------------------------------------------


def test_deleted_keys_are_reached_from_the_list(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    page = text(admin.get("/console/"))
    assert 'href="/console/audit?type=deleted">Deleted keys</a>' in page
    assert api.delete(key["id"]).status_code == 204
    deleted = text(admin.get("/console/audit?type=deleted"))
    assert f'href="/console/keys/{key["id"]}"' in deleted


def test_deleted_key_page_offers_restore_behind_a_confirmation(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    page = text(admin.get(f"/console/keys/{key['id']}"))
    assert "This key was deleted" in page
    assert f'<p class="lede mono">{key["dev_key"]}</p>' in page
    assert ">Restore</button>" in page
    assert ">Confirm restore</button>" in page  # in place, hidden until asked
    assert ">Edit</button>" not in page
    confirm = admin.get(f"/console/keys/{key['id']}/restore")
    assert confirm.status_code == 200
    assert f"Restore key {key['dev_key']}?" in text(confirm)
    assert ">Confirm restore</button>" in text(confirm)
    assert [item["type"] for item in history(api, key["id"])] == ["created", "deleted"]


def test_restore_brings_the_key_back_disabled_then_enable_lets_it_in(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    path = f"/console/keys/{key['id']}"
    response = admin.post(f"{path}/restore")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(path)
    page = text(admin.get(path))
    assert "restored, disabled" in page
    assert ">Enable</button>" in page
    assert "This key was deleted" not in page
    assert api.get(f"/v1/keys/{key['id']}").json["status"] == "disabled"
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 403

    assert admin.post(f"{path}/enable").status_code == 303
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
    items = history(api, key["id"])
    assert [(i["type"], i["actor"]) for i in items[-2:]] == [
        ("restored", "admin"),
        ("enabled", "admin"),
    ]
    assert items[-2]["changes"] == {"status": {"from": "deleted", "to": "disabled"}}
    assert "Restored" in text(admin.get(path))  # the history on the page
    audit = api.get(f"/v1/audit?type=restored&key_id={key['id']}").json["items"]
    assert len(audit) == 1
    changes = api.get("/v1/changes?after=0").json["items"]
    assert "restored" in [c["type"] for c in changes if c["key_id"] == key["id"]]


def test_restore_of_a_key_that_is_not_deleted_changes_nothing(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    path = f"/console/keys/{key['id']}/restore"
    refused = admin.post(path)
    assert refused.status_code == 409
    assert "Nothing to restore" in text(refused)
    opened = admin.get(path)  # e.g. restored meanwhile: its page shows it
    assert opened.status_code == 303
    assert opened.headers["Location"].endswith(f"/console/keys/{key['id']}")
    assert [item["type"] for item in history(api, key["id"])] == ["created"]
    unknown = admin.post("/console/keys/00000000-0000-0000-0000-000000000000/restore")
    assert unknown.status_code == 404


def test_restore_without_a_csrf_token_is_refused(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    response = admin.post(f"/console/keys/{key['id']}/restore", csrf=False)
    assert response.status_code == 400
    assert api.get(f"/v1/keys/{key['id']}").status_code == 404


# --------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------


def test_auditor_sees_neither_roll_nor_restore(
    auditor: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    live = text(auditor.get(f"/console/keys/{key['id']}"))
    assert "Usage" in live
    gone = api.create_key(description="gone")
    assert api.delete(gone["id"]).status_code == 204
    deleted = text(auditor.get(f"/console/keys/{gone['id']}"))
    assert "This key was deleted" in deleted
    for page in (live, deleted):
        for label in ("Roll DevSecret", "Confirm roll", ">Restore<", "Confirm restore"):
            assert label not in page
        assert "grace_seconds" not in page


@pytest.mark.parametrize("action", ["roll-secret", "restore"])
def test_auditor_cannot_roll_or_restore(
    auditor: ConsoleClient, api: ApiClient, key: dict[str, Any], action: str
) -> None:
    gone = api.create_key(description="gone")
    assert api.delete(gone["id"]).status_code == 204
    for target in (key["id"], gone["id"]):
        before = history(api, target)
        path = f"/console/keys/{target}/{action}"
        assert auditor.get(f"{path}?grace_seconds=60").status_code == 403
        assert auditor.post(path, {"grace_seconds": "60"}).status_code == 403
        assert (
            auditor.post(path, {"grace_seconds": "60"}, csrf=False).status_code == 403
        )
        assert history(api, target) == before


# --------------------------------------------------------------------------
# usage and last use
# --------------------------------------------------------------------------


def usage_rows(page: str) -> list[list[str]]:
    body = page.split('<table class="data usage-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def test_usage_columns_are_the_api_denial_reasons() -> None:
    assert tuple(DENIAL_LABELS) == DENIAL_REASONS


def test_details_show_last_use_and_the_usage_the_api_reports(
    app: Flask, admin: ConsoleClient, api: ApiClient
) -> None:
    made = api.create_key(permissions=["send"], ip_whitelist=["203.0.113.0/24"])
    path = f"/console/keys/{made['id']}"
    fresh = text(admin.get(path))
    assert "<dt>Last used</dt><dd>Never</dd>" in fresh
    assert all(row[1:] == ["0"] * 5 for row in usage_rows(fresh))

    for _ in range(2):
        assert api.auth(made["dev_key"], made["dev_secret"]).status_code == 200
    api.auth(made["dev_key"], made["dev_secret"], client_ip="198.51.100.1")
    api.auth(made["dev_key"], made["dev_secret"], api="verify")
    api.auth(made["dev_key"], "kls_wrong")  # proves nothing about the key
    flush(app)

    page = text(admin.get(path))
    last_used = api.get(f"/v1/keys/{made['id']}").json["last_used_at"]
    assert last_used is not None
    assert f'<dt>Last used</dt><dd><time datetime="{last_used}">' in page
    rows = usage_rows(page)
    assert len(rows) == 7
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    # Newest first: today's counts, as the API's usage call reports them.
    answer = api.get(f"/v1/keys/{made['id']}/usage?bucket=day").json["items"][-1]
    assert answer["start"].startswith(rows[0][0])
    assert rows[0] == [today, "2", "0", "0", "1", "1"]
    assert rows[0][1:] == [
        str(answer["allowed"]),
        *(str(answer["denied"][reason]) for reason in DENIAL_REASONS),
    ]
    days = [datetime.strptime(row[0], "%Y-%m-%d") for row in rows]
    assert days == sorted(days, reverse=True)
    assert days[0] - days[-1] == timedelta(days=6)


def test_a_deleted_key_shows_no_usage(
    admin: ConsoleClient, api: ApiClient, key: dict[str, Any]
) -> None:
    assert api.delete(key["id"]).status_code == 204
    page = text(admin.get(f"/console/keys/{key['id']}"))
    assert "usage-table" not in page
    assert "Last used" not in page
