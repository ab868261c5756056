"""Fills a keyledger store with many keys, fast but through the real thing.

Every key is an ``ApiKey`` aggregate saved by the real ``KeyLedger`` into
the real event store, with the read model written in the same transactions,
exactly as the service does. The only shortcut is batching: one ``save`` of
many aggregates is one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain import ApiKey, AuditContext, recording_as
from service.config import encode_key, load_settings
from service.sealing import new_dev_key, new_dev_secret
from service.wiring import Services, build_services, prepare_store

# A fixed key so a filled store can be served by a separate gunicorn.
SECRET_KEY = encode_key(bytes(range(32)))
BOOTSTRAP_TOKEN = "klo_bench-admin-token-0123456789abcdefghijklmnop"
CLIENT_IP = "203.0.113.9"
# Every whitelist admits CLIENT_IP, so every bench request is allowed.
WHITELISTS: tuple[list[str], ...] = (
    [],
    ["203.0.113.0/24"],
    ["198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"],
)
BENCH_ACTOR = AuditContext("bench", "127.0.0.1", None)

Update = Callable[[ApiKey, int], object]
# The updates a key may receive after its creation, one event each.
UPDATES: tuple[Update, ...] = (
    lambda key, n: key.change_description(f"bench key {n}, renamed"),
    lambda key, n: key.change_ip_whitelist(WHITELISTS[(n + 1) % len(WHITELISTS)]),
    lambda key, n: key.change_permissions(["send"] if n % 2 else ["verify"]),
    lambda key, n: key.disable(),
)


def open_store(database_url: str) -> Services:
    """The store's services, the store prepared as gunicorn's master would."""
    services = build_services(
        load_settings(
            {
                "database_url": database_url,
                "secret_key": SECRET_KEY,
                "bootstrap_token": BOOTSTRAP_TOKEN,
                "log_level": "WARNING",
            }
        )
    )
    prepare_store(services)
    return services


def fill_store(
    services: Services,
    count: int,
    *,
    updates: int = 0,
    batch: int = 1000,
    keep_every: int = 1,
) -> list[tuple[str, str]]:
    """Creates ``count`` keys, each followed by ``updates`` change events.

    Returns (dev_key, dev_secret) of every ``keep_every``-th key.
    """
    ledger = services.ledger
    sealer = ledger.sealer
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=365)
    kept: list[tuple[str, str]] = []
    with recording_as(BENCH_ACTOR):
        for start in range(0, count, batch):
            keys: list[ApiKey] = []
            for n in range(start, min(start + batch, count)):
                dev_key, dev_secret = new_dev_key(), new_dev_secret()
                key = ApiKey.create(
                    dev_key=dev_key,
                    secret_hash=sealer.secret_hash(dev_secret),
                    sealed_secret=sealer.seal(dev_secret, dev_key),
                    now=now,
                    description=f"bench key {n}",
                    expires_at=expires_at if n % 2 else None,
                    ip_whitelist=WHITELISTS[n % len(WHITELISTS)],
                    permissions=["send", "verify"],
                )
                for update in UPDATES[:updates]:
                    update(key, n)
                keys.append(key)
                if n % keep_every == 0:
                    kept.append((dev_key, dev_secret))
            ledger.save(*keys)
    return kept


def timed_fill(
    services: Services, count: int, **options: int
) -> tuple[list[tuple[str, str]], float]:
    started = time.perf_counter()
    kept = fill_store(services, count, **options)
    return kept, time.perf_counter() - started
