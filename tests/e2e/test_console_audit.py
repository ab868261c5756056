"""The console's audit log page and its exports, on both stores."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.console import ConsoleClient
from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import ApiClient


@pytest.fixture
def admin(client: FlaskClient) -> ConsoleClient:
    console = ConsoleClient(client)
    console.sign_in(ADMIN_TOKEN)
    return console


@pytest.fixture
def keys(api: ApiClient) -> list[dict[str, Any]]:
    made = [api.create_key(description=f"key {n}") for n in range(3)]
    api.action(made[1]["id"], "disable")
    return made


def test_audit_page_lists_events_with_filters_and_exports(
    admin: ConsoleClient, keys: list[dict[str, Any]]
) -> None:
    page = admin.get("/console/audit").get_data(as_text=True)
    assert "<h1>Audit log</h1>" in page
    for label in ("Actor", "Type", "Since", "Until"):
        assert f">{label}</label>" in page
    assert ">Apply</button>" in page
    assert ">Export CSV</a>" in page
    assert ">Export JSONL</a>" in page
    assert page.count("<tr>") == 1 + 4  # header + 3 created + 1 disabled


def test_audit_filters_by_type(
    admin: ConsoleClient, keys: list[dict[str, Any]]
) -> None:
    page = admin.get("/console/audit?type=disabled").get_data(as_text=True)
    assert page.count("<tr>") == 2
    assert keys[1]["dev_key"] in page


def test_bad_filters_are_named_beside_their_fields(admin: ConsoleClient) -> None:
    response = admin.get("/console/audit?since=soon&type=exploded")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="since-error"' in page
    assert 'id="type-error"' in page


def test_exports_download_through_the_session(
    admin: ConsoleClient, api: ApiClient, keys: list[dict[str, Any]]
) -> None:
    jsonl = admin.get("/console/audit/export?format=jsonl&actor=admin")
    assert jsonl.status_code == 200
    assert "attachment" in jsonl.headers["Content-Disposition"]
    lines = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    feed = api.get("/v1/audit").json["items"]
    assert lines == feed
    exported = admin.get("/console/audit/export?format=csv&type=created")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [row["key_id"] for row in rows] == [key["id"] for key in keys]


def test_exports_need_a_session(client: FlaskClient) -> None:
    response = client.get("/console/audit/export?format=csv")
    assert response.status_code == 303


def test_audit_pages(admin: ConsoleClient, api: ApiClient) -> None:
    for n in range(26):
        made = api.create_key(description=f"k{n}")
        api.action(made["id"], "disable")
    first = admin.get("/console/audit").get_data(as_text=True)
    assert "Next page" in first
    assert first.count("<tr>") == 1 + 50
