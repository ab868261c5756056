"""GET /v1/keys/{id}/history over a key's whole life, on SQLite and PostgreSQL:
what each item says, who it names, and that no secret ever leaks into it."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from flask import Flask

from tests.support.http import ApiClient

ITEM_FIELDS = [
    "position",
    "key_id",
    "version",
    "type",
    "occurred_at",
    "actor",
    "source_ip",
    "request_id",
    "changes",
]
OCCURRED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@dataclass
class Lifecycle:
    key_id: str
    dev_key: str
    request_ids: list[str]
    secrets: list[str]
    secret_values: list[str]  # the secrets, their hashes and sealed forms


def _step(api: ApiClient, method: str, path: str, request_id: str, **kw: Any) -> Any:
    headers = {**api.headers, "X-Request-Id": request_id}
    response = api.client.open(path, method=method, headers=headers, **kw)
    expected = {"POST /v1/keys": 201, "DELETE": 204}.get(
        method if method == "DELETE" else f"{method} {path}", 200
    )
    assert response.status_code == expected, response.json
    return response


def live_through_a_lifecycle(app: Flask, api: ApiClient) -> Lifecycle:
    """Create, every kind of edit, reset, reveal, disable, enable, delete:
    one event per request, each request with its own X-Request-Id."""
    request_ids = [f"req-{n}" for n in range(1, 11)]
    created = _step(
        api,
        "POST",
        "/v1/keys",
        request_ids[0],
        json={"description": "payments backend, prod", "permissions": ["send"]},
    ).json
    key = f"/v1/keys/{created['id']}"
    edits = [
        {"description": 'payments "EU", prod'},
        {"expires_at": "2099-01-31"},
        {"ip_whitelist": ["203.0.113.0/24"]},
        {"permissions": ["verify", "send"]},
    ]
    for request_id, body in zip(request_ids[1:5], edits, strict=True):
        _step(api, "PATCH", key, request_id, json=body)
    reset = _step(api, "POST", f"{key}/reset-secret", request_ids[5]).json
    revealed = _step(api, "GET", f"{key}/secret", request_ids[6]).json
    _step(api, "POST", f"{key}/disable", request_ids[7])
    _step(api, "POST", f"{key}/enable", request_ids[8])
    _step(api, "DELETE", key, request_ids[9])

    ledger = app.extensions["keyledger"].ledger
    secrets = [created["dev_secret"], reset["dev_secret"], revealed["dev_secret"]]
    sealed = [
        ledger.repository.get(UUID(created["id"]), version=v).sealed_secret
        for v in (1, 6)
    ]
    return Lifecycle(
        key_id=created["id"],
        dev_key=created["dev_key"],
        request_ids=request_ids,
        secrets=secrets,
        secret_values=[
            *secrets,
            *(ledger.sealer.secret_hash(s) for s in secrets),
            *sealed,
        ],
    )


@pytest.fixture
def lifecycle(app: Flask, api: ApiClient) -> Lifecycle:
    return live_through_a_lifecycle(app, api)


def history(api: ApiClient, key_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/keys/{key_id}/history")
    assert response.status_code == 200, response.json
    assert list(response.json) == ["items"]
    return list(response.json["items"])


def test_history_lists_every_change_oldest_first(
    api: ApiClient, lifecycle: Lifecycle
) -> None:
    items = history(api, lifecycle.key_id)

    assert [(i["version"], i["type"]) for i in items] == [
        (1, "created"),
        (2, "description_changed"),
        (3, "expiry_changed"),
        (4, "ip_whitelist_changed"),
        (5, "permissions_changed"),
        (6, "secret_reset"),
        (7, "secret_revealed"),
        (8, "disabled"),
        (9, "enabled"),
        (10, "deleted"),
    ]


def test_history_items_carry_field_level_changes(
    api: ApiClient, lifecycle: Lifecycle
) -> None:
    items = history(api, lifecycle.key_id)

    assert [i["changes"] for i in items] == [
        {
            "dev_key": {"from": None, "to": lifecycle.dev_key},
            "description": {"from": None, "to": "payments backend, prod"},
            "expires_at": {"from": None, "to": None},
            "ip_whitelist": {"from": None, "to": []},
            "permissions": {"from": None, "to": ["send"]},
            "status": {"from": None, "to": "enabled"},
        },
        {
            "description": {
                "from": "payments backend, prod",
                "to": 'payments "EU", prod',
            }
        },
        {"expires_at": {"from": None, "to": "2099-01-31T23:59:59Z"}},
        {"ip_whitelist": {"from": [], "to": ["203.0.113.0/24"]}},
        {"permissions": {"from": ["send"], "to": ["send", "verify"]}},
        {},
        {},
        {"status": {"from": "enabled", "to": "disabled"}},
        {"status": {"from": "disabled", "to": "enabled"}},
        {},
    ]


def test_history_items_name_actor_source_ip_and_request_id(
    api: ApiClient, lifecycle: Lifecycle
) -> None:
    items = history(api, lifecycle.key_id)

    assert [(i["actor"], i["source_ip"], i["request_id"]) for i in items] == [
        ("admin", "127.0.0.1", request_id) for request_id in lifecycle.request_ids
    ]


def test_history_items_have_the_contract_shape_and_rising_times(
    api: ApiClient, lifecycle: Lifecycle
) -> None:
    items = history(api, lifecycle.key_id)

    assert all(list(i) == ITEM_FIELDS for i in items)
    assert all(i["key_id"] == lifecycle.key_id for i in items)
    assert all(OCCURRED_AT.fullmatch(i["occurred_at"]) for i in items)
    times = [i["occurred_at"] for i in items]
    assert times == sorted(times)


def test_history_stays_readable_after_delete(
    api: ApiClient, lifecycle: Lifecycle
) -> None:
    assert api.get(f"/v1/keys/{lifecycle.key_id}").status_code == 404
    assert history(api, lifecycle.key_id)[-1]["type"] == "deleted"


def test_history_holds_only_its_own_key(api: ApiClient) -> None:
    first, second = api.create_key(), api.create_key()
    api.action(second["id"], "disable")

    assert [i["key_id"] for i in history(api, first["id"])] == [first["id"]]


@pytest.mark.parametrize(
    "key_id",
    ["5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10", "not-a-uuid", "1234"],
    ids=["unknown", "malformed", "number"],
)
def test_history_of_a_key_that_never_existed_is_404(
    api: ApiClient, key_id: str
) -> None:
    response = api.get(f"/v1/keys/{key_id}/history")

    assert response.status_code == 404
    assert response.json["message"] == "no such key"


def test_history_needs_an_operator_token(api: ApiClient) -> None:
    key = api.create_key()

    response = api.client.get(f"/v1/keys/{key['id']}/history")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


OUTPUTS = {
    "history": "/v1/keys/{id}/history",
    "audit": "/v1/audit",
    "jsonl": "/v1/audit?format=jsonl",
    "csv": "/v1/audit?format=csv",
}


def _keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys_of(inner)


@pytest.mark.parametrize("output", OUTPUTS)
def test_no_secret_hash_or_sealed_secret_appears_in_any_output(
    api: ApiClient, lifecycle: Lifecycle, output: str
) -> None:
    text = api.get(OUTPUTS[output].format(id=lifecycle.key_id)).text

    assert lifecycle.key_id in text  # the output did cover the key
    assert not [value for value in lifecycle.secret_values if value in text]
    assert "secret_hash" not in text
    assert "sealed_secret" not in text
    assert "dev_secret" not in text


def test_no_item_has_a_secret_field_at_any_depth(
    api: ApiClient, lifecycle: Lifecycle
) -> None:
    items = history(api, lifecycle.key_id)
    rows = csv.DictReader(io.StringIO(api.get("/v1/audit?format=csv").text))
    changes = [json.loads(row["changes"]) for row in rows]

    names = set(_keys_of(items)) | set(_keys_of(changes))
    assert not {n for n in names if "secret" in n or "hash" in n}


@pytest.fixture
def auditor(app: Flask, api: ApiClient) -> ApiClient:
    token = app.extensions["keyledger"].operators.create("carol", "auditor")
    return api.as_token(token)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/keys/{id}/history",
        "/v1/audit",
        "/v1/audit?key_id={id}&type=deleted",
        "/v1/audit?format=jsonl",
        "/v1/audit?format=csv",
    ],
)
def test_an_auditor_reads_what_an_admin_reads(
    api: ApiClient, auditor: ApiClient, lifecycle: Lifecycle, path: str
) -> None:
    url = path.format(id=lifecycle.key_id)

    # Read each streamed body before the next request: an unread stream
    # keeps its request context open.
    as_auditor = auditor.get(url)
    auditor_body = as_auditor.data

    assert as_auditor.status_code == 200
    assert auditor_body == api.get(url).data


def test_reading_history_and_audit_records_nothing(
    api: ApiClient, auditor: ApiClient, lifecycle: Lifecycle
) -> None:
    before = api.get("/v1/audit?format=jsonl").text

    for path in OUTPUTS.values():
        response = auditor.get(path.format(id=lifecycle.key_id))
        assert response.data
        assert response.status_code == 200

    assert api.get("/v1/audit?format=jsonl").text == before
