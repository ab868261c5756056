"""Builds SQLite stores of real audit history for bench/audit_bench.py.

Every event goes through the real KeyLedger application: ApiKey commands,
sealed secrets and HMAC hashes, the event log and the read model written in
one transaction. Many keys share a ``save`` so that a transaction carries
thousands of events, which is what makes a million events take minutes.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from domain import ApiKey, AuditContext, recording_as
from service.api.context import services_of
from service.app import create_app
from service.config import encode_key, load_settings
from service.ledger import KeyLedger
from service.sealing import new_dev_key, new_dev_secret
from service.wiring import build_services, prepare_store

TOKEN = "klo_bench-admin-token-0123456789abcdefghijklmnop"
HOT_KEY_EVENTS = 1000  # create + 999 reveals: the as_of subject
EVENTS_PER_KEY = 10
KEYS_PER_SAVE = 200  # 2,000 events per transaction
ACTORS = [f"operator-{n}" for n in range(5)]


def open_app(db: Path) -> Flask:
    config = {
        "database_url": f"sqlite:///{db}",
        "secret_key": encode_key(bytes(range(32))),
        "bootstrap_token": TOKEN,
        "log_level": "WARNING",
    }
    services = build_services(load_settings(config))
    try:
        prepare_store(services)
    finally:
        services.close()
    return create_app(config)


def ledger_of(app: Flask) -> KeyLedger:
    return services_of(app).ledger


def hot_key_events(events: int) -> int:
    """1,000 on big stores; a tenth of a small one, so that its pages hold
    the same mix of busy-key events as the big store's."""
    return HOT_KEY_EVENTS if events >= 10 * HOT_KEY_EVENTS else events // 10


def _new_key(ledger: KeyLedger, number: int, now: datetime) -> ApiKey:
    dev_key, secret = new_dev_key(), new_dev_secret()
    return ApiKey.create(
        dev_key=dev_key,
        secret_hash=ledger.sealer.secret_hash(secret),
        sealed_secret=ledger.sealer.seal(secret, dev_key),
        now=now,
        description=f"customer {number}, prod",
        permissions=["send"],
    )


def _busy_key(ledger: KeyLedger, number: int, now: datetime) -> ApiKey:
    """Ten events, one of every type (a tenth of the keys end deleted)."""
    key = _new_key(ledger, number, now)
    key.change_description(f'customer {number}, "EU" prod')
    key.change_expiry(now + timedelta(days=365), now)
    key.change_ip_whitelist([f"198.51.{number % 256}.0/24"])
    key.change_permissions(["send", "verify"])
    key.reveal_secret()
    key.disable()
    key.enable()
    secret = new_dev_secret()
    key.reset_secret(
        secret_hash=ledger.sealer.secret_hash(secret),
        sealed_secret=ledger.sealer.seal(secret, key.dev_key),
    )
    if number % 10 == 0:
        key.delete()
    else:
        key.change_description(f"customer {number}, retired soon")
    return key


def _as_operator(number: int) -> AuditContext:
    return AuditContext(
        actor=ACTORS[number % len(ACTORS)],
        source_ip=f"192.0.2.{number % 250 + 1}",
        request_id=str(uuid.uuid4()),
    )


def _save_busy_keys(ledger: KeyLedger, first: int, last: int) -> None:
    now = datetime.now(UTC)
    for start in range(first, last, KEYS_PER_SAVE):
        keys = []
        for number in range(start, min(start + KEYS_PER_SAVE, last)):
            with recording_as(_as_operator(number)):
                keys.append(_busy_key(ledger, number, now))
        ledger.save(*keys)


def _save_hot_key(ledger: KeyLedger, events: int) -> uuid.UUID:
    with recording_as(_as_operator(0)):
        key = _new_key(ledger, -1, datetime.now(UTC))
        for _ in range(events - 1):
            key.reveal_secret()
    ledger.save(key)
    return key.id


def build_store(db: Path, events: int) -> dict[str, Any]:
    """Busy keys, with the hot key recorded in the middle of the log."""
    hot_events = hot_key_events(events)
    busy_keys = (events - hot_events) // EVENTS_PER_KEY
    app = open_app(db)
    ledger = ledger_of(app)
    started = time.perf_counter()
    _save_busy_keys(ledger, 0, busy_keys // 2)
    hot = _save_hot_key(ledger, hot_events)
    _save_busy_keys(ledger, busy_keys // 2, busy_keys)
    seconds = time.perf_counter() - started
    services_of(app).close()
    recorded = busy_keys * EVENTS_PER_KEY + hot_events
    files = db.parent.glob(f"{db.name}*")
    return {
        "events": recorded,
        "hot_key": str(hot),
        "hot_key_events": hot_events,
        "build_seconds": round(seconds, 1),
        "events_per_second": round(recorded / seconds),
        "file_mb": round(sum(path.stat().st_size for path in files) / 2**20),
    }
