"""A sealed DevSecret opens only with the key that sealed it, for the DevKey
it was sealed for, and only untouched; otherwise reveal refuses without
echoing anything secret. And where the master key comes from: the setting,
then its file, then (SQLite only) a generated file."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from service.api.context import services_of
from service.config import (
    ConfigurationError,
    encode_key,
    load_master_key,
    load_settings,
    parse_store,
)
from service.sealing import SealError, SecretSealer
from tests.conftest import open_app
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient

OTHER_KEY = encode_key(bytes(range(100, 132)))
DEV_KEY, DEV_SECRET = "dev-key-of-the-sealed-secret", "the-sealed-dev-secret-value"


def sealer(key: str = SECRET_KEY) -> SecretSealer:
    return SecretSealer(base64.urlsafe_b64decode(key))


def flipped(sealed: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


# The sealer itself.


def test_a_sealed_secret_opens_with_its_key_and_dev_key() -> None:
    sealed = sealer().seal(DEV_SECRET, DEV_KEY)
    assert DEV_SECRET not in sealed
    assert sealer().unseal(sealed, DEV_KEY) == DEV_SECRET


@pytest.mark.parametrize(
    ("case", "open_sealed"),
    [
        ("wrong key", lambda s: sealer(OTHER_KEY).unseal(s, DEV_KEY)),
        ("other dev_key", lambda s: sealer().unseal(s, "another-dev-key")),
        ("nonce flipped", lambda s: sealer().unseal(flipped(s, 0), DEV_KEY)),
        ("ciphertext flipped", lambda s: sealer().unseal(flipped(s, 14), DEV_KEY)),
        ("tag flipped", lambda s: sealer().unseal(flipped(s, -1), DEV_KEY)),
        ("truncated", lambda s: sealer().unseal(s[:20], DEV_KEY)),
        ("bad base64 padding", lambda s: sealer().unseal(s[:-1], DEV_KEY)),
        ("empty", lambda s: sealer().unseal("", DEV_KEY)),
    ],
)
def test_a_tampered_or_foreign_seal_is_refused_without_the_secret(
    case: str, open_sealed: Any
) -> None:
    sealed = sealer().seal(DEV_SECRET, DEV_KEY)
    with pytest.raises(SealError) as refused:
        open_sealed(sealed)
    assert DEV_SECRET not in str(refused.value)
    assert refused.value.__cause__ is None  # the library's error is not chained


def test_a_master_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretSealer(b"short")


# Reveal through the service, when the stored seal cannot be opened.


@pytest.fixture
def sealed_store(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A SQLite store holding one key sealed under SECRET_KEY."""
    url = f"sqlite:///{tmp_path / 'keyledger.db'}"
    app = serve(url, SECRET_KEY)
    try:
        key = ApiClient(app.test_client()).create_key(description="sealed")
    finally:
        services_of(app).close()
    return url, key


def serve(url: str, secret_key: str) -> Flask:
    return open_app(
        {
            "database_url": url,
            "secret_key": secret_key,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "CRITICAL",
        }
    )


def assert_refused_without_secrets(response: Any, key: dict[str, Any]) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code >= 500, text  # the service's fault, not the caller's
    assert response.is_json
    assert response.json["message"]
    assert key["dev_secret"] not in text
    assert "Traceback" not in text
    assert "sealed_secret" not in text


def test_reveal_with_another_master_key_refuses_without_the_secret(
    sealed_store: tuple[str, dict[str, Any]],
) -> None:
    url, key = sealed_store
    app = serve(url, OTHER_KEY)
    try:
        api = ApiClient(app.test_client())
        revealed = api.get(f"/v1/keys/{key['id']}/secret")
        history = api.get(f"/v1/keys/{key['id']}/history")
        # The hash was keyed with the old key too: the secret no longer passes.
        auth = api.auth(key["dev_key"], key["dev_secret"])
    finally:
        services_of(app).close()

    assert_refused_without_secrets(revealed, key)
    assert "KEYLEDGER_SECRET_KEY" in revealed.json["message"]
    assert [item["type"] for item in history.json["items"]] == ["created"]
    assert auth.status_code == 401


def test_reveal_of_a_tampered_seal_refuses_without_the_secret(
    sealed_store: tuple[str, dict[str, Any]],
) -> None:
    url, key = sealed_store
    path = url[len("sqlite:///") :]
    with sqlite3.connect(path) as conn:
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_version = 1 "
            "AND originator_id = ?",
            (key["id"].replace("-", ""),),
        ).fetchone()
        payload = json.loads(state)
        payload["sealed_secret"] = flipped(payload["sealed_secret"], 20)
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE originator_version = 1 "
            "AND originator_id = ?",
            (json.dumps(payload).encode(), key["id"].replace("-", "")),
        )
    conn.close()
    app = serve(url, SECRET_KEY)
    try:
        api = ApiClient(app.test_client())
        revealed = api.get(f"/v1/keys/{key['id']}/secret")
        details = api.get(f"/v1/keys/{key['id']}")
    finally:
        services_of(app).close()

    assert_refused_without_secrets(revealed, key)
    assert details.status_code == 200  # the rest of the key is still served
    assert details.json["version"] == 1  # nothing was shown, nothing recorded


# Where the master key comes from.


def settings(tmp_path: Path, **values: object) -> Any:
    values.setdefault("database_url", f"sqlite:///{tmp_path / 'k.db'}")
    return load_settings(values, environ={})


def test_the_secret_key_setting_beats_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(OTHER_KEY + "\n")
    chosen = settings(tmp_path, secret_key=SECRET_KEY, secret_key_file=str(key_file))
    assert load_master_key(chosen, parse_store(chosen)) == bytes(range(32))


def test_the_key_file_is_read_when_no_key_is_set(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(OTHER_KEY + "\n")
    chosen = settings(tmp_path, secret_key_file=str(key_file))
    assert load_master_key(chosen, parse_store(chosen)) == bytes(range(100, 132))
    assert not (tmp_path / "keyledger.key").exists()  # nothing generated


def test_without_either_sqlite_generates_one_key_file_and_keeps_it(
    tmp_path: Path,
) -> None:
    chosen = settings(tmp_path)
    first = load_master_key(chosen, parse_store(chosen))
    again = load_master_key(chosen, parse_store(chosen))
    assert first == again
    assert len(first) == 32
    assert (tmp_path / "keyledger.key").exists()


@pytest.mark.parametrize(
    "text", ["not-base64!", encode_key(b"sixteen bytes!!!"), "", encode_key(b"x" * 33)]
)
def test_a_malformed_secret_key_is_refused_naming_the_setting(
    tmp_path: Path, text: str
) -> None:
    chosen = settings(tmp_path, secret_key=text or " ")
    with pytest.raises(ConfigurationError) as refused:
        load_master_key(chosen, parse_store(chosen))
    assert "KEYLEDGER_SECRET_KEY must be 32 bytes" in str(refused.value)


def test_a_missing_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key"
    chosen = settings(tmp_path, secret_key_file=str(missing))
    with pytest.raises(ConfigurationError) as refused:
        load_master_key(chosen, parse_store(chosen))
    assert "KEYLEDGER_SECRET_KEY_FILE" in str(refused.value)
    assert str(missing) in str(refused.value)


def test_a_malformed_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("too short\n")
    chosen = settings(tmp_path, secret_key_file=str(key_file))
    with pytest.raises(ConfigurationError) as refused:
        load_master_key(chosen, parse_store(chosen))
    assert str(key_file) in str(refused.value)


def test_postgres_without_a_key_is_refused(tmp_path: Path) -> None:
    chosen = settings(tmp_path, database_url="postgresql://db.internal/keys")
    with pytest.raises(ConfigurationError) as refused:
        load_master_key(chosen, parse_store(chosen))
    assert "KEYLEDGER_SECRET_KEY or KEYLEDGER_SECRET_KEY_FILE" in str(refused.value)
