"""``keyledger keys roll-secret`` and ``keyledger keys restore`` as an
operator runs them: the console script against a real store (both kinds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from domain import AuditContext, recording_as
from service.audit_signing import SETTING as SIGNING_KEY_SETTING
from service.wiring import Services
from tests.conftest import ADMIN_TOKEN, SECRET_KEY

KEYLEDGER = str(Path(sys.executable).with_name("keyledger"))


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLEDGER_")}
    env.update(
        KEYLEDGER_DATABASE_URL=database_url,
        KEYLEDGER_SECRET_KEY=SECRET_KEY,
        KEYLEDGER_BOOTSTRAP_TOKEN=ADMIN_TOKEN,
        KEYLEDGER_LOG_LEVEL="WARNING",
    )
    # The session's checkpoint signing key (required with PostgreSQL).
    env[SIGNING_KEY_SETTING] = os.environ[SIGNING_KEY_SETTING]
    return subprocess.run(
        [KEYLEDGER, "keys", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def key(services: Services) -> Any:
    with recording_as(AuditContext("alice")):
        return services.ledger.create_key(permissions=["send"]).key


def test_roll_secret_prints_the_new_secret_and_records_the_actor(
    database_url: str, services: Services, key: Any
) -> None:
    result = run(
        database_url,
        "roll-secret",
        str(key.id),
        "--grace-seconds",
        "60",
        "--json",
        "--actor",
        "ops-bob",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["id"] == str(key.id)
    assert answer["dev_secret"].startswith("kls_")
    assert answer["previous_secret_expires_at"].endswith("Z")
    rolled = services.ledger.get_key(key.id)
    assert rolled.version == 2
    assert services.ledger.sealer.matches(answer["dev_secret"], rolled.secret_hash)
    last = list(services.ledger.events.get(key.id))[-1]
    assert (type(last).__name__, last.actor) == ("SecretRolled", "ops-bob")


def test_roll_secret_with_grace_out_of_range_exits_1(
    database_url: str, key: Any
) -> None:
    result = run(database_url, "roll-secret", str(key.id), "--grace-seconds", "-1")
    assert result.returncode == 1
    assert "grace_seconds" in result.stderr
    assert "Traceback" not in result.stderr


def test_restore_brings_a_deleted_key_back_disabled(
    database_url: str, services: Services, key: Any
) -> None:
    with recording_as(AuditContext("alice")):
        services.ledger.delete_key(key.id)
    result = run(database_url, "restore", str(key.id), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "id": str(key.id),
        "dev_key": key.dev_key,
        "status": "disabled",
        "version": 3,
    }


def test_restore_of_a_live_key_exits_1(database_url: str, key: Any) -> None:
    result = run(database_url, "restore", str(key.id))
    assert result.returncode == 1
    assert "not deleted" in result.stderr


def test_unknown_key_exits_1_and_bad_id_is_a_usage_error(database_url: str) -> None:
    assert run(database_url, "restore", str(uuid.uuid4())).returncode == 1
    assert run(database_url, "restore", "not-a-uuid").returncode == 2
