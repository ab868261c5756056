"""The usage table on a real store: flushes from several workers add up,
the last use only moves forward, a failed flush keeps its counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.usage import ALLOWED, HOUR, UsageCounter, UsageFlusher
from service.usage_store import USAGE_TABLE, usage_ddl
from service.wiring import Services
from tests.conftest import open_services

T0 = 1_900_000_000 - 1_900_000_000 % HOUR
AT_T0 = datetime.fromtimestamp(T0, tz=UTC)


@pytest.fixture
def other_services(config: dict[str, Any]) -> Iterator[Services]:
    """Another worker (or instance) on the same store."""
    other = open_services(config)
    yield other
    other.close()


def flusher_for(services: Services, counter: UsageCounter) -> UsageFlusher:
    return UsageFlusher(counter, services.usage.add, interval=10)


def test_flushes_from_two_workers_add_up(
    services: Services, other_services: Services
) -> None:
    first, second = UsageCounter(), UsageCounter()
    for _ in range(3):
        first.count("k1", ALLOWED, T0 + 1)
    second.count("k1", ALLOWED, T0 + 2)
    second.count("k1", "key_disabled", T0 + 3)
    second.count("k1", ALLOWED, T0 + HOUR + 1)
    assert flusher_for(services, first).flush()
    assert flusher_for(other_services, second).flush()
    # A second flush of the same worker adds, never overwrites.
    first.count("k1", ALLOWED, T0 + 4)
    assert flusher_for(services, first).flush()

    rows = services.usage.calls("k1", AT_T0, AT_T0 + timedelta(hours=2))
    assert [(r.bucket_start, r.outcome, r.calls) for r in rows] == [
        (AT_T0, ALLOWED, 5),
        (AT_T0, "key_disabled", 1),
        (AT_T0 + timedelta(hours=1), ALLOWED, 1),
    ]


def test_calls_are_selected_by_key_and_range(services: Services) -> None:
    counter = UsageCounter()
    counter.count("k1", ALLOWED, T0 + 1)
    counter.count("k1", ALLOWED, T0 + 2 * HOUR)
    counter.count("k2", ALLOWED, T0 + 1)
    flusher_for(services, counter).flush()
    rows = services.usage.calls("k1", AT_T0, AT_T0 + timedelta(hours=2))
    assert [(r.bucket_start, r.calls) for r in rows] == [(AT_T0, 1)]


def test_last_use_only_moves_forward(
    services: Services, other_services: Services
) -> None:
    late, early = UsageCounter(), UsageCounter()
    late.count("k1", ALLOWED, T0 + 50)
    early.count("k1", ALLOWED, T0 + 10)
    early.count("k2", ALLOWED, T0 + 10)
    flusher_for(services, late).flush()
    flusher_for(other_services, early).flush()  # flushed after, but older
    assert services.usage.last_used(["k1", "k2", "k3"]) == {
        "k1": AT_T0 + timedelta(seconds=50),
        "k2": AT_T0 + timedelta(seconds=10),
    }


def test_denials_do_not_touch_the_last_use(services: Services) -> None:
    counter = UsageCounter()
    counter.count("k1", "ip_not_allowed", T0 + 50)
    flusher_for(services, counter).flush()
    assert services.usage.last_used(["k1"]) == {}


def test_failed_flush_keeps_its_counts_for_the_next(services: Services) -> None:
    recorder = services.ledger.ledger_recorder
    counter = UsageCounter()
    flusher = flusher_for(services, counter)
    counter.count("k1", ALLOWED, T0 + 1)
    with recorder.write_transaction() as cursor:
        cursor.execute(f"DROP TABLE {recorder.dialect.table(USAGE_TABLE)}")
    assert flusher.flush() is False
    counter.count("k1", ALLOWED, T0 + 2)
    recorder.create_extra_tables(usage_ddl(recorder.dialect))
    assert flusher.flush() is True
    rows = services.usage.calls("k1", AT_T0, AT_T0 + timedelta(hours=1))
    assert [(r.outcome, r.calls) for r in rows] == [(ALLOWED, 2)]


def test_stop_writes_what_is_pending(services: Services) -> None:
    counter = UsageCounter()
    flusher = UsageFlusher(counter, services.usage.add, interval=10)
    flusher.start()
    counter.count("k1", ALLOWED, T0 + 1)
    flusher.stop()
    rows = services.usage.calls("k1", AT_T0, AT_T0 + timedelta(hours=1))
    assert [(r.outcome, r.calls) for r in rows] == [(ALLOWED, 1)]
