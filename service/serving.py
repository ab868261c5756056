"""How gunicorn serves keyledger: worker class, threads per worker and the
keep-alive timeout, from the environment (read by gunicorn.conf.py).

Standard library only: gunicorn.conf.py reads these before anything imports
prometheus_client. The default is gthread with 4 threads: it keeps client
connections alive (the sync worker closes every one), which raised
``POST /v1/auth`` throughput for callers that reuse connections and cost
callers that do not nothing measurable (bench/serving_bench.py,
docs/serving.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

WORKER_CLASSES = ("gthread", "sync", "gevent")
MAX_THREADS = 64
MAX_KEEPALIVE_SECONDS = 300

WORKER_CLASS_SETTING = "KEYLEDGER_WORKER_CLASS"
THREADS_SETTING = "KEYLEDGER_THREADS"
KEEPALIVE_SETTING = "KEYLEDGER_KEEPALIVE"


class ServingSettingError(ValueError):
    """A serving setting is malformed; the message names it."""


@dataclass(frozen=True)
class Serving:
    worker_class: str = "gthread"
    # Threads per gthread worker: requests one worker serves at once. Each
    # thread holds its own auth-path connection to the store.
    threads: int = 4
    # Seconds an idle client connection is kept open (0: close after each
    # answer). Gateways' upstream idle timeouts should be shorter.
    keepalive: int = 5


def serving_settings(environ: Mapping[str, str]) -> Serving:
    """The serving settings in ``environ``, the defaults for those unset."""
    default = Serving()
    worker_class = environ.get(WORKER_CLASS_SETTING) or default.worker_class
    if worker_class not in WORKER_CLASSES:
        names = ", ".join(WORKER_CLASSES)
        msg = f"{WORKER_CLASS_SETTING} must be one of {names}, not {worker_class!r}"
        raise ServingSettingError(msg)
    # gunicorn quietly turns a sync worker with more than one thread into a
    # gthread worker, so threads belong to gthread alone: sync serves one
    # request at a time, and gevent's concurrency is its greenlets.
    threads = _integer(environ, THREADS_SETTING, default.threads, 1, MAX_THREADS)
    if worker_class != "gthread":
        if environ.get(THREADS_SETTING) and threads != 1:
            msg = (
                f"{THREADS_SETTING} must be 1 (or unset) with "
                f"{WORKER_CLASS_SETTING}={worker_class}, not {threads}"
            )
            raise ServingSettingError(msg)
        threads = 1
    keepalive = _integer(
        environ, KEEPALIVE_SETTING, default.keepalive, 0, MAX_KEEPALIVE_SECONDS
    )
    return Serving(worker_class, threads, keepalive)


def _integer(
    environ: Mapping[str, str], name: str, default: int, low: int, high: int
) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        msg = f"{name} must be a whole number from {low} to {high}, not {raw!r}"
        raise ServingSettingError(msg)
    return value


def check_fits_store(serving: Serving, database_url: str) -> None:
    """Refuses gevent on PostgreSQL: the auth path keeps one store connection
    per thread, which gevent makes one per client connection, past any
    ``max_connections`` (docs/serving.md, "Why not gevent")."""
    if serving.worker_class == "gevent" and database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        msg = (
            f"{WORKER_CLASS_SETTING}=gevent is not supported on PostgreSQL: "
            "it would hold a database connection per client connection; "
            "use gthread"
        )
        raise ServingSettingError(msg)
