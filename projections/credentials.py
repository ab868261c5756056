"""The auth path's read: one key's credentials by DevKey, straight from the
current-state view, on a connection of its own (one per thread).

Reading the view on every call is what makes revocation instant: the view is
written in the same transaction as the events, so an acknowledged change is
in it before the management call answered.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.values import IpNetwork, networks_of
from projections.sql import KEYS_TABLE, Dialect
from projections.tables import KEY_COLUMN

# Read straight from the keys table; ``expires_at`` stays in its stored
# form (epoch seconds), which is what the auth path compares.
#
# An unknown DevKey must cost what a known one costs (api.md: keys "cannot
# be enumerated"), so the query always answers one row: the key's, or a
# decoy of the same shape (COALESCE over a LEFT JOIN). Both then take the
# same parse-cache hit and, in the authorizer, the same HMAC and comparison.
DECOY_KEY_ID = "00000000-0000-0000-0000-000000000000"
_DECOYS = {
    "key_id": f"'{DECOY_KEY_ID}'",
    "secret_hash": "'" + "0" * 64 + "'",  # hex no HMAC-SHA256 yields in practice
    "enabled": "0",
    "expires_at": None,
    "ip_whitelist": "'[]'",
    "permissions": "'[]'",
    "version": "0",
}
_COLUMNS = ", ".join(
    f"k.{KEY_COLUMN[name].name}"
    if decoy is None
    else f"COALESCE(k.{KEY_COLUMN[name].name}, {decoy})"
    for name, decoy in _DECOYS.items()
)
_whitelist = KEY_COLUMN["ip_whitelist"].decode
_permissions = KEY_COLUMN["permissions"].decode


@dataclass(frozen=True)
class Credentials:
    """What the auth path needs of a key's row, parsed once per version
    (whitelist as networks, expiry as epoch seconds)."""

    key_id: str
    dev_key: str
    secret_hash: str
    enabled: bool
    expires_at: int | None
    networks: tuple[IpNetwork, ...]
    permissions: tuple[str, ...]
    version: int


class CredentialsUnavailable(Exception):
    """The store could not be read; the caller must not guess an answer."""


class CredentialsLookup:
    """Per-thread connection plus a cache of parsed credentials keyed by
    (key id, version).

    Every call still reads the key's row: the version it finds decides, so a
    changed key is never served from the cache. A row is a function of its
    key's events up to that version, so the cached value equals a fresh parse.
    """

    def __init__(self, dialect: Dialect, connect: Callable[[], Any]) -> None:
        self._statement = dialect.sql(
            f"SELECT {_COLUMNS} FROM (SELECT 1 AS one) AS one "
            f"LEFT JOIN {dialect.table(KEYS_TABLE)} AS k ON k.dev_key = ?"
        )
        self._connect = connect
        self._local = threading.local()
        self._parsed: dict[tuple[str, int], Credentials] = {}

    def __call__(self, dev_key: str) -> Credentials | None:
        if "\x00" in dev_key:
            # No DevKey holds a NUL, and PostgreSQL refuses one in text: the
            # query would fail as if the store were down (a 503, and the
            # connection dropped and reopened on every such call).
            return None
        row = self._fetch(dev_key)
        if row is None:  # never with the decoy join; kept for safety
            return None
        key_id, secret_hash, enabled, expires_at, whitelist, permissions, version = row
        cache_key = (key_id, version)
        credentials = self._parsed.get(cache_key)
        if credentials is None:
            credentials = Credentials(
                key_id=key_id,
                dev_key=dev_key,
                secret_hash=secret_hash,
                enabled=bool(enabled),
                expires_at=expires_at,
                networks=networks_of(_whitelist(whitelist)),
                permissions=_permissions(permissions),
                version=version,
            )
            if len(self._parsed) > 100_000:
                self._parsed.clear()
            self._parsed[cache_key] = credentials
        # The decoy's answer is None, but only after the same work as a key's.
        return None if credentials.key_id == DECOY_KEY_ID else credentials

    def _fetch(self, dev_key: str) -> tuple[Any, ...] | None:
        reused = getattr(self._local, "connection", None) is not None
        try:
            return self._query(dev_key)
        except Exception as error:
            self._drop()
            if not reused:
                raise CredentialsUnavailable(type(error).__name__) from None
        # A connection that served before may have been closed by the server
        # meanwhile (restart, failover, idle reaper): a fresh one decides.
        try:
            return self._query(dev_key)
        except Exception as error:
            self._drop()
            raise CredentialsUnavailable(type(error).__name__) from None

    def _query(self, dev_key: str) -> tuple[Any, ...] | None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        row = connection.execute(self._statement, (dev_key,)).fetchone()
        return None if row is None else tuple(row)

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken; nothing to save
                connection.close()


def sqlite_connector(path: str) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=5
        )
        connection.execute("PRAGMA query_only = 1")
        return connection

    return connect


def postgres_connector(**kwargs: Any) -> Callable[[], Any]:
    def connect() -> Any:
        import psycopg

        return psycopg.connect(autocommit=True, prepare_threshold=0, **kwargs)

    return connect
