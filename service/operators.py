"""Operators: people and scripts that manage keys, with a role and a token.

Tokens are random 256-bit values shown once; only their SHA-256 is stored.
The table is checked on every request, so a revocation counts at once.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from projections.sql import (
    Cursor,
    Dialect,
    TransactionFactory,
    from_micros,
    to_micros,
)

OPERATORS_TABLE = "keyledger_operators"
TOKEN_PREFIX = "klo_"  # noqa: S105 - a visible prefix, not a secret
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


class Role(enum.StrEnum):
    ADMIN = "admin"
    AUDITOR = "auditor"
    # The OTP services' caches: the change feed, nothing else.
    SERVICE = "service"


class OperatorError(Exception):
    """An operator command was refused; the message says why."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def operators_ddl(dialect: Dialect) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {dialect.table(OPERATORS_TABLE)} ("
        "name TEXT PRIMARY KEY, "
        "role TEXT NOT NULL, "
        "token_hash TEXT NOT NULL UNIQUE, "
        "created_at BIGINT NOT NULL, "
        "revoked_at BIGINT)"
    )


class OperatorRegistry:
    def __init__(
        self,
        dialect: Dialect,
        read: TransactionFactory,
        write: TransactionFactory,
        clock: Callable[[], datetime],
    ) -> None:
        self._q = dialect.sql
        self._table = dialect.table(OPERATORS_TABLE)
        self._read = read
        self._write = write
        self._clock = clock

    def authenticate(self, token: str) -> Operator | None:
        """The active operator holding ``token``, or None."""
        with self._read() as cursor:
            return self.authenticate_in(cursor, token)

    def authenticate_in(self, cursor: Cursor, token: str) -> Operator | None:
        """:meth:`authenticate` inside the caller's read transaction."""
        cursor.execute(
            self._q(
                f"SELECT name, role, created_at FROM {self._table} "
                "WHERE token_hash = ? AND revoked_at IS NULL"
            ),
            (token_hash(token),),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return Operator(row["name"], Role(row["role"]), from_micros(row["created_at"]))

    def active(self, name: str) -> Operator | None:
        """The operator called ``name`` unless it is unknown or revoked."""
        with self._read() as cursor:
            cursor.execute(
                self._q(
                    f"SELECT name, role, created_at FROM {self._table} "
                    "WHERE name = ? AND revoked_at IS NULL"
                ),
                (name,),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return Operator(row["name"], Role(row["role"]), from_micros(row["created_at"]))

    def create(self, name: str, role: str, token: str | None = None) -> str:
        """Adds an operator and returns its token (shown once)."""
        if not _NAME.fullmatch(name):
            raise OperatorError(
                "name must be 1-64 letters, digits or . _ @ + - (starting with a "
                "letter or digit)"
            )
        try:
            checked_role = Role(role)
        except ValueError:
            raise OperatorError(
                "role must be 'admin', 'auditor' or 'service'"
            ) from None
        token = token or new_token()
        if not self._insert(name, checked_role, token):
            raise OperatorError(f"an operator named {name!r} exists already")
        return token

    def create_first_admin(self, token: str | None) -> str | None:
        """With no operator yet, creates the first admin.

        Returns its token when this call created it, else None; safe when
        several workers or instances start at once.
        """
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) AS n FROM {self._table}")
            if int(cursor.fetchone()["n"]) > 0:
                return None
        token = token or new_token()
        return token if self._insert("admin", Role.ADMIN, token) else None

    def _insert(self, name: str, role: Role, token: str) -> bool:
        with self._write() as cursor:
            cursor.execute(
                self._q(
                    f"INSERT INTO {self._table} (name, role, token_hash, created_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING name"
                ),
                (name, role.value, token_hash(token), to_micros(self._clock())),
            )
            return cursor.fetchone() is not None

    def revoke(self, name: str) -> None:
        with self._write() as cursor:
            cursor.execute(
                self._q(
                    f"UPDATE {self._table} SET revoked_at = ? "
                    "WHERE name = ? AND revoked_at IS NULL RETURNING name"
                ),
                (to_micros(self._clock()), name),
            )
            if cursor.fetchone() is None:
                raise OperatorError(f"no active operator named {name!r}")

    def list(self) -> list[Operator]:
        with self._read() as cursor:
            cursor.execute(
                f"SELECT name, role, created_at, revoked_at FROM {self._table} "
                "ORDER BY name"
            )
            rows = cursor.fetchall()
        return [
            Operator(
                row["name"],
                Role(row["role"]),
                from_micros(row["created_at"]),
                None if row["revoked_at"] is None else from_micros(row["revoked_at"]),
            )
            for row in rows
        ]
