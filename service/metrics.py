"""Prometheus metrics of one keyledger instance, summed over its workers.

Under gunicorn, ``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh directory before any worker starts: prometheus-client then keeps each
worker's values in memory-mapped files there, and ``GET /metrics`` (whichever
worker answers) adds them up. Without that variable (tests, the CLI) the
values live in the process.

Recording costs a lock and a few memory writes per call; the auth path
records into an in-memory tally instead and moves it here in bulk, at
least once a second (service/auth_tally.py). ``KEYLEDGER_METRICS=off``
turns recording into no-ops, which is what the benchmark compares against.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

AUTH_DECISIONS = Counter(
    "keyledger_auth_decisions_total",
    "Answers of POST /v1/auth by outcome (allowed, denied, invalid, unavailable) "
    "and reason.",
    ["outcome", "reason"],
)
# Auth answers in well under a millisecond; the default buckets start at 5 ms.
AUTH_DURATION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.1,
    1.0,
)
AUTH_DURATION = Histogram(
    "keyledger_auth_duration_seconds",
    "Time to answer POST /v1/auth, from the request reaching keyledger to the "
    "answer being ready.",
    buckets=AUTH_DURATION_BUCKETS,
)
FORWARD_AUTH_DECISIONS = Counter(
    "keyledger_forward_auth_decisions_total",
    "Answers of /v1/auth/forward (gateways) by outcome and reason, as "
    "keyledger_auth_decisions_total counts those of POST /v1/auth.",
    ["outcome", "reason"],
)
HTTP_REQUESTS = Counter(
    "keyledger_http_requests_total",
    "Requests answered by the management API, docs, health and metrics, by "
    "route template, method and status.",
    ["route", "method", "status"],
)
EVENTS_RECORDED = Counter(
    "keyledger_events_recorded_total",
    "ApiKey events recorded by this instance, by audit type.",
    ["type"],
)
STORE_ERRORS = Counter(
    "keyledger_store_errors_total",
    "Failures to reach or use the store, by where they happened "
    "(auth, management, health).",
    ["where"],
)


def enabled() -> bool:
    return os.environ.get("KEYLEDGER_METRICS", "on").lower() not in (
        "off",
        "0",
        "false",
        "no",
    )


class _ReadModelLag(Collector):
    """Read now, not remembered: the lag is a property of the store, which
    every worker sees alike, so the answering worker asks it once per scrape."""

    def __init__(self, lag: Callable[[], int | None]) -> None:
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        value = self.lag()
        if value is None:
            return
        family = GaugeMetricFamily(
            "keyledger_read_model_lag_events",
            "Recorded events the read model has not applied yet.",
        )
        family.add_metric([], float(value))
        yield family


def exposition(lag: Callable[[], int | None]) -> bytes:
    """The Prometheus text for ``GET /metrics``."""
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        registry.register(_ReadModelLag(lag))
        return generate_latest(registry)
    per_scrape = CollectorRegistry()
    per_scrape.register(_ReadModelLag(lag))
    return generate_latest(REGISTRY) + generate_latest(per_scrape)


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: drop the live-value files of a dead worker."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def count_events(type_names: Iterable[str]) -> None:
    for name in type_names:
        EVENTS_RECORDED.labels(name).inc()


def count_store_error(where: str) -> None:
    STORE_ERRORS.labels(where).inc()
