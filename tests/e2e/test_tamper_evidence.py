"""Tamper evidence through the API and the command line (api.md, "Tamper
evidence"): what an auditor fetches, verifies offline, and what the store
verifier reports, on both stores. Checkpoints every 3 events here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from projections.chain_verify import checkpoints_from_body
from projections.checkpoints import VerificationKeys
from service.api.context import services_of
from service.audit_signing import read_signing_keys, rotate_signing_key
from service.cli import main
from tests.conftest import open_app
from tests.support.credentials import SECRET_KEY
from tests.support.http import ApiClient
from tests.support.sql import POSTGRES_URL

EVERY = 3


@pytest.fixture
def app(config: dict[str, Any]) -> Iterator[Flask]:
    application = open_app({**config, "audit_checkpoint_every": EVERY})
    yield application
    services_of(application).close()


@pytest.fixture
def history(api: ApiClient) -> list[dict[str, Any]]:
    """Seven events: three keys created, one changed, one disabled, one
    revealed, one deleted."""
    keys = [api.create_key(description=f"key {n}") for n in range(3)]
    assert api.patch(keys[0]["id"], {"description": "renamed"}).status_code == 200
    assert api.action(keys[1]["id"], "disable").status_code == 200
    assert api.get(f"/v1/keys/{keys[2]['id']}/secret").status_code == 200
    assert api.delete(keys[2]["id"]).status_code == 204
    return keys


@pytest.fixture
def auditor(app: Flask, api: ApiClient) -> ApiClient:
    token = services_of(app).operators.create("audrey", "auditor")
    return api.as_token(token)


def test_every_audit_item_carries_its_position_and_link(
    api: ApiClient, history: list[dict[str, Any]]
) -> None:
    items = api.get("/v1/audit").json["items"]
    lines = api.get("/v1/audit?format=jsonl").text.splitlines()

    assert [item["position"] for item in items] == list(range(1, 8))
    assert all(len(item["hash"]) == 64 for item in items)
    assert len({item["hash"] for item in items}) == 7
    assert [json.loads(line) for line in lines] == items
    key_history = api.get(f"/v1/keys/{history[0]['id']}/history").json["items"]
    assert key_history == [items[0], items[3]]


def test_the_auditor_reads_checkpoints_key_and_verdict(
    auditor: ApiClient, history: list[dict[str, Any]]
) -> None:
    checkpoints = auditor.get("/v1/audit/checkpoints")
    key = auditor.get("/v1/audit/public-key")
    verdict = auditor.get("/v1/audit/verify")

    assert checkpoints.status_code == key.status_code == verdict.status_code == 200
    assert [c["position"] for c in checkpoints.json["items"]] == [3, 6]
    assert key.mimetype == "application/x-pem-file"
    assert key.text.startswith("-----BEGIN PUBLIC KEY-----")
    items = auditor.get("/v1/audit").json["items"]
    assert verdict.json == {
        "verified": True,
        "events": 7,
        "head": {"position": 7, "hash": items[-1]["hash"]},
        "signed_through": 6,
        "problem": None,
    }
    keys = VerificationKeys.from_pem(key.text)
    for checkpoint in checkpoints_from_body(checkpoints.json):
        assert keys.problem(checkpoint) is None
        assert checkpoint.hash == items[checkpoint.position - 1]["hash"]


@pytest.mark.parametrize(
    "path", ["/v1/audit/checkpoints", "/v1/audit/public-key", "/v1/audit/verify"]
)
def test_the_tamper_evidence_needs_an_operator(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def fetch_evidence(api: ApiClient, folder: Path) -> dict[str, Path]:
    """What an auditor saves: the whole log, the checkpoints, the key."""
    files = {
        "export": ("/v1/audit?format=jsonl", "audit.jsonl"),
        "checkpoints": ("/v1/audit/checkpoints", "checkpoints.json"),
        "public-key": ("/v1/audit/public-key", "audit-key.pem"),
    }
    saved = {}
    for option, (path, name) in files.items():
        response = api.get(path)
        assert response.status_code == 200
        (folder / name).write_bytes(response.data)
        saved[option] = folder / name
    return saved


def verify_offline(files: dict[str, Path]) -> list[str]:
    arguments = ["audit", "verify"]
    for option, path in files.items():
        arguments += [f"--{option}", str(path)]
    return arguments


def test_an_export_verifies_offline(
    api: ApiClient,
    history: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = fetch_evidence(api, tmp_path)

    assert main(verify_offline(files)) == 0
    assert "intact: 7 events" in capsys.readouterr().out


def test_an_edited_export_line_is_found_offline(
    api: ApiClient,
    history: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = fetch_evidence(api, tmp_path)
    lines = files["export"].read_text().splitlines(keepends=True)
    item = json.loads(lines[4])
    item["actor"] = "someone-else"
    lines[4] = json.dumps(item) + "\n"
    files["export"].write_text("".join(lines))

    assert main(verify_offline(files)) == 1
    assert "position 5" in capsys.readouterr().err


def test_offline_verification_refuses_a_key_that_did_not_sign(
    api: ApiClient,
    history: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = fetch_evidence(api, tmp_path)
    stranger = tmp_path / "stranger.pem"
    rotate_signing_key(stranger)
    files["public-key"].write_text(read_signing_keys(stranger).public_pem())

    assert main(verify_offline(files)) == 1
    assert "position 3: checkpoint signed by unknown key" in capsys.readouterr().err


def test_the_offline_verifier_needs_all_three_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--export", str(tmp_path / "a.jsonl")]) == 2
    assert "--checkpoints" in capsys.readouterr().err


@pytest.fixture
def cli_environment(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("KEYLEDGER_DATABASE_URL", config["database_url"])
    monkeypatch.setenv("KEYLEDGER_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("KEYLEDGER_LOG_LEVEL", "WARNING")
    return config


def test_the_command_verifies_the_store_and_names_the_first_bad_position(
    api: ApiClient,
    history: list[dict[str, Any]],
    cli_environment: dict[str, Any],
    store_kind: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 7

    edit = "UPDATE keyledger_audit SET actor = 'x' WHERE notification_id = 4"
    if store_kind == "sqlite":
        path = cli_environment["database_url"][len("sqlite:///") :]
        with sqlite3.connect(path) as conn:
            conn.execute(edit)
    else:
        schema = cli_environment["database_url"].rsplit("schema=", 1)[1]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(edit)

    assert main(["audit", "verify"]) == 1
    assert "position 4" in capsys.readouterr().err
