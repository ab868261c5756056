"""The failed-auth warning's rate limit, on a clock the test moves."""

from __future__ import annotations

import logging

from service.auth_failures import (
    MAX_WARNINGS_PER_WINDOW,
    WINDOW_SECONDS,
    FailedAuthMonitor,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_one_warning_a_minute_per_pair_carrying_the_count() -> None:
    clock = Clock()
    monitor = FailedAuthMonitor(clock)
    collected = Collected()
    logger = logging.getLogger("keyledger.auth")
    logger.addHandler(collected)
    try:
        for _ in range(5):
            monitor.record("devkey_A", "203.0.113.1", "10.0.0.1")
            clock.now += 1
        clock.now += WINDOW_SECONDS
        monitor.record("devkey_A", "203.0.113.1", "10.0.0.1")
    finally:
        logger.removeHandler(collected)

    counts = [line.split("count=")[1].split()[0] for line in collected.lines]
    assert counts == ["1", "5"]  # the first at once; then 4 unreported + this one
    assert monitor.failures == 6


def test_random_dev_keys_cannot_flood_the_log() -> None:
    clock = Clock()
    monitor = FailedAuthMonitor(clock)
    collected = Collected()
    logger = logging.getLogger("keyledger.auth")
    logger.addHandler(collected)
    try:
        for n in range(MAX_WARNINGS_PER_WINDOW + 50):
            monitor.record(f"random_dev_key_{n}", "203.0.113.1", None)
        flood = len(collected.lines)
        clock.now += WINDOW_SECONDS
        monitor.record("random_dev_key_7", "203.0.113.1", None)
        monitor.record(
            f"random_dev_key_{MAX_WARNINGS_PER_WINDOW + 1}", "203.0.113.1", None
        )
    finally:
        logger.removeHandler(collected)

    assert flood == MAX_WARNINGS_PER_WINDOW
    assert "50 warning lines held back" in collected.lines[-3]
    # a held-back pair reports its refusals once the budget renews
    assert collected.lines[-1].split("count=")[1].split()[0] == "2"
    assert monitor.failures == MAX_WARNINGS_PER_WINDOW + 52
