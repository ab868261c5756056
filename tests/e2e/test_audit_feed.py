"""GET /v1/audit: filters, cursor paging under concurrent writes, validation,
and the NDJSON/CSV exports (HTTP and CLI), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service import cli
from tests.conftest import SECRET_KEY, ApiClient

Item = dict[str, Any]
QUOTED = 'payments, "EU" backend, café ✓'


@dataclass
class Feed:
    """Two keys changed by two operators; ``items`` is the whole feed."""

    first: str
    second: str
    bob: ApiClient
    items: list[Item]


def whole_feed(api: ApiClient, query: str = "") -> list[Item]:
    response = api.get(f"/v1/audit?limit=500{query}")
    assert response.status_code == 200, response.json
    assert response.json["next"] is None
    return list(response.json["items"])


@pytest.fixture
def feed(app: Flask, api: ApiClient) -> Feed:
    bob = api.as_token(app.extensions["keyledger"].operators.create("bob", "admin"))
    first = api.create_key(description=QUOTED)["id"]
    second = bob.create_key(permissions=["send"])["id"]
    api.patch(first, {"description": 'said "hi", left'})
    bob.action(second, "disable")
    assert api.get(f"/v1/keys/{first}/secret").status_code == 200
    bob.patch(second, {"ip_whitelist": ["198.51.100.0/24", "2001:db8::1"]})
    api.action(first, "disable")
    bob.delete(second)
    return Feed(first, second, bob, whole_feed(api))


def times(feed: Feed) -> list[str]:
    return [item["occurred_at"] for item in feed.items]


# Each case: the query string for a feed, and which of its items it selects.
FILTERS: dict[str, tuple[Callable[[Feed], str], Callable[[Feed, Item], bool]]] = {
    "key_id": (
        lambda f: f"key_id={f.first}",
        lambda f, i: i["key_id"] == f.first,
    ),
    "actor": (lambda f: "actor=bob", lambda f, i: i["actor"] == "bob"),
    "type": (lambda f: "type=disabled", lambda f, i: i["type"] == "disabled"),
    "since": (
        lambda f: f"since={times(f)[3]}",
        lambda f, i: i["occurred_at"] >= times(f)[3],
    ),
    "until": (
        lambda f: f"until={times(f)[3]}",
        lambda f, i: i["occurred_at"] <= times(f)[3],
    ),
    "since_and_until": (
        lambda f: f"since={times(f)[2]}&until={times(f)[5]}",
        lambda f, i: times(f)[2] <= i["occurred_at"] <= times(f)[5],
    ),
    "key_id_and_type": (
        lambda f: f"key_id={f.second}&type=disabled",
        lambda f, i: i["key_id"] == f.second and i["type"] == "disabled",
    ),
    "actor_and_since": (
        lambda f: f"actor=admin&since={times(f)[2]}",
        lambda f, i: i["actor"] == "admin" and i["occurred_at"] >= times(f)[2],
    ),
    "all_at_once": (
        lambda f: (
            f"key_id={f.second}&actor=bob&type=ip_whitelist_changed"
            f"&since={times(f)[0]}&until={times(f)[-1]}"
        ),
        lambda f, i: i["key_id"] == f.second and i["type"] == "ip_whitelist_changed",
    ),
    # The last few events: the store seeks to them through the time index.
    "since_recent": (
        lambda f: f"since={times(f)[6]}",
        lambda f, i: i["occurred_at"] >= times(f)[6],
    ),
    "matching_nothing": (lambda f: "actor=nobody", lambda f, i: False),
    "since_after_everything": (
        lambda f: "since=2999-01-01T00:00:00Z",
        lambda f, i: False,
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filters_select_exactly_their_items_in_recorded_order(
    api: ApiClient, feed: Feed, name: str
) -> None:
    query, selects = FILTERS[name]
    expected = [item for item in feed.items if selects(feed, item)]

    assert whole_feed(api, "&" + query(feed)) == expected
    assert expected or name in ("matching_nothing", "since_after_everything")


def test_the_feed_holds_every_event_in_recorded_order(feed: Feed) -> None:
    assert [(i["key_id"] == feed.first, i["type"]) for i in feed.items] == [
        (True, "created"),
        (False, "created"),
        (True, "description_changed"),
        (False, "disabled"),
        (True, "secret_revealed"),
        (False, "ip_whitelist_changed"),
        (True, "disabled"),
        (False, "deleted"),
    ]


def test_times_are_rfc3339_utc_with_microseconds(feed: Feed) -> None:
    pattern = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

    assert all(pattern.fullmatch(t) for t in times(feed))


def test_pages_have_no_gaps_or_duplicates_while_events_arrive(
    api: ApiClient, feed: Feed
) -> None:
    read: list[Item] = []
    page = api.get("/v1/audit?limit=3").json
    for round_number in range(5):
        read += page["items"]
        # Two new events per page of three: the reader falls behind, then
        # catches up once the writes stop.
        api.patch(feed.first, {"description": f"round {round_number}"})
        api.get(f"/v1/keys/{feed.first}/secret")
        assert page["next"] is not None
        page = api.get(f"/v1/audit?limit=3&after={page['next']}").json
    while True:
        read += page["items"]
        if page["next"] is None:
            break
        page = api.get(f"/v1/audit?limit=3&after={page['next']}").json

    everything = whole_feed(api)
    assert len(everything) == len(feed.items) + 10
    assert read == everything


@pytest.mark.parametrize(
    ("query", "count"),
    [
        (lambda f: f"actor=admin&key_id={f.first}", 4),
        (lambda f: f"since={times(f)[5]}", 3),
        (lambda f: f"since={times(f)[1]}&until={times(f)[6]}", 6),
    ],
    ids=["actor_and_key", "since_recent", "since_and_until"],
)
def test_filtered_pages_concatenate_to_the_filtered_feed(
    api: ApiClient, feed: Feed, query: Callable[[Feed], str], count: int
) -> None:
    read: list[Item] = []
    url = f"/v1/audit?limit=1&{query(feed)}"
    page = api.get(url).json
    while page["next"] is not None:
        assert len(page["items"]) == 1
        read += page["items"]
        page = api.get(f"{url}&after={page['next']}").json
    read += page["items"]

    assert read == whole_feed(api, f"&{query(feed)}")
    assert len(read) == count


def test_the_last_full_page_says_there_is_no_next(api: ApiClient, feed: Feed) -> None:
    page = api.get(f"/v1/audit?limit={len(feed.items)}").json

    assert page == {"items": feed.items, "next": None}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


KEY_LIST_CURSOR = _cursor("1700000000000000:5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("after=garbage!", "after"),
        (f"after={_cursor('audit:0')}", "after"),
        (f"after={KEY_LIST_CURSOR}", "after"),
        ("type=bogus", "type"),
        ("type=Created", "type"),
        ("key_id=not-a-uuid", "key_id"),
        ("actor=", "actor"),
        ("since=yesterday", "since"),
        ("since=2027-01-31", "since"),
        ("until=2027-01-31T00:00:00", "until"),
        ("since=2027-01-31T00:00:00Z&until=2027-01-30T00:00:00Z", "until"),
        ("format=xml", "format"),
        ("format=csv&limit=0", "limit"),
        ("acter=alice", "acter"),  # a typo is refused, not ignored
    ],
)
def test_invalid_query_parameters_are_422_naming_the_field(
    api: ApiClient, query: str, field: str
) -> None:
    response = api.get(f"/v1/audit?{query}")

    assert response.status_code == 422
    assert list(response.json["errors"]) == [field]
    assert field in response.json["message"]


def _items_from_csv(text: str) -> tuple[list[str], list[Item]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    items = [
        {
            **row,
            "position": int(row["position"]),
            "version": int(row["version"]),
            "source_ip": row["source_ip"] or None,
            "request_id": row["request_id"] or None,
            "changes": json.loads(row["changes"]),
        }
        for row in reader
    ]
    return list(reader.fieldnames or []), items


def test_csv_export_parses_back_to_the_json_items(api: ApiClient, feed: Feed) -> None:
    response = api.get("/v1/audit?format=csv")
    header, items = _items_from_csv(response.text)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert header == list(feed.items[0])
    assert items == feed.items


def test_csv_quotes_descriptions_with_commas_and_quotes(
    api: ApiClient, feed: Feed
) -> None:
    text = api.get(f"/v1/audit?format=csv&key_id={feed.first}").text
    _, items = _items_from_csv(text)

    assert items[0]["changes"]["description"]["to"] == QUOTED
    assert items[1]["changes"]["description"] == {
        "from": QUOTED,
        "to": 'said "hi", left',
    }
    assert text.endswith("\r\n")
    assert text.count("\r\n") == len(items) + 1  # no row broke across lines


def test_csv_export_of_nothing_is_the_header_alone(api: ApiClient, feed: Feed) -> None:
    text = api.get("/v1/audit?format=csv&actor=nobody").text

    assert text == ",".join(feed.items[0]) + "\r\n"


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?format=jsonl", {}), ("", {"Accept": "application/x-ndjson"})],
    ids=["format", "accept"],
)
def test_ndjson_lines_parse_back_to_the_json_feed(
    api: ApiClient, feed: Feed, query: str, headers: dict[str, str]
) -> None:
    response = api.get(f"/v1/audit{query}", headers=headers)
    lines = response.text.splitlines()

    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Vary"] == "Accept"
    assert [json.loads(line) for line in lines] == feed.items


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_exports_name_a_file(api: ApiClient, feed: Feed, form: str) -> None:
    response = api.get(f"/v1/audit?format={form}")
    assert response.data

    assert re.fullmatch(
        rf'attachment; filename="keyledger-audit-\d{{8}}T\d{{6}}Z\.{form}"',
        response.headers["Content-Disposition"],
    )


def test_exports_take_filters_and_ignore_the_page_size(
    api: ApiClient, feed: Feed
) -> None:
    text = api.get("/v1/audit?format=jsonl&actor=bob&limit=1").text

    assert [json.loads(line) for line in text.splitlines()] == whole_feed(
        api, "&actor=bob"
    )


def test_exports_resume_after_a_cursor(api: ApiClient, feed: Feed) -> None:
    cursor = api.get("/v1/audit?limit=5").json["next"]

    text = api.get(f"/v1/audit?format=jsonl&after={cursor}").text

    assert [json.loads(line) for line in text.splitlines()] == feed.items[5:]


def test_an_export_shows_the_log_as_it_stood_when_asked(
    api: ApiClient, feed: Feed
) -> None:
    response = api.get("/v1/audit?format=jsonl")  # not read yet: streamed

    api.patch(feed.first, {"description": "written while exporting"})

    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == feed.items
    assert len(whole_feed(api)) == len(feed.items) + 1


def _cli_export(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *args: str,
) -> str:
    monkeypatch.setenv("KEYLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("KEYLEDGER_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("KEYLEDGER_LOG_LEVEL", "WARNING")
    capsys.readouterr()
    assert cli.main(["audit", "export", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("form", ["jsonl", "csv"])
@pytest.mark.parametrize(
    "selection",
    [
        [],
        ["--actor", "bob", "--type", "disabled"],
        ["--key-id", "{first}", "--since", "{t2}", "--until", "{t5}"],
    ],
    ids=["everything", "actor_and_type", "key_and_times"],
)
def test_cli_export_equals_the_http_export(
    api: ApiClient,
    feed: Feed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    form: str,
    selection: list[str],
) -> None:
    names = {"first": feed.first, "t2": times(feed)[2], "t5": times(feed)[5]}
    args = [arg.format(**names) for arg in selection]
    query = "".join(
        f"&{flag[2:].replace('-', '_')}={value}"
        for flag, value in zip(args[::2], args[1::2], strict=True)
    )
    http = api.get(f"/v1/audit?format={form}{query}").text

    printed = _cli_export(monkeypatch, capsys, database_url, "--format", form, *args)

    assert printed == http
    header = 1 if form == "csv" else 0
    assert len(printed.splitlines()) > header  # at least one item selected


def test_cli_export_writes_the_output_file_byte_for_byte(
    api: ApiClient,
    feed: Feed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    tmp_path: Path,
) -> None:
    target = tmp_path / "audit.csv"

    printed = _cli_export(
        monkeypatch, capsys, database_url, "--format", "csv", "--output", str(target)
    )

    assert printed == ""
    assert target.read_bytes() == api.get("/v1/audit?format=csv").data


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "yesterday"],
        ["--key-id", "not-a-uuid"],
        ["--type", "bogus"],
        ["--format", "xml"],
    ],
)
def test_cli_export_refuses_invalid_arguments(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["audit", "export", *args])

    assert exit_info.value.code == 2
    assert args[0] in capsys.readouterr().err
