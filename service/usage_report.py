"""A key's usage as the API shows it: one item per hour or day of a range,
empty buckets included, denials by reason."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from domain.times import format_time
from service.usage import ALLOWED
from service.usage_store import UsageRow, UsageStore

BUCKETS: Final = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Reasons a key can be denied for: every item lists them all, zeros included.
DENIAL_REASONS: Final = (
    "key_disabled",
    "key_expired",
    "ip_not_allowed",
    "permission_denied",
)
# At most this many buckets per answer: 31 days of hours, 400 days of days.
MAX_RANGE: Final = {"hour": timedelta(days=31), "day": timedelta(days=400)}


def bucket_start(moment: datetime, bucket: str) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def bucket_starts(since: datetime, until: datetime, bucket: str) -> list[datetime]:
    """Starts of the buckets that overlap [since, until)."""
    step = BUCKETS[bucket]
    start = bucket_start(since, bucket)
    starts = []
    while start < until:
        starts.append(start)
        if start > datetime.max.replace(tzinfo=UTC) - step:
            break  # the last bucket a datetime can start
        start += step
    return starts


def usage_items(
    rows: Iterable[UsageRow], starts: list[datetime], bucket: str
) -> list[dict[str, Any]]:
    totals: dict[datetime, dict[str, int]] = {start: {} for start in starts}
    for row in rows:
        counts = totals.get(bucket_start(row.bucket_start, bucket))
        if counts is not None:
            counts[row.outcome] = counts.get(row.outcome, 0) + row.calls
    return [
        {
            "start": format_time(start, "seconds"),
            "allowed": counts.get(ALLOWED, 0),
            "denied": {reason: counts.get(reason, 0) for reason in DENIAL_REASONS},
        }
        for start, counts in totals.items()
    ]


def key_usage(
    store: UsageStore, key_id: str, since: datetime, until: datetime, bucket: str
) -> list[dict[str, Any]]:
    """A key's usage from ``since`` to ``until``, as ``GET /v1/keys/{id}/usage``
    answers it (the API and the console both call this)."""
    if since >= until:  # e.g. a since in the future: nothing was counted
        return []
    # One answer covers a bounded number of buckets; a longer range is cut
    # to the newest part (documented), so no query is refused for it.
    if until - since > MAX_RANGE[bucket]:
        since = until - MAX_RANGE[bucket]
    starts = bucket_starts(since, until, bucket)
    return usage_items(store.calls(key_id, starts[0], until), starts, bucket)
