"""The two ways keyledger is served that every consistency scenario must
hold on: one instance of four workers on a SQLite file, and two instances
of two workers each on one PostgreSQL schema (started at the same moment).

Management calls go to ``manager`` and auth calls to ``checker``: the same
instance on SQLite (whose four workers take turns), the other instance on
PostgreSQL, so an answer is never from the process that made the change."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.gunicorn import GunicornServer, service_env, start_together
from tests.support.http import ServedApi

DEPLOYMENTS = ["sqlite-4-workers", "postgres-2-instances"]
# Threads sharing a worker (gunicorn's gthread class), for the scenarios that
# depend on per-thread state: 2 workers of 4 threads on one SQLite file.
GTHREAD = "sqlite-2-gthread-workers"
_THREADED = ("--worker-class", "gthread", "--threads", "4")


@dataclass
class Deployment:
    kind: str
    database_url: str
    servers: list[GunicornServer]

    @property
    def manager(self) -> ServedApi:
        return ServedApi(self.servers[0])

    @property
    def checker(self) -> ServedApi:
        return ServedApi(self.servers[-1])

    def api(self, n: int) -> ServedApi:
        """The n-th writer's instance, alternating between instances."""
        return ServedApi(self.servers[n % len(self.servers)])

    def workers(self) -> int:
        return sum(server.workers or 0 for server in self.servers)

    def answers_by_worker(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for server in self.servers:
            total.update(server.answers_by_worker())
        return total


@contextlib.contextmanager
def serve(kind: str, database_url: str, logs: Path) -> Iterator[Deployment]:
    """``kind`` served on ``database_url``, with access logs under ``logs``."""
    args: tuple[str, ...] = ()
    if kind == "sqlite-4-workers":
        shape = [4]
    elif kind == GTHREAD:
        shape, args = [2], _THREADED
    elif kind == "postgres-2-instances":
        shape = [2, 2]
    else:
        raise ValueError(kind)
    env = service_env(database_url)
    servers = [
        GunicornServer(
            env,
            workers=workers,
            log_path=logs / f"gunicorn-{n}.log",
            access_log=True,
            args=args,
        )
        for n, workers in enumerate(shape)
    ]
    start_together(servers)
    try:
        yield Deployment(kind, database_url, servers)
    finally:
        for server in servers:
            server.stop()
