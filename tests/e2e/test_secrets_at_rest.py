"""What a SQLite store holds on disk: DevSecrets only sealed, their hashes only
keyed, operator tokens only hashed; the generated secret key private to its
owner. SQLite only, because only there are the bytes ours to read."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.config import SECRET_KEY_FILE_NAME
from tests.conftest import open_app
from tests.support.http import ApiClient

BOOTSTRAP_TOKEN = "klo_at-rest-bootstrap-token-0123456789abcdefghij"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sqlite_app(data_dir: Path) -> Iterator[Flask]:
    # No secret_key: the service generates its key file beside the database.
    app = open_app(
        {
            "database_url": f"sqlite:///{data_dir / 'keyledger.db'}",
            "bootstrap_token": BOOTSTRAP_TOKEN,
            "log_level": "WARNING",
        }
    )
    yield app
    app.extensions["keyledger"].close()


def store_bytes(data_dir: Path) -> dict[str, bytes]:
    """Every file SQLite keeps for the store (db, -wal, -shm, ...)."""
    return {
        path.name: path.read_bytes()
        for path in data_dir.iterdir()
        if path.name.startswith("keyledger.db")
    }


def run_lifecycle(app: Flask) -> list[str]:
    """Create, reveal, reset, reveal, auth; returns every secret and token."""
    auditor_token = app.extensions["keyledger"].operators.create("audrey", "auditor")
    api = ApiClient(app.test_client(), BOOTSTRAP_TOKEN)
    key = api.create_key(description="at rest", permissions=["send"])
    revealed = api.get(f"/v1/keys/{key['id']}/secret").json["dev_secret"]
    reset = api.action(key["id"], "reset-secret").json["dev_secret"]
    revealed_again = api.get(f"/v1/keys/{key['id']}/secret").json["dev_secret"]
    assert (revealed, revealed_again) == (key["dev_secret"], reset)
    assert api.auth(key["dev_key"], reset).status_code == 200
    assert api.as_token(auditor_token).get("/v1/keys").status_code == 200
    return [key["dev_secret"], reset, BOOTSTRAP_TOKEN, auditor_token]


def forbidden_patterns(secrets: list[str]) -> dict[str, bytes]:
    patterns: dict[str, bytes] = {}
    for n, secret in enumerate(secrets):
        patterns[f"secret {n}"] = secret.encode()
        digest = hashlib.sha256(secret.encode())
        patterns[f"sha256 hex of secret {n}"] = digest.hexdigest().encode()
        patterns[f"sha256 of secret {n}"] = digest.digest()
    return patterns


def test_no_secret_token_or_plain_hash_reaches_the_disk(
    sqlite_app: Flask, data_dir: Path
) -> None:
    secrets = run_lifecycle(sqlite_app)
    dev_secrets = secrets[:2]
    snapshots = [store_bytes(data_dir)]  # while open: the WAL holds recent pages
    sqlite_app.extensions["keyledger"].close()
    snapshots.append(store_bytes(data_dir))
    assert "keyledger.db" in snapshots[0]
    # Operator tokens are stored as their SHA-256 by design, so only the
    # tokens themselves are forbidden; for DevSecrets the plain hash is too.
    patterns = forbidden_patterns(dev_secrets)
    patterns.update({f"token {n}": t.encode() for n, t in enumerate(secrets[2:])})
    found = [
        (label, name)
        for snapshot in snapshots
        for name, content in snapshot.items()
        for label, pattern in patterns.items()
        if pattern in content
    ]
    assert found == []


def test_the_bytes_read_are_the_real_store(sqlite_app: Flask, data_dir: Path) -> None:
    """Guards the test above against reading the wrong files."""
    api = ApiClient(sqlite_app.test_client(), BOOTSTRAP_TOKEN)
    key = api.create_key(description="plainly stored")
    sqlite_app.extensions["keyledger"].close()
    content = b"".join(store_bytes(data_dir).values())
    assert key["dev_key"].encode() in content
    assert b"plainly stored" in content


def test_a_generated_secret_key_file_is_private_to_its_owner(
    sqlite_app: Flask, data_dir: Path
) -> None:
    key_file = data_dir / SECRET_KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 44  # 32 bytes, URL-safe base64


def test_a_restart_reuses_the_generated_key_and_still_reveals(
    data_dir: Path, sqlite_app: Flask
) -> None:
    api = ApiClient(sqlite_app.test_client(), BOOTSTRAP_TOKEN)
    key = api.create_key()
    sqlite_app.extensions["keyledger"].close()
    key_before = (data_dir / SECRET_KEY_FILE_NAME).read_bytes()
    config: dict[str, Any] = {
        "database_url": f"sqlite:///{data_dir / 'keyledger.db'}",
        "log_level": "WARNING",
    }
    restarted = open_app(config)
    try:
        again = ApiClient(restarted.test_client(), BOOTSTRAP_TOKEN)
        revealed = again.get(f"/v1/keys/{key['id']}/secret")
        assert revealed.json["dev_secret"] == key["dev_secret"]
        assert (data_dir / SECRET_KEY_FILE_NAME).read_bytes() == key_before
    finally:
        restarted.extensions["keyledger"].close()
