"""What both stores' recorders share: projecting events inside the write
transaction, catching up a read model that is behind, and rebuilding it.

Each ``insert_events`` call writes the events, the key-state rows, the audit
entries and the read model's position in one transaction: a management call
that returned has its change visible to every reader, on every worker and
instance, with no lag to wait for. If the read model is ever behind the log
(tables added to an existing store, a crash during a rebuild), the next write
first catches it up inside the same transaction.

The store-specific halves: ``projections.sqlite_recorder`` and
``projections.postgres_recorder``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from domain import ApiKey
from projections.batch_planning import (
    Decoder,
    StoredRow,
    cyclic_gc_paused,
    planned_batches,
)
from projections.chain import event_sha256
from projections.chain_store import AuditChain
from projections.chain_verify import Verdict
from projections.checkpoints import VerificationKeys
from projections.key_search import (
    fill_search_table,
    prepare_search,
    search_table,
    search_table_ddl,
)
from projections.schema_upgrade import upgrade_in_place
from projections.sql import AUDIT_TABLE, KEYS_TABLE, SECRET_INDEX_TABLE, Cursor, Dialect
from projections.tables import (
    audit_index_ddl,
    audit_table_ddl,
    keys_index_ddl,
    keys_table_ddl,
    secret_index_ddl,
)
from projections.writer import ReadModelWriter

Progress = Callable[[int, int], None]

CATCH_UP_BATCH = 1000
# Events per rebuild transaction: large enough that statements and commits
# are few, small enough to keep memory and the writer lock short.
REBUILD_BATCH = 10_000
# Plan a rebuild's next batch in a second process while writing this one
# (``projections.batch_planning``), when the log holds more than one batch.
PLAN_IN_SECOND_PROCESS = True
# Events linked per transaction when a store gains the chain: live writers
# get the lock between batches.
LINK_BATCH = 10_000
# Arbitrary but fixed: serialises schema creation across PostgreSQL sessions.
SCHEMA_LOCK_ID = 0x6B65796C6564676572 % (2**63)


class ProjectingRecorder:
    """Mixed in before eventsourcing's recorder: project events, catch up,
    rebuild."""

    dialect: Dialect
    writer: ReadModelWriter
    chain: AuditChain
    decode: Decoder | None = None
    datastore: Any  # SQLiteDatastore or PostgresDatastore: same transaction()
    create_table: Callable[[], None]  # the library recorder's

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=False) as cursor:
            yield cursor

    # Store-specific pieces.

    def _lock_for_projection(self, cursor: Cursor) -> None:
        raise NotImplementedError

    def _select_stored(
        self, cursor: Cursor, gt: int, lte: int, limit: int
    ) -> list[StoredRow]:
        raise NotImplementedError

    def _max_id(self, cursor: Cursor) -> int:
        raise NotImplementedError

    # Shared behaviour.

    def _decoder(self) -> Decoder:
        if self.decode is None:
            msg = "the recorder has no event decoder; attach it to an application"
            raise RuntimeError(msg)
        return self.decode

    def _project(
        self,
        cursor: Cursor,
        notification_ids: Sequence[int],
        events: Sequence[ApiKey.Event] | None,
        stored_events: Sequence[StoredEvent],
    ) -> None:
        if not notification_ids:
            return
        if events is None:
            decode = self._decoder()
            events = [
                decode(s.originator_id, s.originator_version, s.topic, s.state)
                for s in stored_events
            ]
        position = self.writer.position(cursor)
        if position < notification_ids[0] - 1:
            self._apply_range(cursor, self.writer, position, notification_ids[0] - 1)
        entries = self.writer.apply_all(cursor, notification_ids, events)
        self.writer.set_position(cursor, notification_ids[-1])
        digests = [
            event_sha256(s.originator_id, s.originator_version, s.topic, s.state)
            for s in stored_events
        ]
        self.chain.append(cursor, notification_ids, entries, digests)

    def _apply_range(
        self, cursor: Cursor, writer: ReadModelWriter, gt: int, lte: int
    ) -> int:
        decode = self._decoder()
        applied = 0
        while gt < lte:
            rows = self._select_stored(cursor, gt, lte, CATCH_UP_BATCH)
            if not rows:
                break
            for notification_id, originator_id, version, topic, state in rows:
                event = decode(originator_id, version, topic, state)
                writer.apply(cursor, notification_id, event)
            applied += len(rows)
            gt = rows[-1][0]
        return applied

    def _lock_schema(self, cursor: Cursor) -> None:
        """Nothing to do where writers take turns anyway (SQLite)."""

    def create_extra_tables(self, statements: Sequence[str]) -> None:
        """Creates tables kept beside the log (operators, ...); instances
        starting at once take turns, as they do for the log's own tables."""
        with self.write_transaction() as cursor:
            self._lock_schema(cursor)
            for statement in statements:
                cursor.execute(statement)

    def upgrade(self) -> bool:
        """Brings a read model made by an earlier release up to this one
        (``projections.schema_upgrade``), replaying the log when only that
        can fill what it lacks. True when the log was replayed for it."""
        with self.write_transaction() as cursor:
            self._lock_for_projection(cursor)
            if not upgrade_in_place(cursor, self.dialect, self.writer):
                return False
        # Keys exist but their secrets were never indexed: replay the log.
        self.rebuild()
        return True

    def view_lag(self) -> int:
        """How many recorded events the read model has not applied."""
        with self.read_transaction() as cursor:
            return max(0, self._max_id(cursor) - self.writer.position(cursor))

    def catch_up(self) -> int:
        """Applies what the read model missed; returns the number of events."""
        with self.write_transaction() as cursor:
            self._lock_for_projection(cursor)
            position = self.writer.position(cursor)
            last = self._max_id(cursor)
            applied = self._apply_range(cursor, self.writer, position, last)
            if last > position:
                self.writer.set_position(cursor, last)
            return applied

    def link_stored(self) -> int:
        """Links stored events that have no link yet (a store that predates
        the chain); returns how many. Run when the store is prepared, after
        ``catch_up``."""
        linked = 0
        while True:
            with self.write_transaction() as cursor:
                self._lock_for_projection(cursor)
                batch = self.chain.link_stored(cursor, limit=LINK_BATCH)
            linked += batch
            if batch < LINK_BATCH:
                return linked

    def checkpoint_if_due(self) -> bool:
        """Signs the chain's head if a checkpoint is due (quiet stores)."""
        with self.read_transaction() as cursor:
            if not self.chain.checkpoint_due(cursor):
                return False
        with self.write_transaction() as cursor:
            self._lock_for_projection(cursor)
            return self.chain.checkpoint_if_due(cursor)

    def verify_chain(self, keys: VerificationKeys) -> Verdict:
        return self.chain.verify(self.read_transaction, keys)

    def _stored_batches(self, target: int) -> Iterator[list[StoredRow]]:
        done = 0
        while done < target:
            # Read, then write: live writers wait only for the write, and on
            # SQLite a write transaction whose first statement reads could not
            # take the writer lock once another process had written meanwhile.
            with self.read_transaction() as cursor:
                stored = self._select_stored(cursor, done, target, REBUILD_BATCH)
            if not stored:
                return
            yield stored
            done = stored[-1][0]

    def rebuild(self, progress: Progress | None = None) -> int:
        """Replays the whole log into fresh tables, then swaps them in.

        Readers keep answering from the old tables until the swap, which
        happens in one transaction together with the events recorded
        meanwhile, so they never see a half-built model.
        """
        keys_next, audit_next = f"{KEYS_TABLE}_next", f"{AUDIT_TABLE}_next"
        index_next = f"{SECRET_INDEX_TABLE}_next"
        search_next = search_table(keys_next)  # SQLite's
        d = self.dialect
        # The batches leave the search table empty; it is filled at once
        # from the finished keys, which costs FTS5 a tenth of the time.
        batch_writer = ReadModelWriter(
            d, keys_next, audit_next, index_next, with_search=False
        )
        with self.write_transaction() as cursor:
            for table in (keys_next, audit_next, index_next, search_next):
                cursor.execute(f"DROP TABLE IF EXISTS {d.table(table)}")
            cursor.execute(keys_table_ddl(d, keys_next))
            for statement in search_table_ddl(d, keys_next):
                cursor.execute(statement)
            cursor.execute(audit_table_ddl(d, audit_next))
            # With its index: each new secret's rotation is read from it.
            for statement in secret_index_ddl(d, index_next):
                cursor.execute(statement)
        with self.read_transaction() as cursor:
            target = self._max_id(cursor)
        batches = planned_batches(
            self._stored_batches(target),
            self._decoder(),
            batch_writer,
            second_process=PLAN_IN_SECOND_PROCESS and target > REBUILD_BATCH,
        )
        with cyclic_gc_paused(), contextlib.closing(batches):  # ends the planner
            for done, plan in batches:
                with self.write_transaction() as cursor:
                    batch_writer.write_batch(cursor, plan)
                if progress:
                    progress(done, target)
        with self.write_transaction() as cursor:
            fill_search_table(cursor, d, keys_next)
        # The events recorded since the batches began, search rows and all.
        writer = ReadModelWriter(d, keys_next, audit_next, index_next)
        with self.write_transaction() as cursor:
            self._lock_for_projection(cursor)
            last = self._max_id(cursor)
            self._apply_range(cursor, writer, target, last)
            for table, next_table in (
                (KEYS_TABLE, keys_next),
                (AUDIT_TABLE, audit_next),
                (SECRET_INDEX_TABLE, index_next),
                *([(search_table(KEYS_TABLE), search_next)] * (d.name == "sqlite")),
            ):
                cursor.execute(f"DROP TABLE IF EXISTS {d.table(table)}")
                cursor.execute(f"ALTER TABLE {d.table(next_table)} RENAME TO {table}")
            # The index built with the next table keeps its name: replace it
            # with the one under the usual name.
            cursor.execute(f"DROP INDEX IF EXISTS {d.table(index_next + '_key')}")
            for statement in (
                keys_index_ddl(d, KEYS_TABLE)
                + audit_index_ddl(d, AUDIT_TABLE)
                + secret_index_ddl(d)
            ):
                cursor.execute(statement)
            prepare_search(cursor, d, KEYS_TABLE)  # PostgreSQL's trigram index
            self.writer.set_position(cursor, last)
        if progress:
            progress(last, last)
        return last
