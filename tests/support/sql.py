"""Looking at a store directly, beside the service: what is really stored.

``peek`` reads a keyledger store named by its ``database_url`` (SQLite file
or PostgreSQL schema); ``postgres_admin`` runs a statement on the server as
a whole (pg_stat_activity, dropping schemas)."""

from __future__ import annotations

import os
import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

POSTGRES_URL = os.environ.get(
    "KEYLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

Rows = list[tuple[Any, ...]]


def schema_of(database_url: str) -> str:
    return parse_qs(urlsplit(database_url).query)["schema"][0]


def peek(database_url: str, statement: str, params: tuple[Any, ...] = ()) -> Rows:
    """Rows of ``statement`` (placeholders written ``%s``) in that store."""
    if database_url.startswith("sqlite:///"):
        path = database_url[len("sqlite:///") :]
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return list(conn.execute(statement.replace("%s", "?"), params))
        finally:
            conn.close()
    import psycopg

    parts = urlsplit(database_url)
    plain = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema_of(database_url)}"')
        return list(conn.execute(statement, params).fetchall())  # type: ignore[arg-type]


def stored_id(database_url: str, key_id: str) -> str:
    """A key id as the store's ``originator_id`` column holds it."""
    return key_id.replace("-", "") if database_url.startswith("sqlite") else key_id


def postgres_admin(statement: str, params: tuple[Any, ...] = ()) -> Rows:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []
