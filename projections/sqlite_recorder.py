"""The SQLite recorder: eventsourcing's, writing the read model with the
events in one transaction (see ``projections.projecting_recorder``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from projections.batch_planning import StoredRow
from projections.chain_store import AuditChain, chain_ddl, utc_now
from projections.projecting_recorder import ProjectingRecorder
from projections.sql import (
    POSITION_NAME,
    POSITION_TABLE,
    Cursor,
    Dialect,
)
from projections.tables import read_model_ddl
from projections.writer import ReadModelWriter


class SQLiteLedgerRecorder(ProjectingRecorder, SQLiteApplicationRecorder):
    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
    ) -> None:
        self.dialect = Dialect("sqlite")
        self.writer = ReadModelWriter(self.dialect)
        super().__init__(datastore, events_table_name)
        self.chain = AuditChain(
            self.dialect, self.events_table_name, "rowid", None, utc_now
        )
        self._select_range = (
            f"SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE rowid > ? AND rowid <= ? "
            "ORDER BY rowid LIMIT ?"
        )
        self._select_max = f"SELECT MAX(rowid) FROM {self.events_table_name}"
        self._claim_writer = (
            f"UPDATE {POSITION_TABLE} SET position = position WHERE name = ?"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *read_model_ddl(self.dialect),
            *chain_ddl(self.dialect),
        ]

    # eventsourcing's documented extension hook: runs inside the insert's
    # transaction, after the events got their notification ids.
    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        self._project(c, list(ids or ()), kwargs.get("projected_events"), stored_events)
        return ids

    def _lock_for_projection(self, cursor: Cursor) -> None:
        # A write as the first statement takes SQLite's writer lock on the
        # newest snapshot (waiting out the busy timeout), so no other writer
        # can slip in before we commit. A read first would pin an older
        # snapshot, and upgrading it fails at once with "database is locked"
        # when another process wrote meanwhile (workers booting together).
        cursor.execute(self._claim_writer, (POSITION_NAME,))

    def _select_stored(
        self, cursor: Cursor, gt: int, lte: int, limit: int
    ) -> list[StoredRow]:
        cursor.execute(self._select_range, (gt, lte, limit))
        return [tuple(row) for row in cursor.fetchall()]

    def _max_id(self, cursor: Cursor) -> int:
        cursor.execute(self._select_max)
        row = cursor.fetchone()
        return int(row[0] or 0)
