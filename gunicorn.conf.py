"""gunicorn settings for keyledger; GUNICORN_CMD_ARGS and the command line
override any of them (e.g. GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000")."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from service.serving import ServingSettingError, check_fits_store, serving_settings

bind = os.environ.get("KEYLEDGER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# gthread keeps callers' connections alive (sync closes each one after its
# answer), and idle kept-alive connections wait in the worker's poller, not
# in a thread. KEYLEDGER_WORKER_CLASS / _THREADS / _KEEPALIVE override
# (docs/serving.md, bench/serving_bench.py).
_serving = serving_settings(os.environ)
worker_class = _serving.worker_class
threads = _serving.threads
# Never preload: each worker must build its own application and database
# connections after fork.
preload_app = False
timeout = 30
# A streamed export still running after this many seconds of a SIGTERM is
# cut; it is sent chunked, so a cut one lacks its last chunk (see
# docs/operations.md, "Exports").
graceful_timeout = 10
keepalive = _serving.keepalive
# gunicorn 27 opens a control socket per master by default; keyledger needs none.
control_socket_disable = True
# gunicorn's own lines in KEYLEDGER_LOG_FORMAT; keyledger writes the access
# lines itself, one per request.
logger_class = "service.logs.GunicornLogger"

# Metrics summed over the workers (service/metrics.py): prometheus-client
# keeps each worker's values in files under this directory. It must be set
# before anything imports prometheus_client, and workers inherit it. Fresh
# per master, removed when the master exits; a directory the operator chose
# is used as it is.
_METRICS_OWNED = "KEYLEDGER_METRICS_DIR_OWNED"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="keyledger-metrics-"
    )
    os.environ[_METRICS_OWNED] = str(os.getpid())

# What gunicorn refuses before keyledger sees a request (docs/hardening.md):
# a request line over 4,094 bytes is 414, more than 64 header fields or one
# over 8,190 bytes is 431. keyledger's longest URL (an audit-feed query
# with every filter) is well under 1 KiB, and its callers send a dozen
# headers; gateways add a few more.
limit_request_line = 4094
limit_request_fields = 64
limit_request_field_size = 8190


def post_worker_init(worker: Any) -> None:
    """gunicorn's own 400/414/431/... answers speak the API's JSON errors."""
    from service import gunicorn_errors

    gunicorn_errors.install()


def on_starting(server: Any) -> None:
    """Once, in the master, before any worker: prepare the store (schema,
    read-model catch-up, first admin); workers only open it."""
    from service.config import load_settings
    from service.wiring import build_services, prepare_store

    settings = load_settings()
    try:
        check_fits_store(_serving, settings.database_url)
    except ServingSettingError as error:
        server.log.error("%s", error)
        raise SystemExit(1) from None
    services = build_services(settings)
    try:
        prepare_store(services)
    finally:
        services.close()


def worker_exit(server: Any, worker: Any) -> None:
    """Writes the worker's last usage counts and auth metrics before it goes
    (also on SIGTERM, which gunicorn turns into a graceful stop)."""
    from service.periodic import stop_all

    stop_all()


def child_exit(server: Any, worker: Any) -> None:
    from service.metrics import worker_exited

    worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    if os.environ.get(_METRICS_OWNED) == str(os.getpid()):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
