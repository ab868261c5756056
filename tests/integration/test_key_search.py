"""The description search index's own behaviour: PostgreSQL runs on without
it, saying so, when it cannot be created."""

from __future__ import annotations

import logging

import pytest

from projections.key_search import create_trigram_index
from service.wiring import Services


def test_a_trigram_index_that_cannot_be_created_is_left_out_with_a_warning(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = services.ledger.ledger_recorder
    if recorder.dialect.name != "postgres":
        pytest.skip("SQLite's search table needs no extension")
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
