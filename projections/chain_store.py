"""The audit chain in the database: links and checkpoints.

Links live in their own table, never in the audit table: a rebuild of the
read model drops and refills the audit table, and must not be able to
recompute (and so whitewash) the chain. Every method taking a cursor runs in
the caller's transaction; the recorders call ``append`` inside the
transaction that inserts the events, after taking the store's writer lock,
so links are made one transaction at a time in recording order, on any
number of workers and instances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from projections.audit_trail import AuditEntry
from projections.chain import (
    GENESIS_HASH,
    chain_entry,
    event_sha256,
    link,
    micros_text,
    time_text,
)
from projections.chain_verify import ChainVerifier, Verdict
from projections.checkpoints import Checkpoint, CheckpointSigner, VerificationKeys
from projections.sql import AUDIT_TABLE, Cursor, Dialect, to_micros
from projections.tables import AUDIT_COLUMNS

CHAIN_TABLE = "keyledger_chain"
CHECKPOINT_TABLE = "keyledger_checkpoints"
# A checkpoint is due once this many events are unsigned (at most; a
# deployment may ask for more frequent ones) ...
CHECKPOINT_EVERY = 1000
# ... or once the oldest unsigned event was recorded this long ago.
CHECKPOINT_AFTER = timedelta(minutes=10)
_AFTER_MICROS = CHECKPOINT_AFTER // timedelta(microseconds=1)
VERIFY_BATCH = 5000

Clock = Callable[[], datetime]
# position, seq, hash, recorded_at, event_sha256
LinkRow = tuple[int, int, str, int, str]
Transaction = Callable[[], Any]


@dataclass(frozen=True)
class Head:
    """The newest link and what the newest checkpoint covers."""

    position: int
    seq: int
    hash: str
    signed_seq: int
    # When the newest checkpoint was signed (before the first one: when the
    # first event was linked), in microseconds; None on an empty chain.
    signed_since: int | None


def utc_now() -> datetime:
    return datetime.now(UTC)


def chain_ddl(dialect: Dialect) -> list[str]:
    id_type = "INTEGER" if dialect.name == "sqlite" else "BIGINT"
    return [
        f"CREATE TABLE IF NOT EXISTS {dialect.table(CHAIN_TABLE)} ("
        f"position {id_type} PRIMARY KEY, "
        "seq BIGINT NOT NULL, "
        "hash TEXT NOT NULL, "
        "event_sha256 TEXT NOT NULL, "
        "recorded_at BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {dialect.table(CHECKPOINT_TABLE)} ("
        f"position {id_type} PRIMARY KEY, "
        "seq BIGINT NOT NULL UNIQUE, "
        "hash TEXT NOT NULL, "
        "signed_at TEXT NOT NULL, "
        "signing_key_id TEXT NOT NULL, "
        "signature TEXT NOT NULL)",
    ]


@dataclass(frozen=True)
class LinkedAuditEntry(AuditEntry):
    """An audit entry with its link in the chain (``hash`` None only for an
    event recorded by an older version and not linked yet)."""

    hash: str | None = None
    event_sha256: str | None = None


def linked_entry(row: Any) -> LinkedAuditEntry:
    """An audit-table row joined with its chain row."""
    values = {column.name: column.decode(row[column.name]) for column in AUDIT_COLUMNS}
    return LinkedAuditEntry(
        **values, hash=row["hash"], event_sha256=row["event_sha256"]
    )


def live_item(entry: AuditEntry) -> dict[str, Any]:
    """The audit item of an event being recorded, as the API will show it."""
    return {
        "key_id": str(entry.key_id),
        "version": entry.version,
        "type": entry.type,
        "occurred_at": time_text(entry.occurred_at),
        "actor": entry.actor,
        "source_ip": entry.source_ip,
        "request_id": entry.request_id,
        "changes": entry.changes,
    }


class AuditChain:
    """Links events as they are recorded and signs checkpoints when due."""

    def __init__(
        self,
        dialect: Dialect,
        events_table: str,
        events_position: str,
        signer: CheckpointSigner | None,
        clock: Clock,
    ) -> None:
        self.dialect = dialect
        self.signer = signer
        self.clock = clock
        self.checkpoint_every = CHECKPOINT_EVERY
        self.events_table = events_table
        self.events_position = events_position
        q = dialect.sql
        chain = dialect.table(CHAIN_TABLE)
        checkpoints = dialect.table(CHECKPOINT_TABLE)
        events = dialect.table(events_table)
        audit = dialect.table(AUDIT_TABLE)
        # One statement, two index seeks: it runs in every write transaction.
        self._head = (
            "SELECT c.position, c.seq, c.hash, k.seq AS signed_seq, "
            "k.signed_at FROM "
            f"(SELECT position, seq, hash FROM {chain} "
            "ORDER BY position DESC LIMIT 1) c LEFT JOIN "
            f"(SELECT seq, signed_at FROM {checkpoints} "
            "ORDER BY position DESC LIMIT 1) k ON 1 = 1"
        )
        self._first_recorded = (
            f"SELECT recorded_at FROM {chain} ORDER BY position LIMIT 1"
        )
        self._insert_link = q(
            f"INSERT INTO {chain} (position, seq, hash, recorded_at, event_sha256) "
            "VALUES (?,?,?,?,?)"
        )
        self._insert_checkpoint = q(
            f"INSERT INTO {checkpoints} (position, seq, hash, signed_at, "
            "signing_key_id, signature) VALUES (?,?,?,?,?,?)"
        )
        self._select_checkpoints = q(
            "SELECT position, hash, signed_at, signing_key_id, signature "
            f"FROM {checkpoints} WHERE position > ? ORDER BY position LIMIT ?"
        )
        self._select_link = q(f"SELECT hash FROM {chain} WHERE position = ?")
        p = f"e.{events_position}"
        self._select_stored = q(
            f"SELECT {p} AS position, e.originator_id, e.originator_version, "
            "e.topic, e.state, a.key_id, a.version, a.type, a.occurred_at, "
            "a.actor, a.source_ip, a.request_id, a.changes, c.hash AS link "
            f"FROM {events} e LEFT JOIN {audit} a ON a.notification_id = {p} "
            f"LEFT JOIN {chain} c ON c.position = {p} "
            f"WHERE {p} > ? AND {p} <= ? ORDER BY {p} LIMIT ?"
        )
        self._select_max = f"SELECT MAX({events_position}) AS n FROM {events}"

    def ddl(self) -> list[str]:
        return chain_ddl(self.dialect)

    def head(self, cursor: Cursor) -> Head:
        cursor.execute(self._head)
        row = cursor.fetchone()
        if row is None:
            return Head(0, 0, GENESIS_HASH, 0, None)
        since = None
        if row["signed_at"] is not None:
            since = to_micros(datetime.fromisoformat(row["signed_at"]))
        elif row["seq"]:  # nothing signed yet: count from the first link
            cursor.execute(self._first_recorded)
            since = int(cursor.fetchone()["recorded_at"])
        return Head(
            position=int(row["position"]),
            seq=int(row["seq"]),
            hash=row["hash"],
            signed_seq=int(row["signed_seq"] or 0),
            signed_since=since,
        )

    def append(
        self,
        cursor: Cursor,
        positions: Sequence[int],
        entries: Sequence[AuditEntry],
        event_digests: Sequence[str],
    ) -> None:
        """Links events just inserted in this transaction, given their audit
        entries as written (writer lock held); first links any stored events
        the chain is missing before them."""
        head = self.head(cursor)
        if head.position < positions[0] - 1:
            head = self._link_stored(cursor, head, positions[0] - 1)
        now = to_micros(self.clock())
        rows = []
        seq, previous = head.seq, head.hash
        for position, entry, digest in zip(
            positions, entries, event_digests, strict=True
        ):
            seq += 1
            previous = link(previous, chain_entry(position, live_item(entry), digest))
            rows.append((position, seq, previous, now, digest))
        cursor.executemany(self._insert_link, rows)
        self._sign_due(cursor, head, rows)

    def link_stored(self, cursor: Cursor, limit: int) -> int:
        """Links up to ``limit`` stored events recorded without a link (a
        store made before the chain existed, or writes by an older version);
        returns how many. The caller holds the writer lock."""
        head = self.head(cursor)
        cursor.execute(self._select_max)
        last = int(cursor.fetchone()["n"] or 0)
        linked = self._link_stored(cursor, head, last, limit)
        return linked.seq - head.seq

    def _link_stored(
        self, cursor: Cursor, head: Head, upto: int, limit: int | None = None
    ) -> Head:
        now = to_micros(self.clock())
        position, seq, previous = head.position, head.seq, head.hash
        rows: list[LinkRow] = []
        left = limit
        while position < upto and (left is None or left > 0):
            size = VERIFY_BATCH if left is None else min(left, VERIFY_BATCH)
            cursor.execute(self._select_stored, (position, upto, size))
            batch = cursor.fetchall()
            if not batch:
                break
            rows = []
            for row in map(_values, batch):
                entry = stored_entry(row)
                if entry is None:
                    msg = f"event {row[0]} has no audit entry to link"
                    raise RuntimeError(msg)
                seq += 1
                previous = link(previous, entry)
                rows.append((int(row[0]), seq, previous, now, entry["event_sha256"]))
            cursor.executemany(self._insert_link, rows)
            self._sign_due(cursor, head, rows)
            position = rows[-1][0]
            if left is not None:
                left -= len(rows)
            head = self.head(cursor)
        return head

    def _sign_due(self, cursor: Cursor, head: Head, rows: Sequence[LinkRow]) -> None:
        """Signs the links that cross a threshold: each ``checkpoint_every``-th
        unsigned link, and the newest once the newest checkpoint is ten
        minutes old."""
        if self.signer is None or not rows:
            return
        signed_seq = head.signed_seq
        for position, seq, hash, _, _ in rows:
            if seq - signed_seq >= self.checkpoint_every:
                self._sign(cursor, position, seq, hash)
                signed_seq = seq
        position, seq, hash, recorded_at, _ = rows[-1]
        if signed_seq != head.signed_seq or signed_seq == seq:
            return  # just signed: the ten minutes start again
        since = recorded_at if head.signed_since is None else head.signed_since
        if to_micros(self.clock()) - since >= _AFTER_MICROS:
            self._sign(cursor, position, seq, hash)

    def _sign(self, cursor: Cursor, position: int, seq: int, hash: str) -> None:
        if self.signer is None:
            return
        checkpoint = self.signer.sign(position, hash, self.clock())
        cursor.execute(
            self._insert_checkpoint,
            (
                position,
                seq,
                hash,
                checkpoint.signed_at,
                checkpoint.signing_key_id,
                checkpoint.signature,
            ),
        )

    def checkpoint_due(self, cursor: Cursor) -> bool:
        return self._due(self.head(cursor))

    def _due(self, head: Head) -> bool:
        if self.signer is None or head.seq == head.signed_seq:
            return False
        return head.seq - head.signed_seq >= self.checkpoint_every or (
            head.signed_since is not None
            and to_micros(self.clock()) - head.signed_since >= _AFTER_MICROS
        )

    def checkpoint_if_due(self, cursor: Cursor) -> bool:
        """Signs the head if its oldest unsigned link is due (the periodic
        sweep, for quiet stores); the caller holds the writer lock."""
        head = self.head(cursor)
        due = self._due(head)
        if due:
            self._sign(cursor, head.position, head.seq, head.hash)
        return due

    # Reading.

    def checkpoints(
        self, cursor: Cursor, after: int = 0, limit: int = 1000
    ) -> list[Checkpoint]:
        cursor.execute(self._select_checkpoints, (after, limit))
        return [
            Checkpoint(
                position=int(row["position"]),
                hash=row["hash"],
                signed_at=row["signed_at"],
                signing_key_id=row["signing_key_id"],
                signature=row["signature"],
            )
            for row in cursor.fetchall()
        ]

    def all_checkpoints(self, transaction: Transaction) -> Iterator[Checkpoint]:
        after = 0
        while True:
            with transaction() as cursor:
                page = self.checkpoints(cursor, after)
            yield from page
            if len(page) < 1000:
                return
            after = page[-1].position

    def verify(self, transaction: Transaction, keys: VerificationKeys) -> Verdict:
        """Recomputes every link from the stored events and their audit
        entries, a batch per read transaction, against the recorded links
        and the signed checkpoints."""
        with transaction() as cursor:
            cursor.execute(self._select_max)
            upto = int(cursor.fetchone()["n"] or 0)
        verifier = ChainVerifier(self.all_checkpoints(transaction), keys)
        position = 0
        while position < upto:
            with transaction() as cursor:
                cursor.execute(self._select_stored, (position, upto, VERIFY_BATCH))
                batch = cursor.fetchall()
            if not batch:
                break
            for row in map(_values, batch):
                entry = stored_entry(row)
                if entry is None:  # no audit entry: it cannot match its link
                    entry = {"position": int(row[0]), "audit_entry": None}
                if not verifier.add(entry, row[13]):
                    return verifier.verdict()
            position = int(_values(batch[-1])[0])
            del batch
        return verifier.verdict()


def stored_entry(row: Sequence[Any]) -> dict[str, Any] | None:
    """The chain entry of one ``_select_stored`` row: its audit item as the
    API shows it, its position and its event digest (None: the event has no
    audit entry). Positional: a million rows are read per verification."""
    if row[5] is None:
        return None
    return {
        "position": row[0],
        "key_id": row[5],
        "version": row[6],
        "type": row[7],
        "occurred_at": micros_text(row[8]),
        "actor": row[9],
        "source_ip": row[10],
        "request_id": row[11],
        "changes": orjson.loads(row[12]),
        "event_sha256": event_sha256(_uuid_text(row[1]), row[2], row[3], bytes(row[4])),
    }


def _values(row: Any) -> Sequence[Any]:
    """A row's values by position: SQLite rows index so, PostgreSQL's are dicts."""
    return tuple(row.values()) if isinstance(row, dict) else row


def _uuid_text(value: Any) -> str:
    """SQLite stores the id as 32 hex digits, PostgreSQL as a uuid."""
    text = str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text.lower()
