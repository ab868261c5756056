"""Application recorders that write the read model with the events.

Each ``insert_events`` call writes the events, the key-state rows, the audit
entries and the read model's position in one transaction: a management call
that returned has its change visible to every reader, on every worker and
instance, with no lag to wait for. If the read model is ever behind the log
(tables added to an existing store, a crash during a rebuild), the next write
first catches it up inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from psycopg.sql import SQL, Composed

from projections.chain_store import AuditChain, chain_ddl, utc_now
from projections.recording import SCHEMA_LOCK_ID, ReadModelRecording
from projections.sql import POSITION_TABLE, READ_MODEL, Dialect, read_model_ddl
from projections.writer import Cursor, ReadModelWriter

__all__ = ["PostgresLedgerRecorder", "ReadModelRecording", "SQLiteLedgerRecorder"]


class SQLiteLedgerRecorder(ReadModelRecording, SQLiteApplicationRecorder):
    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
    ) -> None:
        self.dialect = Dialect("sqlite")
        self.read_model = ReadModelWriter(self.dialect)
        super().__init__(datastore, events_table_name)
        self.chain = AuditChain(
            self.dialect, self.events_table_name, "rowid", None, utc_now
        )
        self._select_range = (
            f"SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE rowid > ? AND rowid <= ? "
            "ORDER BY rowid LIMIT ?"
        )
        self._claim_writer = (
            f"UPDATE {POSITION_TABLE} SET position = position WHERE name = ?"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *read_model_ddl(self.dialect),
            *chain_ddl(self.dialect),
        ]

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
        cursor.execute(self._claim_writer, (READ_MODEL,))

    def _select_stored(
        self, cursor: Cursor, gt: int, lte: int, limit: int
    ) -> list[tuple[int, StoredEvent]]:
        cursor.execute(self._select_range, (gt, lte, limit))
        return [
            (
                row["rowid"],
                StoredEvent(
                    originator_id=UUID(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                ),
            )
            for row in cursor.fetchall()  # type: ignore[attr-defined]
        ]

    def _max_id(self, cursor: Cursor) -> int:
        cursor.execute(self.select_max_notification_id_statement)
        row = cursor.fetchone()
        return int(row[0] or 0)


class PostgresLedgerRecorder(ReadModelRecording, PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        self.dialect = Dialect("postgres", schema=datastore.schema)
        self.read_model = ReadModelWriter(self.dialect)
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain = AuditChain(
            self.dialect, self.events_table_name, "notification_id", None, utc_now
        )
        table = self.dialect.table(self.events_table_name)
        self._select_range = (
            "SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {table} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s"
        )
        self._select_max = f"SELECT MAX(notification_id) AS max FROM {table}"
        self.sql_create_statements.extend(
            Composed([SQL(statement)])
            for statement in [*read_model_ddl(self.dialect), *chain_ddl(self.dialect)]
        )

    def create_table(self) -> None:
        # Several instances may start at once on an empty database: take
        # turns, or PostgreSQL reports "tuple concurrently updated".
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_ID,))
            try:
                if self.datastore.schema != "public":
                    conn.execute(
                        f'CREATE SCHEMA IF NOT EXISTS "{self.datastore.schema}"'
                    )
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_ID,))

    # Deliberately no retry (the library's own insert retries ten times): a
    # connection lost during COMMIT leaves it unknown whether the events were
    # recorded, and a blind retry could record a change twice. The caller gets
    # a 503 and decides; the pool's pre-ping hands the next call a live one.
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        with self.datastore.transaction(commit=True) as curs:
            self._insert_stored_events(curs, stored_events)
            ids = [row["notification_id"] for row in curs.fetchall()]
            self._project(curs, ids, kwargs.get("projected_events"), stored_events)
        return ids

    def _lock_for_projection(self, cursor: Cursor) -> None:
        self._lock_table(cursor)  # type: ignore[arg-type]

    def _lock_schema(self, cursor: Cursor) -> None:
        # Held until commit; it excludes create_table's session-level lock on
        # the same id too. Without it, two CREATE TABLE IF NOT EXISTS at once
        # fail on pg_type's unique index.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))

    def _select_stored(
        self, cursor: Cursor, gt: int, lte: int, limit: int
    ) -> list[tuple[int, StoredEvent]]:
        cursor.execute(self._select_range, (gt, lte, limit))
        return [
            (
                row["notification_id"],
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                ),
            )
            for row in cursor.fetchall()  # type: ignore[attr-defined]
        ]

    def _max_id(self, cursor: Cursor) -> int:
        cursor.execute(self._select_max)
        row = cursor.fetchone()
        return int(row["max"] or 0)
