"""The auth path's metrics tally (service/auth_tally.py) and the one place
that touches prometheus-client's private attributes
(service/prometheus_internals.py): a fold must give exactly the exposition
that recording each answer straight into prometheus-client gives."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from service.auth_tally import AuthTally, fold_all, new_tally
from service.metrics import AUTH_DURATION_BUCKETS as BUCKETS
from service.prometheus_internals import add_observations, bucket_bounds

# Below the first bound, on bounds, between them, past the last finite one.
DURATIONS = [0.00005, 0.0001, 0.0003, 0.00025, 0.001, 0.0049, 0.01, 0.5, 1.0, 7.0]
ANSWERS = [
    ("allowed", "none"),
    ("denied", "invalid_credentials"),
    ("allowed", "none"),
    ("denied", "key_disabled"),
    ("invalid", "malformed_json"),
    ("allowed", "none"),
    ("denied", "invalid_credentials"),
    ("unavailable", "store_unavailable"),
    ("allowed", "none"),
    ("denied", "ip_not_allowed"),
]


def _metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    decisions = Counter("t_decisions", "d", ["outcome", "reason"], registry=registry)
    durations = Histogram("t_duration_seconds", "h", buckets=BUCKETS, registry=registry)
    return decisions, durations


def _decided(registry: CollectorRegistry, outcome: str, reason: str) -> float | None:
    return registry.get_sample_value(
        "t_decisions_total", {"outcome": outcome, "reason": reason}
    )


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The text without the creation times, which differ between registries."""
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if "_created" not in line
    ]


def test_a_fold_exposes_what_recording_each_answer_directly_exposes() -> None:
    direct = CollectorRegistry()
    decisions, durations = _metrics(direct)
    for (outcome, reason), seconds in zip(ANSWERS, DURATIONS, strict=True):
        decisions.labels(outcome, reason).inc()
        durations.observe(seconds)

    folded = CollectorRegistry()
    tally = AuthTally(*_metrics(folded))
    for (outcome, reason), seconds in zip(ANSWERS, DURATIONS, strict=True):
        tally.record(outcome, reason, seconds)
    # Nothing reaches the metrics before the fold.
    assert not any(line.startswith("t_decisions_total") for line in _exposition(folded))
    assert "t_duration_seconds_count 0.0" in _exposition(folded)
    tally.fold()

    assert _exposition(folded) == _exposition(direct)


def test_folding_twice_adds_only_what_came_between() -> None:
    registry = CollectorRegistry()
    decisions, durations = _metrics(registry)
    tally = AuthTally(decisions, durations)
    tally.record("allowed", "none", 0.0002)
    tally.fold()
    tally.fold()  # nothing new: adds nothing
    tally.record("allowed", "none", 0.002)
    tally.fold()
    assert _decided(registry, "allowed", "none") == 2
    text = "\n".join(_exposition(registry))
    assert 't_duration_seconds_bucket{le="0.00025"} 1.0' in text
    assert 't_duration_seconds_bucket{le="0.0025"} 2.0' in text
    assert "t_duration_seconds_count 2.0" in text


def test_answers_recorded_by_many_threads_are_all_counted() -> None:
    registry = CollectorRegistry()
    decisions, durations = _metrics(registry)
    tally = AuthTally(decisions, durations)
    per_thread, threads = 2_000, 8

    def answer() -> None:
        for _ in range(per_thread):
            tally.record("allowed", "none", 0.0003)

    workers = [threading.Thread(target=answer) for _ in range(threads)]
    folder = threading.Thread(target=lambda: [tally.fold() for _ in range(200)])
    for thread in [*workers, folder]:
        thread.start()
    for thread in [*workers, folder]:
        thread.join()
    tally.fold()
    assert _decided(registry, "allowed", "none") == per_thread * threads
    assert "t_duration_seconds_count 16000.0" in "\n".join(_exposition(registry))


def test_stopping_folds_what_is_left_and_ends_the_thread() -> None:
    registry = CollectorRegistry()
    decisions, durations = _metrics(registry)
    tally = new_tally(decisions, durations)
    folding = [t.ident for t in threading.enumerate()]
    tally.start()
    started = [t for t in threading.enumerate() if t.ident not in folding]
    assert [t.name for t in started] == ["keyledger-auth-metrics"]
    tally.record("denied", "key_expired", 0.0004)
    tally.stop()
    assert _decided(registry, "denied", "key_expired") == 1
    assert not started[0].is_alive()


def test_fold_all_folds_every_tally_of_the_process() -> None:
    registry = CollectorRegistry()
    decisions, durations = _metrics(registry)
    tally = new_tally(decisions, durations)
    tally.record("allowed", "none", 0.0001)
    fold_all()
    assert _decided(registry, "allowed", "none") == 1


def test_the_internals_reject_counts_that_do_not_fit_the_buckets() -> None:
    registry = CollectorRegistry()
    _, durations = _metrics(registry)
    assert bucket_bounds(durations)[-1] == float("inf")
    assert len(bucket_bounds(durations)) == len(BUCKETS) + 1
    with pytest.raises(ValueError, match="buckets"):
        add_observations(durations, [1, 2], 0.1)
