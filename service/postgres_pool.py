"""PostgreSQL connection pool adjustments eventsourcing offers no setting for."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg_pool import ConnectionPool


def prepare_pool(datastore: PostgresDatastore, application_name: str | None) -> None:
    """Names every pooled connection and makes a dead one purge its siblings.

    PostgresDatastore passes no extra connect arguments through, but its pool
    opens lazily (on first use), so arguments added here still reach every
    connection it will make."""
    pool = datastore.pool
    if application_name and isinstance(pool.kwargs, dict):
        pool.kwargs["application_name"] = application_name
    # psycopg_pool takes its pre-ping ``check`` only as a constructor argument,
    # which eventsourcing fills in itself; hence the private attribute.
    if datastore.pre_ping and hasattr(pool, "_check"):
        pool._check = _purging_check(pool)


def _purging_check(pool: ConnectionPool[Any]) -> Callable[[Any], None]:
    """The pre-ping, plus: one dead connection usually means the server dropped
    them all (restart, failover, terminated backends). Testing the idle ones
    at once means the pool's immediate second try gets a fresh connection,
    instead of meeting the next dead one and backing off 1 s, 2 s, 4 s ...
    into a pool timeout (a 503 after 5 s)."""
    owner = weakref.ref(pool)  # the pool holds this check: no reference cycle

    def check(conn: Any) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            live = owner()
            if live is not None:
                live.check()
            raise

    return check
