"""The ``keyledger`` command, run as operators run it: a real subprocess on
a real store, judged by its exit code, stdout and stderr."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain import AuditContext, recording_as
from service.audit_signing import SETTING as SIGNING_KEY_SETTING
from service.wiring import Services
from tests.conftest import open_services
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY

KEYLEDGER = str(Path(sys.executable).with_name("keyledger"))
OPERATOR = AuditContext("alice", "192.0.2.10", "req-cli")
TOKEN = re.compile(r"^klo_[A-Za-z0-9_-]{20,}$")


def run(
    database_url: str | None, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("KEYLEDGER_")
    }
    if database_url is not None:
        environment["KEYLEDGER_DATABASE_URL"] = database_url
        environment["KEYLEDGER_SECRET_KEY"] = SECRET_KEY
        # The session's checkpoint signing key (required with PostgreSQL).
        environment[SIGNING_KEY_SETTING] = os.environ[SIGNING_KEY_SETTING]
    environment.update(env)
    return subprocess.run(
        [KEYLEDGER, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Services]:
    """The store the commands work on, also opened here to check their effect."""
    services = open_services(
        {
            "database_url": database_url,
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
        }
    )
    yield services
    services.close()


def test_generate_secret_key_prints_a_new_32_byte_key() -> None:
    first, second = run(None, "generate-secret-key"), run(None, "generate-secret-key")

    assert (first.returncode, second.returncode) == (0, 0)
    assert len(base64.urlsafe_b64decode(first.stdout.strip())) == 32
    assert first.stdout != second.stdout
    assert first.stderr == ""


def test_operators_create_list_and_revoke(database_url: str, store: Services) -> None:
    created = run(database_url, "operators", "create", "audrey", "--role", "auditor")
    token = created.stdout.splitlines()[-1]
    listed = run(database_url, "operators", "list")
    usable = store.operators.authenticate(token)
    revoked = run(database_url, "operators", "revoke", "audrey")
    listed_after = run(database_url, "operators", "list")

    assert created.returncode == 0, created.stderr
    assert "operator audrey (auditor) created" in created.stdout
    assert TOKEN.match(token), created.stdout
    assert usable is not None
    assert (usable.name, usable.role.value) == ("audrey", "auditor")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["NAME", "ROLE", "CREATED", "REVOKED"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("admin", "admin", "-"),
        ("audrey", "auditor", "-"),
    ]
    assert token not in listed.stdout
    assert (revoked.returncode, revoked.stdout.strip()) == (
        0,
        "operator audrey revoked",
    )
    assert store.operators.authenticate(token) is None
    audrey = [line.split() for line in listed_after.stdout.splitlines()][2]
    assert audrey[0] == "audrey"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", audrey[3]), audrey


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("operators", "create", "admin", "--role", "admin"), "exists already"),
        (("operators", "create", "bad name", "--role", "admin"), "name must be"),
        (("operators", "revoke", "nobody"), "no active operator named 'nobody'"),
    ],
    ids=["duplicate", "bad-name", "unknown"],
)
def test_operator_commands_refuse_with_exit_1_and_a_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # The refusals are the registry's, the same on either store.
    database_url = f"sqlite:///{tmp_path / 'keyledger.db'}"
    # A prepared store, with its first operator named admin.
    open_services({"database_url": database_url, "secret_key": SECRET_KEY}).close()
    result = run(database_url, *args)
    assert result.returncode == 1  # refused; 2 is kept for usage errors
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_a_role_outside_the_choices_is_a_usage_error() -> None:
    result = run("sqlite:///unused.db", "operators", "create", "x", "--role", "root")
    assert result.returncode == 2
    assert "--role" in result.stderr


def test_a_bad_database_url_is_named_and_exits_1(tmp_path: Path) -> None:
    result = run(None, "operators", "list", KEYLEDGER_DATABASE_URL="mysql://db/k")
    assert result.returncode == 1
    assert "KEYLEDGER_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_rebuild_read_model_replays_every_event(
    database_url: str, store: Services
) -> None:
    with recording_as(OPERATOR):
        issued = store.ledger.create_key(description="before", permissions=["send"])
        store.ledger.disable_key(issued.key.id)
    result = run(database_url, "rebuild-read-model")
    row = store.ledger.read_model.key(issued.key.id)

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"read model rebuilt up to event \d+ in [\d.]+s\n", result.stdout
    )
    assert "replayed 2/2 events" in result.stderr
    assert row is not None
    assert row.description == "before"


def audit_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_audit_export_writes_the_selected_events(
    database_url: str, store: Services, tmp_path: Path
) -> None:
    with recording_as(OPERATOR):
        first = store.ledger.create_key(permissions=["send"]).key
        second = store.ledger.create_key(permissions=["verify"]).key
        store.ledger.disable_key(first.id)
    everything = run(database_url, "audit", "export")
    disabled = run(database_url, "audit", "export", "--type", "disabled")
    csv_file = tmp_path / "audit.csv"
    as_csv = run(
        database_url, "audit", "export", "--format", "csv", "--output", str(csv_file)
    )

    assert everything.returncode == 0, everything.stderr
    assert [(e["key_id"], e["type"]) for e in audit_lines(everything)] == [
        (str(first.id), "created"),
        (str(second.id), "created"),
        (str(first.id), "disabled"),
    ]
    assert {e["actor"] for e in audit_lines(everything)} == {"alice"}
    assert [e["type"] for e in audit_lines(disabled)] == ["disabled"]
    assert (as_csv.returncode, as_csv.stdout) == (0, "")
    assert len(csv_file.read_text().splitlines()) == 4  # header and three events


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "since"),
        (
            ("--since", "2030-01-02T00:00:00Z", "--until", "2030-01-01T00:00:00Z"),
            "--until",
        ),
        (("--type", "renamed"), "--type"),
        (("--key-id", "not-a-uuid"), "--key-id"),
    ],
    ids=["bad-time", "until-before-since", "unknown-type", "bad-key-id"],
)
def test_audit_export_refuses_bad_arguments_with_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    database_url = f"sqlite:///{tmp_path / 'keyledger.db'}"
    result = run(database_url, "audit", "export", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_init_prepares_a_store_once_and_shows_the_token_once(
    database_url: str,
) -> None:
    first = run(database_url, "init")
    again = run(database_url, "init")
    token = next(
        line.split("token:", 1)[1].strip()
        for line in first.stderr.splitlines()
        if "token:" in line
    )
    listed = run(database_url, "operators", "list")

    assert (first.returncode, first.stdout) == (0, "store ready\n")
    assert TOKEN.match(token), first.stderr
    assert (again.returncode, again.stdout) == (0, "store ready\n")
    assert "token:" not in again.stderr
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:]] == [
        ["admin", "admin"]
    ]


def test_a_command_on_a_store_never_prepared_says_to_run_init(
    tmp_path: Path,
) -> None:
    result = run(f"sqlite:///{tmp_path / 'keyledger.db'}", "operators", "list")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "keyledger init" in result.stderr
