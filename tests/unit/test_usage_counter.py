"""Per-process usage tallies: what the auth path adds, what a flush takes."""

from __future__ import annotations

import threading

from service.usage import ALLOWED, HOUR, UsageBatch, UsageCounter

T0 = 1_900_000_000 - 1_900_000_000 % HOUR  # the start of an hour


def test_counts_per_key_hour_and_outcome() -> None:
    counter = UsageCounter()
    counter.count("k1", ALLOWED, T0 + 1.5)
    counter.count("k1", ALLOWED, T0 + HOUR - 0.001)
    counter.count("k1", "ip_not_allowed", T0 + 10)
    counter.count("k1", ALLOWED, T0 + HOUR)
    counter.count("k2", "key_disabled", T0)
    batch = counter.drain()
    assert batch.counts == {
        ("k1", T0, ALLOWED): 2,
        ("k1", T0, "ip_not_allowed"): 1,
        ("k1", T0 + HOUR, ALLOWED): 1,
        ("k2", T0, "key_disabled"): 1,
    }


def test_last_used_is_the_latest_allowed_call_only() -> None:
    counter = UsageCounter()
    counter.count("k1", ALLOWED, T0 + 5)
    counter.count("k1", "permission_denied", T0 + 9)
    counter.count("k2", "key_expired", T0 + 9)
    assert counter.drain().last_used == {"k1": T0 + 5}


def test_drain_empties_the_counter() -> None:
    counter = UsageCounter()
    counter.count("k1", ALLOWED, T0)
    assert counter.drain()
    assert not counter.drain()


def test_give_back_merges_with_what_came_meanwhile() -> None:
    counter = UsageCounter()
    counter.count("k1", ALLOWED, T0 + 1)
    failed = counter.drain()
    counter.count("k1", ALLOWED, T0 + 2)
    counter.count("k1", "key_disabled", T0 + 3)
    counter.give_back(failed)
    batch = counter.drain()
    assert batch.counts == {("k1", T0, ALLOWED): 2, ("k1", T0, "key_disabled"): 1}
    assert batch.last_used == {"k1": T0 + 2}


def test_merge_keeps_the_later_last_use() -> None:
    early = UsageBatch({("k", T0, ALLOWED): 1}, {"k": T0 + 1.0})
    late = UsageBatch({("k", T0, ALLOWED): 3}, {"k": T0 + 7.0})
    late.merge(early)
    assert late.counts == {("k", T0, ALLOWED): 4}
    assert late.last_used == {"k": T0 + 7.0}


def test_no_count_is_lost_while_draining_concurrently() -> None:
    counter = UsageCounter()
    per_thread, threads = 20_000, 4
    drained: list[UsageBatch] = []
    done = threading.Event()

    def count() -> None:
        for n in range(per_thread):
            counter.count("k", ALLOWED, T0 + n % 10)

    def drain() -> None:
        while not done.is_set():
            drained.append(counter.drain())

    drainer = threading.Thread(target=drain)
    drainer.start()
    counting = [threading.Thread(target=count) for _ in range(threads)]
    for thread in counting:
        thread.start()
    for thread in counting:
        thread.join()
    done.set()
    drainer.join()
    drained.append(counter.drain())
    total = sum(sum(batch.counts.values()) for batch in drained)
    assert total == per_thread * threads
