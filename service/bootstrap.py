"""The one place that wires settings, store, sealer and application."""

from __future__ import annotations

from projections.chain_store import CHECKPOINT_EVERY
from projections.credentials import (
    CredentialsLookup,
    postgres_connector,
    sqlite_connector,
)
from service.audit_signing import load_signing_keys
from service.authorization import Authorizer
from service.config import (
    APPLICATION_NAME_SETTING,
    ConfigurationError,
    Settings,
    Store,
    load_master_key,
    parse_store,
)
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
    if not 1 <= settings.audit_checkpoint_every <= CHECKPOINT_EVERY:
        raise ConfigurationError(
            f"KEYLEDGER_AUDIT_CHECKPOINT_EVERY must be 1 to {CHECKPOINT_EVERY}"
        )
    return KeyLedger(
        env,
        sealer,
        signing_keys=load_signing_keys(settings, store),
        checkpoint_every=settings.audit_checkpoint_every,
    )


def build_authorizer(settings: Settings, ledger: KeyLedger) -> Authorizer:
    store = parse_store(settings)
    lookup = CredentialsLookup(ledger.ledger_recorder.dialect, _connector(store))
    return Authorizer(lookup, ledger.sealer)


def _connector(store: Store):  # type: ignore[no-untyped-def]
    if store.sqlite_path is not None:
        return sqlite_connector(str(store.sqlite_path))
    env = store.eventsourcing_env
    return postgres_connector(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        application_name=env[APPLICATION_NAME_SETTING],
    )
