"""The auth path's read: one key's credentials by DevKey, straight from the
current-state view, on a connection of its own (one per thread).

Reading the view on every call is what makes revocation instant: the view is
written in the same transaction as the events, so an acknowledged change is
in it before the management call answered.
"""

from __future__ import annotations

import contextlib
import hmac
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

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
    "previous_secret_hash": None,
    "previous_secret_expires_at": None,
}
_COLUMNS = ", ".join(
    f"k.{KEY_COLUMN[name].name}"
    if decoy is None
    else f"COALESCE(k.{KEY_COLUMN[name].name}, {decoy})"
    for name, decoy in _DECOYS.items()
)
# What the query answers for an unknown DevKey (never None with the join).
_DECOY_ROW = (DECOY_KEY_ID, "0" * 64, 0, None, "[]", "[]", 0, None, None)
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
    # A rolled-away secret and the epoch second from which it no longer works.
    previous_secret_hash: str | None = None
    previous_secret_expires_at: int | None = None


class CredentialsUnavailable(Exception):
    """The store could not be read; the caller must not guess an answer."""


class CredentialsLookup:
    """Per-thread connection plus a cache of parsed credentials keyed by
    (key id, version).

    On PostgreSQL every call reads the key's row: the version it finds
    decides, so a changed key is never served from the cache. A row is a
    function of its key's events up to that version, so the cached value
    equals a fresh parse.

    On SQLite each thread also keeps the answers its connection read, valid
    while ``PRAGMA data_version`` is unchanged: that number changes whenever
    another connection commits to the file (and this one only reads), so an
    acknowledged change empties the cache before the next call decides.
    See docs/auth-path.md.
    """

    def __init__(self, dialect: Dialect, connect: Callable[[], Any]) -> None:
        self._postgres = dialect.name == "postgres"
        select = (
            f"SELECT {_COLUMNS} FROM (SELECT 1 AS one) AS one "
            f"LEFT JOIN {dialect.table(KEYS_TABLE)} AS k ON k.dev_key = "
        )
        # PostgreSQL's is prepared on the connection by _PostgresRow ($1).
        self._statement = select + ("$1" if self._postgres else "?")
        self._connect = connect
        self._validated = dialect.name == "sqlite"
        self._local = threading.local()
        self._parsed: dict[tuple[str, int], Credentials] = {}

    def __call__(
        self, dev_key: str, secret_hash: str | None = None
    ) -> Credentials | None:
        """The key's credentials, or None for an unknown DevKey.

        ``secret_hash`` is the caller's secret as stored (the keyed hash,
        never the secret): only a lookup whose hash is the key's current or
        previous one is remembered and served from the cache, so a caller
        without the secret always pays the row read, for a known DevKey as
        for an unknown one."""
        if "\x00" in dev_key:
            # No DevKey holds a NUL, and PostgreSQL refuses one in text: the
            # query would fail as if the store were down (a 503, and the
            # connection dropped and reopened on every such call).
            return None
        if self._validated and secret_hash is not None:
            return self._validated_lookup(dev_key, secret_hash)
        return _known(self._lookup(dev_key))

    def _validated_lookup(self, dev_key: str, secret_hash: str) -> Credentials | None:
        state = self._state()
        cache_key = (dev_key, secret_hash)
        # Checked before the row is read: a commit landing in between then
        # makes the next check fail, never keeps an older row.
        version = self._fetch(state, _DATA_VERSION)
        if version != state.version:
            state.remembered.clear()
            state.version = version
        else:
            found = state.remembered.get(cache_key)
            if found is not None:
                return found
        credentials = self._lookup(dev_key, state)
        # Compared for the decoy too (it never matches): the same work for
        # an unknown DevKey as for a known one with a wrong secret.
        if _hash_is_of(credentials, secret_hash):
            if len(state.remembered) >= REMEMBERED_PER_THREAD:
                state.remembered.clear()
            state.remembered[cache_key] = credentials
        return _known(credentials)

    def _lookup(self, dev_key: str, state: _ThreadState | None = None) -> Credentials:
        """The key's credentials, or the decoy's for an unknown DevKey."""
        row = (
            self._fetch(state or self._state(), self._statement, dev_key) or _DECOY_ROW
        )
        (
            key_id,
            secret_hash,
            enabled,
            expires_at,
            whitelist,
            permissions,
            version,
            previous_hash,
            previous_expires_at,
        ) = row
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
                previous_secret_hash=previous_hash,
                previous_secret_expires_at=previous_expires_at,
            )
            if len(self._parsed) > 100_000:
                self._parsed.clear()
            self._parsed[cache_key] = credentials
        return credentials

    def _state(self) -> _ThreadState:
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is None:
            state = _ThreadState()
            self._local.state = state
        return state

    def _fetch(
        self, state: _ThreadState, statement: str, *params: str
    ) -> tuple[Any, ...] | None:
        reused = state.cursor is not None
        try:
            return self._query(state, statement, params)
        except Exception as error:
            self._drop(state)
            if not reused:
                raise CredentialsUnavailable(type(error).__name__) from None
        # A connection that served before may have been closed by the server
        # meanwhile (restart, failover, idle reaper): a fresh one decides.
        try:
            return self._query(state, statement, params)
        except Exception as error:
            self._drop(state)
            raise CredentialsUnavailable(type(error).__name__) from None

    def _query(
        self, state: _ThreadState, statement: str, params: tuple[str, ...]
    ) -> tuple[Any, ...] | None:
        cursor = state.cursor
        if cursor is None:
            state.connection = self._connect()
            # One cursor per connection, kept: making one is a good part of
            # a call's cost.
            cursor = (
                _PostgresRow(state.connection, statement)
                if self._postgres
                else state.connection.cursor()
            )
            state.cursor = cursor
        if self._postgres:
            return cast(_PostgresRow, cursor).row(params[0])
        cursor.execute(statement, params)
        row = cursor.fetchone()
        return None if row is None else tuple(row)

    def _drop(self, state: _ThreadState) -> None:
        connection, state.connection, state.cursor = state.connection, None, None
        # What was read through the old connection is not trusted: a new one
        # starts its own data_version count.
        state.remembered.clear()
        state.version = None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken; nothing to save
                connection.close()


class _PostgresRow:
    """The credentials query, prepared once per connection and run through
    libpq itself (``psycopg.pq``, psycopg's documented low-level interface
    under every connection): one call per lookup, which releases the GIL
    while it waits, instead of psycopg's cursor machinery around the same
    libpq calls. Values come back as text and are decoded here."""

    NAME = b"keyledger_credentials"

    def __init__(self, connection: Any, statement: str) -> None:
        from psycopg import OperationalError, pq

        self._pgconn = connection.pgconn
        self._error = OperationalError
        self._tuples_ok = pq.ExecStatus.TUPLES_OK
        prepared = self._pgconn.prepare(self.NAME, statement.encode(), None)
        if prepared.status != pq.ExecStatus.COMMAND_OK:
            raise self._fail(prepared)

    def row(self, dev_key: str) -> tuple[Any, ...] | None:
        result = self._pgconn.exec_prepared(self.NAME, [dev_key.encode()])
        if result.status != self._tuples_ok:
            raise self._fail(result)
        if result.ntuples == 0:
            return None
        value = result.get_value
        return tuple(
            None if (raw := value(0, column)) is None else decode(raw)
            for column, decode in enumerate(_TEXT_DECODERS)
        )

    def _fail(self, result: Any) -> Exception:
        message = (result.error_message or b"").decode("utf-8", "replace")
        return self._error(message.strip() or f"status {result.status}")


def _text(raw: bytes) -> str:
    return raw.decode()


# In _DECOYS order: key id, secret hash, enabled, expires at, whitelist,
# permissions, version, previous secret's hash, its end.
_TEXT_DECODERS: tuple[Callable[[bytes], Any], ...] = (
    _text,
    _text,
    int,
    int,
    _text,
    _text,
    int,
    _text,
    int,
)


# The number SQLite changes when another connection commits to the file.
_DATA_VERSION = "PRAGMA data_version"
# Answers one thread remembers at most; emptied, not evicted, when full.
REMEMBERED_PER_THREAD = 50_000


class _ThreadState:
    """One thread's connection and, on SQLite, what it remembers."""

    __slots__ = ("connection", "cursor", "remembered", "version")

    def __init__(self) -> None:
        self.connection: Any = None
        self.cursor: Any = None
        self.version: tuple[Any, ...] | None = None
        self.remembered: dict[tuple[str, str], Credentials] = {}


def _known(credentials: Credentials) -> Credentials | None:
    """The decoy's answer is None, but only after the same work as a key's."""
    return None if credentials.key_id == DECOY_KEY_ID else credentials


def _hash_is_of(credentials: Credentials, secret_hash: str) -> bool:
    """Whether ``secret_hash`` is the key's current or previous secret's
    (both compared, in constant time)."""
    current = hmac.compare_digest(credentials.secret_hash, secret_hash)
    previous = hmac.compare_digest(
        credentials.previous_secret_hash or _NO_HASH, secret_hash
    )
    return current or previous


_NO_HASH = "-" * 64


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
