"""The PostgreSQL recorder: eventsourcing's, writing the read model with the
events in one transaction (see ``projections.projecting_recorder``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from projections.batch_planning import StoredRow
from projections.chain_store import AuditChain, chain_ddl, utc_now
from projections.library_internals import insert_stored_events, lock_events_table
from projections.projecting_recorder import SCHEMA_LOCK_ID, ProjectingRecorder
from projections.sql import Cursor, Dialect
from projections.tables import read_model_ddl
from projections.writer import ReadModelWriter


class PostgresLedgerRecorder(ProjectingRecorder, PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        self.dialect = Dialect("postgres", schema=datastore.schema)
        self.writer = ReadModelWriter(self.dialect)
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain = AuditChain(
            self.dialect, self.events_table_name, "notification_id", None, utc_now
        )
        table = self.dialect.table(self.events_table_name)
        self._select_range = (
            # The id as text: cheaper to hand to the planning process.
            "SELECT notification_id, originator_id::text AS originator_id, "
            "originator_version, topic, state "
            f"FROM {table} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s"
        )
        self._select_max = f"SELECT MAX(notification_id) AS max FROM {table}"

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
                with self.datastore.transaction(commit=True) as cursor:
                    for statement in [
                        *read_model_ddl(self.dialect),
                        *chain_ddl(self.dialect),
                    ]:
                        cursor.execute(statement)
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
            ids = insert_stored_events(self, curs, stored_events)
            self._project(curs, ids, kwargs.get("projected_events"), stored_events)
        return ids

    def _lock_for_projection(self, cursor: Cursor) -> None:
        lock_events_table(self, cursor)

    def _lock_schema(self, cursor: Cursor) -> None:
        # Held until commit; it excludes create_table's session-level lock on
        # the same id too. Without it, two CREATE TABLE IF NOT EXISTS at once
        # fail on pg_type's unique index.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))

    def _select_stored(
        self, cursor: Cursor, gt: int, lte: int, limit: int
    ) -> list[StoredRow]:
        cursor.execute(self._select_range, (gt, lte, limit))
        return [
            (
                row["notification_id"],
                row["originator_id"],
                row["originator_version"],
                row["topic"],
                bytes(row["state"]),
            )
            for row in cursor.fetchall()
        ]

    def _max_id(self, cursor: Cursor) -> int:
        cursor.execute(self._select_max)
        row = cursor.fetchone()
        return int(row["max"] or 0)
