"""The description search index's own behaviour: PostgreSQL runs on without
it, saying so, when it cannot be created (SQLite's needs no extension)."""

from __future__ import annotations

import logging

import pytest

from projections.key_search import create_trigram_index
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
