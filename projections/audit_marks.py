"""Where in the audit log a time range starts and ends, in a few reads.

Events are numbered in recorded order; their times rise with the numbers
only roughly (each writer stamps its own). The exact start of "since T" is
the lowest number among events at or after T, and the end of "until T" the
highest among events at or before T: found directly, each is a walk over
every event on one side of T.

Marks make them seeks. A mark closes a bucket of about ``MARK_EVERY``
consecutive events, ``(after_id, notification_id]``, and records

- ``high_water``: the latest time of any event numbered up to its end, and
- ``low_water``: the earliest time of any event numbered after its start,
  kept up to date as later events are recorded (normally a no-op: a new
  event is rarely older than a whole bucket).

Both rise with the number, so one index seek each finds the last mark
wholly before T (everything up to it is earlier: start there) and the first
mark wholly after T (nothing after its start is at or before T: stop
there). What is left to walk is at most a bucket or two, at any log size.
Marks depend only on the audit entries, which a rebuild reproduces
unchanged, so a rebuild leaves them alone.
"""

from __future__ import annotations

from typing import Any

from projections.sql import AUDIT_MARKS_TABLE, AUDIT_TABLE, Cursor, Dialect

MARK_EVERY = 1000


def audit_marks_ddl(dialect: Dialect) -> list[str]:
    table = dialect.table(AUDIT_MARKS_TABLE)
    name = AUDIT_MARKS_TABLE
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "notification_id BIGINT PRIMARY KEY, "
        "after_id BIGINT NOT NULL, "
        "high_water BIGINT NOT NULL, "
        "low_water BIGINT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {name}_high ON {table} "
        "(high_water, notification_id)",
        f"CREATE INDEX IF NOT EXISTS {name}_low ON {table} "
        "(low_water, notification_id)",
    ]


class AuditMarks:
    def __init__(
        self, dialect: Dialect, audit_table: str = AUDIT_TABLE, every: int = MARK_EVERY
    ) -> None:
        self.every = every
        q = dialect.sql
        marks = dialect.table(AUDIT_MARKS_TABLE)
        audit = dialect.table(audit_table)
        self._range_times = q(
            "SELECT MIN(occurred_at) AS low, MAX(occurred_at) AS high "
            f"FROM {audit} WHERE notification_id > ? AND notification_id <= ?"
        )
        self._lower = q(f"UPDATE {marks} SET low_water = ? WHERE low_water > ?")
        self._last = q(
            f"SELECT notification_id, high_water FROM {marks} "
            "ORDER BY notification_id DESC LIMIT 1"
        )
        self._buckets = q(
            "SELECT MAX(notification_id) AS last, MIN(occurred_at) AS low, "
            f"MAX(occurred_at) AS high FROM {audit} "
            "WHERE notification_id > ? AND notification_id <= ? "
            "GROUP BY (notification_id - ?) / ? ORDER BY 1"
        )
        self._insert = q(
            f"INSERT INTO {marks} (notification_id, after_id, high_water, low_water) "
            "VALUES (?, ?, ?, ?)"
        )
        self._start = q(
            f"SELECT notification_id FROM {marks} WHERE high_water < ? "
            "ORDER BY high_water DESC, notification_id DESC LIMIT 1"
        )
        self._end = q(
            f"SELECT after_id FROM {marks} WHERE low_water > ? "
            "ORDER BY low_water, notification_id LIMIT 1"
        )

    def recorded(self, cursor: Cursor, before: int, position: int) -> None:
        """Events ``(before, position]`` were just written to the audit
        table (in this transaction): lower earlier marks' low water to
        their times and close the buckets they fill."""
        if position <= before:
            return
        cursor.execute(self._range_times, (before, position))
        times = cursor.fetchone()
        if times["low"] is None:
            return
        cursor.execute(self._lower, (times["low"], times["low"]))
        cursor.execute(self._last)
        last = cursor.fetchone()
        after, high = (
            (0, None)
            if last is None
            else (
                int(last["notification_id"]),
                int(last["high_water"]),
            )
        )
        if position - after >= self.every:
            self.add_marks(cursor, after, position, high)

    def add_marks(
        self, cursor: Cursor, after: int, upto: int, high: int | None
    ) -> None:
        """Marks for the events ``(after, upto]``, the last mark ending at
        ``after`` with ``high`` as its high water."""
        cursor.execute(self._buckets, (after, upto, after + 1, self.every))
        buckets: list[Any] = cursor.fetchall()
        rows: list[list[int]] = []
        for bucket in buckets:
            high = bucket["high"] if high is None else max(high, bucket["high"])
            rows.append([int(bucket["last"]), after, int(high), int(bucket["low"])])
            after = int(bucket["last"])
        for n in range(len(rows) - 2, -1, -1):  # earliest time from there on
            rows[n][3] = min(rows[n][3], rows[n + 1][3])
        cursor.executemany(self._insert, rows)

    def fill(self, cursor: Cursor, position: int) -> None:
        """Marks for a store that has audit entries but none yet."""
        cursor.execute(self._last)
        if cursor.fetchone() is None and position > 0:
            self.add_marks(cursor, 0, position, None)

    def start(self, cursor: Cursor, since: int) -> int:
        """A number every event at or after ``since`` is above, close below
        the first of them."""
        cursor.execute(self._start, (since,))
        row = cursor.fetchone()
        return 0 if row is None else int(row["notification_id"])

    def end(self, cursor: Cursor, until: int) -> int | None:
        """A number no event at or before ``until`` is above (None: not
        known, the events up to the newest may be)."""
        cursor.execute(self._end, (until,))
        row = cursor.fetchone()
        return None if row is None else int(row["after_id"])
