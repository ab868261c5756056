"""The audit trail's NDJSON/CSV exports, over HTTP and through the CLI, on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from service import cli
from tests.e2e.audit_feeds import QUOTED, Feed, Item, times, whole_feed
from tests.support.credentials import SECRET_KEY
from tests.support.http import ApiClient


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
