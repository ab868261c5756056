"""The description search index's own behaviour: PostgreSQL runs on without
it, saying so, when it cannot be created (SQLite's needs no extension);
SQLite's rows are keyed the same way by the live writer and a rebuild."""

from __future__ import annotations

import logging
from uuid import UUID

import pytest

from domain import AuditContext, recording_as
from projections.key_search import (
    ROWID_FUNCTION,
    create_trigram_index,
    search_rowid,
    search_table,
)
from projections.sql import KEYS_TABLE
from service.wiring import Services
from tests.conftest import open_services
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY


def test_a_trigram_index_that_cannot_be_created_is_left_out_with_a_warning(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    services = open_services(
        {
            "database_url": postgres_url,
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )
    try:
        recorder = services.ledger.ledger_recorder
        with (
            caplog.at_level(logging.WARNING, logger="keyledger.search"),
            recorder.write_transaction() as cursor,
        ):
            assert not create_trigram_index(cursor, recorder.dialect, "no_such_table")
            cursor.execute("SELECT 1 AS still")  # the transaction carries on
            assert cursor.fetchone()["still"] == 1
        assert "GET /v1/keys?q= will scan" in caplog.text
        with recorder.write_transaction() as cursor:
            assert create_trigram_index(cursor, recorder.dialect, "keyledger_keys")
    finally:
        services.close()


def test_sqlite_connections_compute_each_keys_search_row_id(
    services: Services,
) -> None:
    """A rebuild fills the search table in SQL, with the row ids the live
    writer gives (``search_rowid``)."""
    recorder = services.ledger.ledger_recorder
    if recorder.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no search table")
    with recording_as(AuditContext("alice", None, None)):
        for n in range(3):
            services.ledger.create_key(description=f"key {n}", permissions=["send"])
    with recorder.read_transaction() as cursor:
        cursor.execute(
            f"SELECT k.key_id, {ROWID_FUNCTION}(k.key_id) AS computed, s.rowid "
            f"FROM {KEYS_TABLE} k JOIN {search_table(KEYS_TABLE)} s "
            "ON s.key_id = k.key_id"
        )
        rows = cursor.fetchall()
    assert len(rows) == 3
    for row in rows:
        assert row["computed"] == row["rowid"] == search_rowid(UUID(row["key_id"]))
