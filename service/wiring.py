"""The composition root: the one place that turns settings into services.

``build_services`` connects to a store that is ready; ``prepare_store`` makes
it ready (schema, read-model catch-up, first admin). gunicorn's master and
``keyledger init`` prepare once; workers, the CLI and tests build.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from projections.chain_store import CHECKPOINT_EVERY
from projections.credentials import (
    CredentialsLookup,
    postgres_connector,
    sqlite_connector,
)
from projections.secret_index import SecretIndexQueries
from service.audit_signing import load_signing_keys
from service.auth_tally import AuthTally
from service.authorization import Authorizer
from service.checkpoint_sweep import CheckpointSweep
from service.config import (
    APPLICATION_NAME_SETTING,
    ConfigurationError,
    Settings,
    Store,
    load_master_key,
    parse_store,
)
from service.console_signouts import ConsoleSignOuts, signouts_ddl
from service.ledger import KeyLedger
from service.logs import log_format
from service.operators import OperatorRegistry, operators_ddl
from service.sealing import SecretSealer
from service.secret_lookup import SecretLookup
from service.sqlite_store import secure_database_file
from service.usage import UsageCounter, UsageFlusher
from service.usage_store import UsageStore, usage_ddl


@dataclass
class Services:
    """Everything a request or a command may need, built once per process."""

    settings: Settings
    ledger: KeyLedger
    operators: OperatorRegistry
    authorizer: Authorizer
    usage: UsageStore
    # Started by create_app, in the process that serves (never in a parent).
    usage_flusher: UsageFlusher
    secret_lookup: SecretLookup
    console_signouts: ConsoleSignOuts

    sweep: CheckpointSweep | None = None  # only in a serving process
    auth_tally: AuthTally | None = None  # only in a serving process, metrics on

    def close(self) -> None:
        self.usage_flusher.stop()
        if self.auth_tally is not None:
            self.auth_tally.stop()
        if self.sweep is not None:
            self.sweep.stop()
        self.ledger.close()


def build_services(settings: Settings) -> Services:
    """Services over a prepared store; creates no table and writes nothing."""
    store = parse_store(settings)
    ledger = _ledger(settings, store)
    recorder = ledger.ledger_recorder
    operators = OperatorRegistry(
        recorder.dialect,
        recorder.read_transaction,
        recorder.write_transaction,
        ledger.clock,
    )
    lookup = CredentialsLookup(recorder.dialect, _credentials_connector(store))
    usage = UsageStore(
        recorder.dialect, recorder.read_transaction, recorder.write_transaction
    )
    counter = UsageCounter()
    return Services(
        settings=settings,
        ledger=ledger,
        operators=operators,
        authorizer=Authorizer(
            lookup,
            ledger.sealer,
            usage=counter if settings.usage_counting == "on" else None,
        ),
        usage=usage,
        usage_flusher=UsageFlusher(
            counter, usage.add, float(settings.usage_flush_seconds)
        ),
        console_signouts=ConsoleSignOuts(
            recorder.dialect, recorder.read_transaction, recorder.write_transaction
        ),
        secret_lookup=SecretLookup(
            ledger.sealer,
            SecretIndexQueries(recorder.dialect),
            ledger.read_model,
            recorder.read_transaction,
            lambda: ledger.clock(),
        ),
    )


def prepare_store(services: Services) -> str | None:
    """Makes the store ready to serve: creates what is missing (event log,
    read model, operators), applies events the read model missed, and
    creates the first admin on an empty store, printing a generated token
    once. Returns the first admin's token when this call created it.
    Safe when several instances prepare the same store at once."""
    recorder = services.ledger.ledger_recorder
    recorder.create_table()
    recorder.create_extra_tables(
        [
            operators_ddl(recorder.dialect),
            *usage_ddl(recorder.dialect),
            signouts_ddl(recorder.dialect),
        ]
    )
    recorder.upgrade()
    recorder.catch_up()
    recorder.link_stored()
    supplied = services.settings.bootstrap_token
    token = services.operators.create_first_admin(supplied)
    if token is not None and supplied is None:
        # Deliberately not the logging system: this is the one time the token
        # is shown, to the person starting the service, and never again.
        if log_format() == "json":
            notice = {
                "logger": "keyledger.bootstrap",
                "message": "first admin operator created; store the token now, "
                "it is not shown again",
                "operator": "admin",
                "token": token,
            }
            sys.stderr.write(json.dumps(notice) + "\n")
        else:
            sys.stderr.write(
                "\n=== keyledger: first admin operator created ===\n"
                f"    name:  admin\n    token: {token}\n"
                "    Store it now; it is not shown again.\n\n"
            )
        sys.stderr.flush()
    return token


def _ledger(settings: Settings, store: Store) -> KeyLedger:
    env = dict(store.eventsourcing_env)
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.aggregate_cache_size)
    # prepare_store creates the tables, once, not every process that opens
    # the store.
    env["CREATE_TABLE"] = "n"
    if store.sqlite_path is not None:
        secure_database_file(store.sqlite_path)
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


def _credentials_connector(store: Store) -> Callable[[], Any]:
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
