"""The floor under POST /v1/auth: WSGI apps that do only part of what an
auth call must do, each step adding one thing, with no framework and no
keyledger code (see bench/README.md, "The floor").

``KEYLEDGER_FLOOR_STEP`` picks how far each request goes, and every step
answers the raw constant's body:

1. read the request body, as every auth call must;
2. decode the Basic credentials and compute the secret's keyed hash
   (HMAC-SHA256 through OpenSSL, as keyledger does);
3. run ``PRAGMA data_version`` on the store (SQLite), the statement each
   auth call runs to know whether what it remembers still holds;
4. read the key's row by DevKey through its index, as a call does whenever
   its memory was emptied.

What keyledger adds beyond step 4 is its own Python: the checks in the
contract's order, the answer, the metrics, the usage count, the access line.
"""

from __future__ import annotations

import binascii
import hmac
import importlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any

# The raw constant's answer, loaded as gunicorn loads both apps (from the
# repository root), so that this module type-checks on its own as well.
_constant = importlib.import_module("bench.constant_wsgi")
BODY: bytes = _constant.BODY
HEADERS: list[tuple[str, str]] = _constant.HEADERS

STEP = int(os.environ.get("KEYLEDGER_FLOOR_STEP", "1"))
STORE = os.environ.get("KEYLEDGER_FLOOR_STORE", "")
KEY = bytes(range(32))
_local = threading.local()


def _cursor() -> sqlite3.Cursor:
    cursor: sqlite3.Cursor | None = getattr(_local, "cursor", None)
    if cursor is None:
        connection = sqlite3.connect(
            STORE, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA query_only = 1")
        cursor = connection.cursor()
        _local.cursor = cursor
    return cursor


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if STEP >= 2:
        _, _, encoded = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        decoded = binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True)
        dev_key, _, dev_secret = decoded.decode().partition(":")
        hmac.digest(KEY, dev_secret.encode(), "sha256").hex()
    if STEP >= 3:
        cursor = _cursor()
        cursor.execute("PRAGMA data_version").fetchone()
    if STEP >= 4:
        cursor.execute(
            "SELECT key_id, secret_hash, enabled, expires_at, ip_whitelist, "
            "permissions, version FROM keyledger_keys WHERE dev_key = ?",
            (dev_key,),
        ).fetchone()
    start_response("200 OK", HEADERS)
    return [BODY]
