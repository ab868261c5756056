"""The one place that wires settings, store, sealer and application."""

from __future__ import annotations

from service.config import Settings, load_master_key, parse_store
from service.ledger import KeyLedger
from service.sealing import SecretSealer


def build_ledger(settings: Settings, *, create_schema: bool = True) -> KeyLedger:
    store = parse_store(settings)
    env = dict(store.eventsourcing_env)
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.aggregate_cache_size)
    env["CREATE_TABLE"] = "y" if create_schema else "n"
    if store.sqlite_path is not None:
        store.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    sealer = SecretSealer(load_master_key(settings, store))
    return KeyLedger(env, sealer)
