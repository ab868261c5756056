"""Builds keyledger stores of many keys for bench/scale_bench.py.

Every key is an ``ApiKey`` aggregate saved by the real ``KeyLedger`` into
the real event store, the read model (and its search index) written in the
same transactions, as the service does; only the batching (thousands of
keys per ``save``) is a shortcut. The mix is the same at every size:

- a tenth of the keys disabled, a tenth expired, a tenth expiring within a
  year, the rest never expiring;
- half the descriptions contain the common word ``prod``; exactly
  ``RARE_KEYS`` keys, spread over the store, contain the rare word
  ``quokka``, were created by the rare actor ``auditor`` and had their
  description changed once (a rare event type);
- the other keys are created by five operators in turn.

Built stores are kept (``*.done`` beside them holds what was built) and
reused by later runs.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fill_store import BOOTSTRAP_TOKEN, open_store

from domain import ApiKey, AuditContext, recording_as
from domain.secret_format import ALPHABET, RANDOM_LENGTH, dev_secret_from
from service.sealing import SecretSealer, new_dev_key

FORMAT = 1  # bump when the mix changes: cached stores are rebuilt
RARE_WORD = "quokka"
COMMON_WORD = "prod"
RARE_ACTOR = "auditor"
RARE_KEYS = 20
ACTORS = [f"operator-{n}" for n in range(5)]
KEYS_PER_SAVE = 2000
TOKEN = BOOTSTRAP_TOKEN


def _dev_secret() -> str:
    """A well-formed DevSecret, as ``new_dev_secret`` makes, from one
    random read instead of one per character (a tenth of a million-key
    build); the modulo's slight bias is of no matter to a bench."""
    raw = os.urandom(RANDOM_LENGTH)
    return dev_secret_from("".join(ALPHABET[b % len(ALPHABET)] for b in raw))


def _empty(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(f"{path.name}*"):
            old.unlink()
        return
    import psycopg

    plain, _, query = database_url.partition("?")
    schema = query.removeprefix("schema=")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def rare_numbers(count: int) -> set[int]:
    return {n * count // RARE_KEYS + 7 for n in range(RARE_KEYS)}


def _key(sealer: SecretSealer, number: int, rare: bool, now: datetime) -> ApiKey:
    dev_key, secret = new_dev_key(), _dev_secret()
    kind = number % 10
    created_now, expires_at = now, None
    if kind == 2:  # expired an hour after a moment two days ago
        created_now = now - timedelta(days=2)
        expires_at = created_now + timedelta(hours=1)
    elif kind == 3:
        expires_at = now + timedelta(days=30 + number % 300)
    words = [COMMON_WORD] if number % 2 == 0 else ["staging"]
    if rare:
        words.append(RARE_WORD)
    key = ApiKey.create(
        dev_key=dev_key,
        secret_hash=sealer.secret_hash(secret),
        sealed_secret=sealer.seal(secret, dev_key),
        now=created_now,
        description=f"{' '.join(words)} service {number}",
        expires_at=expires_at,
        permissions=["send", "verify"],
    )
    if kind == 1:
        key.disable()
    if rare:
        key.change_description(f"{RARE_WORD} service {number}, renamed")
    return key


def build_store(database_url: str, count: int, done: Path) -> dict[str, Any]:
    """The store at ``database_url`` (a SQLite file or a PostgreSQL schema)
    with ``count`` keys, built unless ``done`` says a build of the same
    format finished there; returns what was built."""
    if done.exists():
        built = json.loads(done.read_text())
        if built.get("format") == FORMAT and built.get("keys") == count:
            return dict(built)
    _empty(database_url)
    done.parent.mkdir(parents=True, exist_ok=True)
    services = open_store(database_url)
    rare = rare_numbers(count)
    sealer = services.ledger.sealer
    started = time.perf_counter()
    try:
        now = datetime.now(UTC)
        for first in range(0, count, KEYS_PER_SAVE):
            keys = []
            for number in range(first, min(first + KEYS_PER_SAVE, count)):
                actor = RARE_ACTOR if number in rare else ACTORS[number % len(ACTORS)]
                with recording_as(AuditContext(actor, "192.0.2.1", None)):
                    keys.append(_key(sealer, number, number in rare, now))
            services.ledger.save(*keys)
    finally:
        services.close()
    seconds = time.perf_counter() - started
    built = {
        "format": FORMAT,
        "keys": count,
        "build_seconds": round(seconds, 1),
        "keys_per_second": round(count / seconds),
    }
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = path.parent.glob(f"{path.name}*")
        built["file_mb"] = round(sum(f.stat().st_size for f in files) / 2**20)
    done.write_text(json.dumps(built))
    return built
