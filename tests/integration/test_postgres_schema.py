"""PostgreSQL set-up and connections: instances starting together on an empty
schema, repeated schema creation, the schema named in the URL, connections
that name themselves and survive being terminated by the server."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest

from domain import AuditContext, recording_as
from service.config import (
    APPLICATION_NAME_SETTING,
    Settings,
    load_settings,
    parse_store,
)
from service.wiring import Services, build_services, prepare_store
from tests.support.concurrency import run_together
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.sql import postgres_admin, schema_of

pytestmark = pytest.mark.postgres

OPERATOR = AuditContext("alice", "192.0.2.10", "req-pg")
TABLES = {
    "stored_events",
    "keyledger_keys",
    "keyledger_audit",
    "keyledger_audit_marks",
    "keyledger_projection",
    "keyledger_operators",
    "keyledger_secret_index",
    "keyledger_usage",
    "keyledger_last_use",
    "keyledger_console_signouts",
    "keyledger_chain",
    "keyledger_checkpoints",
}


def settings_for(url: str) -> Settings:
    return load_settings(
        {
            "database_url": url,
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )


def prepared(settings: Settings) -> Services:
    services = build_services(settings)
    prepare_store(services)
    return services


@pytest.fixture
def opened() -> Iterator[list[Services]]:
    """Collects what a test builds and closes it afterwards."""
    built: list[Services] = []
    yield built
    for services in built:
        services.close()


# Schema set-up.


def test_two_services_built_at_once_on_an_empty_schema_share_one_store(
    postgres_url: str, opened: list[Services]
) -> None:
    def start() -> tuple[Services, str | None]:
        services = build_services(settings_for(postgres_url))
        opened.append(services)
        return services, prepare_store(services)

    (first, token_1), (second, token_2) = run_together([start, start])
    with recording_as(OPERATOR):
        key = first.ledger.create_key(permissions=["send"]).key

    assert {token_1, token_2} == {ADMIN_TOKEN, None}
    assert second.ledger.get_key(key.id).dev_key == key.dev_key


def test_creating_the_tables_again_keeps_what_they_hold(
    postgres_url: str, opened: list[Services]
) -> None:
    first = prepared(settings_for(postgres_url))
    opened.append(first)
    with recording_as(OPERATOR):
        key = first.ledger.create_key(permissions=["send"]).key
    first.ledger.recorder.create_table()  # type: ignore[attr-defined]
    again = prepared(settings_for(postgres_url))
    opened.append(again)

    assert again.ledger.get_key(key.id).version == 1
    assert again.ledger.read_model.key(key.id) is not None


def test_the_schema_named_in_the_url_is_created_with_every_table(
    postgres_url: str, opened: list[Services]
) -> None:
    schema = schema_of(postgres_url)
    before = postgres_admin(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
    )
    opened.append(prepared(settings_for(postgres_url)))
    tables = postgres_admin(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        (schema,),
    )

    assert before == []
    assert {name for (name,) in tables} == TABLES


# Connections.


def test_connections_are_named_keyledger_unless_the_url_says_otherwise() -> None:
    plain = parse_store(settings_for("postgresql://u@db.internal/keys"))
    named = parse_store(
        settings_for("postgresql://u@db.internal/keys?application_name=keys-eu")
    )

    assert plain.eventsourcing_env[APPLICATION_NAME_SETTING] == "keyledger"
    assert named.eventsourcing_env[APPLICATION_NAME_SETTING] == "keys-eu"


@pytest.fixture
def named(postgres_url: str, opened: list[Services]) -> tuple[Services, str]:
    """Services whose connections carry a name unique to this test."""
    name = f"keyledger-{uuid.uuid4().hex[:12]}"
    services = prepared(settings_for(f"{postgres_url}&application_name={name}"))
    opened.append(services)
    return services, name


def backends(name: str) -> int:
    rows = postgres_admin(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
    )
    return int(rows[0][0])


def terminate(name: str) -> None:
    """Terminates every backend carrying ``name`` and waits until they are gone
    (the server ends them asynchronously)."""
    postgres_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s",
        (name,),
    )
    deadline = time.monotonic() + 10
    while backends(name) and time.monotonic() < deadline:
        pass
    assert backends(name) == 0


def test_every_connection_keyledger_opens_carries_its_name(
    named: tuple[Services, str],
) -> None:
    services, name = named
    with recording_as(OPERATOR):
        issued = services.ledger.create_key(permissions=["send"])
    decision = services.authorizer.decide(
        issued.key.dev_key, issued.dev_secret, "send", "203.0.113.9"
    )
    pool = services.ledger.recorder.datastore.pool  # type: ignore[attr-defined]
    pool.wait(timeout=10)

    assert decision.allowed
    # The pool's connections plus the auth path's own one.
    assert backends(name) == pool.get_stats()["pool_size"] + 1


def test_auth_reconnects_after_the_server_closed_its_connection(
    named: tuple[Services, str],
) -> None:
    services, name = named
    with recording_as(OPERATOR):
        issued = services.ledger.create_key(permissions=["send"])
    key = issued.key
    first = services.authorizer.decide(key.dev_key, issued.dev_secret, "send", "::1")
    terminate(name)
    second = services.authorizer.decide(key.dev_key, issued.dev_secret, "send", "::1")

    assert (first.allowed, second.allowed) == (True, True)


def test_a_pool_of_dead_connections_is_replaced_at_the_first_request(
    named: tuple[Services, str], caplog: pytest.LogCaptureFixture
) -> None:
    services, name = named
    pool = services.ledger.recorder.datastore.pool  # type: ignore[attr-defined]
    pool.wait(timeout=10)  # all its connections open, so all of them die
    dead = pool.get_stats()["pool_available"]
    terminate(name)
    with caplog.at_level(logging.INFO, logger="psycopg.pool"):
        admin = services.operators.authenticate(ADMIN_TOKEN)
    handed_out_dead = [
        r
        for r in caplog.records
        if r.getMessage().startswith("connection failed check")
    ]

    assert admin is not None
    assert admin.name == "admin"
    # One dead connection makes the pool test its idle siblings at once, so
    # the request's retry gets a fresh one. Without that, it meets every dead
    # one in turn, backing off 1 s, 2 s, 4 s ... (psycopg_pool's) each time.
    assert dead >= 2
    assert len(handed_out_dead) == 1
