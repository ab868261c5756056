"""The SQLite store's file is its owner's alone, and durability is set on
every writing connection rather than left to the SQLite build."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import open_app
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient


def sqlite_app(path: Path) -> Flask:
    return open_app(
        {
            "database_url": f"sqlite:///{path}",
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )


@pytest.fixture
def wide_umask() -> Iterator[None]:
    previous = os.umask(0o002)  # what many hosts run with
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("wide_umask")
def test_the_database_and_its_wal_files_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "data" / "keyledger.db"
    app = sqlite_app(db)
    try:
        ApiClient(app.test_client()).create_key()
        files = {
            p.name: mode(p) for p in db.parent.iterdir() if p.name != "keyledger.key"
        }
    finally:
        app.extensions["keyledger"].close()
    assert files == {
        "keyledger.db": 0o600,
        "keyledger.db-wal": 0o600,
        "keyledger.db-shm": 0o600,
    }


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "keyledger.db"
    first = sqlite_app(db)
    first.extensions["keyledger"].close()
    db.chmod(0o644)

    second = sqlite_app(db)
    second.extensions["keyledger"].close()

    assert mode(db) == 0o600


def pragmas(cursor: Any) -> tuple[str, int]:
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
    cursor.execute("PRAGMA synchronous")
    return journal, cursor.fetchone()[0]


def test_every_writing_connection_is_wal_with_synchronous_full(tmp_path: Path) -> None:
    app = sqlite_app(tmp_path / "keyledger.db")
    recorder = app.extensions["keyledger"].ledger.ledger_recorder
    try:
        ApiClient(app.test_client()).create_key()
        # Hold one writer open so the pool must hand out a second connection.
        with recorder.write_transaction() as first:
            seen = [pragmas(first)]
            with recorder.read_transaction() as second:
                seen.append(pragmas(second))
    finally:
        app.extensions["keyledger"].close()
    assert seen == [("wal", 2), ("wal", 2)]  # 2 is FULL
