"""The auth path's remembered credentials never outlive a change.

On SQLite each thread of the auth path remembers what it read while the
file's ``PRAGMA data_version`` holds (projections/credentials.py); on
PostgreSQL it reads the key's row on every call. Each test runs on both
stores: every event that changes a decision, made through another
``Services`` (other connections, as another worker or instance), is obeyed
by the very next decision, and expiry and the end of a grace are compared
with the clock on every call. The writes of the deciding process itself
count too, and so do threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from domain import AuditContext, recording_as
from projections.credentials import CredentialsLookup, sqlite_connector
from projections.sql import Dialect
from service.authorization import Authorizer
from service.ledger import KeyChanges, KeyLedger
from service.wiring import Services
from tests.conftest import open_services
from tests.support.concurrency import run_together

CLIENT_IP = "203.0.113.9"
OTHER_NET = "198.51.100.0/24"
LATER_EXPIRY = "2099-01-01T00:00:00Z"
EARLIER_EXPIRY = "2030-01-01T00:00:00Z"
# A clock between the two expiries: the earlier one has passed, the later not.
BETWEEN_EXPIRIES = 1_950_000_000.0


@pytest.fixture(autouse=True)
def actor() -> Iterator[AuditContext]:
    with recording_as(AuditContext("alice")) as context:
        yield context


@dataclass
class Scene:
    """A deciding process (``reader``) and a writing one (``writer``)."""

    reader: Services
    writer: Services
    now: list[float]

    def authorizer(self) -> Authorizer:
        return Authorizer(
            self.reader.authorizer.lookup,
            self.reader.ledger.sealer,
            clock=lambda: self.now[0],
        )

    def verdict(
        self, dev_key: str, secret: str, api: str = "send", ip: str = CLIENT_IP
    ) -> tuple[bool, str | None]:
        decision = self.authorizer().decide(dev_key, secret, api, ip)
        return decision.allowed, decision.reason


@pytest.fixture
def scene(config: dict[str, Any]) -> Iterator[Scene]:
    reader = open_services(config)
    writer = open_services(config)
    try:
        yield Scene(reader, writer, [BETWEEN_EXPIRIES - 10**8])
    finally:
        writer.close()
        reader.close()


def _key(ledger: KeyLedger) -> tuple[UUID, str, str]:
    issued = ledger.create_key(
        permissions=["send", "verify"],
        ip_whitelist=["203.0.113.0/24"],
        expires_at=LATER_EXPIRY,
    )
    return issued.key.id, issued.key.dev_key, issued.dev_secret


def _patch(field: str, value: object) -> Callable[[KeyLedger, UUID], object]:
    return lambda ledger, key_id: ledger.update_key(key_id, KeyChanges({field: value}))


# Each change, and the decision for the old secret, api "send" and CLIENT_IP
# once it is acknowledged (the clock between the two expiries).
CHANGES = [
    pytest.param(
        lambda ledger, key_id: ledger.disable_key(key_id),
        (False, "key_disabled"),
        id="disable",
    ),
    pytest.param(
        lambda ledger, key_id: ledger.delete_key(key_id),
        (False, "invalid_credentials"),
        id="delete",
    ),
    pytest.param(
        lambda ledger, key_id: ledger.reset_secret(key_id),
        (False, "invalid_credentials"),
        id="reset-secret",
    ),
    pytest.param(
        _patch("permissions", ["verify"]),
        (False, "permission_denied"),
        id="permissions",
    ),
    pytest.param(
        _patch("ip_whitelist", [OTHER_NET]), (False, "ip_not_allowed"), id="whitelist"
    ),
    pytest.param(
        _patch("expires_at", EARLIER_EXPIRY), (False, "key_expired"), id="expiry"
    ),
    pytest.param(
        lambda ledger, key_id: ledger.roll_secret(key_id, 0),
        (False, "invalid_credentials"),
        id="roll-without-grace",
    ),
]


@pytest.mark.parametrize(("change", "after"), CHANGES)
def test_a_change_by_another_process_is_obeyed_at_once(
    scene: Scene,
    change: Callable[[KeyLedger, UUID], object],
    after: tuple[bool, str | None],
) -> None:
    key_id, dev_key, secret = _key(scene.writer.ledger)
    scene.now[0] = BETWEEN_EXPIRIES
    # Twice: the second answer is the remembered one on SQLite.
    assert scene.verdict(dev_key, secret) == (True, None)
    assert scene.verdict(dev_key, secret) == (True, None)
    change(scene.writer.ledger, key_id)
    assert scene.verdict(dev_key, secret) == after


@pytest.mark.parametrize(("change", "after"), CHANGES)
def test_a_change_by_the_deciding_process_itself_is_obeyed_at_once(
    scene: Scene,
    change: Callable[[KeyLedger, UUID], object],
    after: tuple[bool, str | None],
) -> None:
    key_id, dev_key, secret = _key(scene.reader.ledger)
    scene.now[0] = BETWEEN_EXPIRIES
    assert scene.verdict(dev_key, secret) == (True, None)
    assert scene.verdict(dev_key, secret) == (True, None)
    change(scene.reader.ledger, key_id)
    assert scene.verdict(dev_key, secret) == after


def test_changes_that_allow_again_are_obeyed_at_once(scene: Scene) -> None:
    ledger = scene.writer.ledger
    key_id, dev_key, secret = _key(ledger)
    ledger.disable_key(key_id)
    assert scene.verdict(dev_key, secret) == (False, "key_disabled")
    assert scene.verdict(dev_key, secret) == (False, "key_disabled")
    ledger.enable_key(key_id)
    assert scene.verdict(dev_key, secret) == (True, None)
    ledger.update_key(key_id, KeyChanges({"permissions": ["send"]}))
    assert scene.verdict(dev_key, secret, api="verify") == (False, "permission_denied")
    ledger.update_key(key_id, KeyChanges({"permissions": ["send", "verify"]}))
    assert scene.verdict(dev_key, secret, api="verify") == (True, None)
    ledger.delete_key(key_id)
    assert scene.verdict(dev_key, secret) == (False, "invalid_credentials")
    ledger.restore_key(key_id)  # restored disabled
    assert scene.verdict(dev_key, secret) == (False, "key_disabled")
    ledger.enable_key(key_id)
    assert scene.verdict(dev_key, secret) == (True, None)


def test_a_new_secret_works_at_once_and_the_old_one_until_its_grace_ends(
    scene: Scene,
) -> None:
    key_id, dev_key, old = _key(scene.writer.ledger)
    assert scene.verdict(dev_key, old) == (True, None)
    new = scene.writer.ledger.roll_secret(key_id, 3600).dev_secret
    decision = scene.authorizer().decide(dev_key, new, "send", CLIENT_IP)
    assert (decision.allowed, decision.credentials is not None) == (True, True)
    assert decision.credentials is not None
    grace_ends = decision.credentials.previous_secret_expires_at
    assert grace_ends is not None
    scene.now[0] = grace_ends - 1
    assert scene.verdict(dev_key, old) == (True, None)
    assert scene.verdict(dev_key, old) == (True, None)
    # No write: only the clock moved past the end of the grace.
    scene.now[0] = grace_ends
    assert scene.verdict(dev_key, old) == (False, "invalid_credentials")
    assert scene.verdict(dev_key, new) == (True, None)


def test_expiry_is_compared_with_the_clock_on_every_call(scene: Scene) -> None:
    key_id, dev_key, secret = _key(scene.writer.ledger)
    scene.writer.ledger.update_key(key_id, KeyChanges({"expires_at": EARLIER_EXPIRY}))
    scene.now[0] = BETWEEN_EXPIRIES - 10**8
    assert scene.verdict(dev_key, secret) == (True, None)
    assert scene.verdict(dev_key, secret) == (True, None)
    scene.now[0] = BETWEEN_EXPIRIES
    assert scene.verdict(dev_key, secret) == (False, "key_expired")


def test_threads_obey_a_change_acknowledged_before_their_call(scene: Scene) -> None:
    """Threads decide in a loop while the key is disabled and enabled: a
    call that began after a change was acknowledged, and before the next one
    began, must obey it."""
    ledger = scene.writer.ledger
    key_id, dev_key, secret = _key(ledger)
    # (changes begun or acknowledged so far, whether the key is enabled or
    # None while a change is under way)
    state: list[Any] = [0, True]
    stale: list[tuple[bool, tuple[bool, str | None]]] = []
    checked = [0]
    done = threading.Event()
    lock = threading.Lock()
    checked_more = threading.Condition(lock)

    def moment(enabled: bool | None) -> None:
        with lock:
            state[:] = [state[0] + 1, enabled]

    def decide_until_done() -> None:
        while not done.is_set():
            with lock:
                began, expected = list(state)
            got = scene.verdict(dev_key, secret)
            with lock:
                if expected is not None and state[0] == began:
                    checked[0] += 1
                    checked_more.notify_all()
                    if got[0] != expected:
                        stale.append((expected, got))

    def checks_of_this_state() -> None:
        """Until each decider had a call checked against this state."""
        with checked_more:
            target = checked[0] + 4
            assert checked_more.wait_for(lambda: checked[0] >= target, timeout=30)

    def manage() -> None:
        try:
            with recording_as(AuditContext("alice")):
                for _ in range(40):
                    moment(None)
                    ledger.disable_key(key_id)
                    moment(False)
                    checks_of_this_state()
                    moment(None)
                    ledger.enable_key(key_id)
                    moment(True)
                    checks_of_this_state()
        finally:
            done.set()

    run_together([manage] + [decide_until_done] * 4)
    assert checked[0] > 40
    assert stale == []


def _sqlite_path(database_url: str) -> str | None:
    prefix = "sqlite:///"
    return database_url[len(prefix) :] if database_url.startswith(prefix) else None


@dataclass
class Traced:
    lookup: CredentialsLookup
    statements: list[str]


@pytest.fixture
def traced(config: dict[str, Any], scene: Scene) -> Traced:
    """A SQLite lookup whose connections record each statement they run."""
    path = _sqlite_path(config["database_url"])
    if path is None:
        pytest.skip("the remembered credentials are SQLite's")
    statements: list[str] = []
    connect = sqlite_connector(path)

    def traced_connect() -> sqlite3.Connection:
        connection = connect()
        connection.set_trace_callback(statements.append)
        return connection

    return Traced(CredentialsLookup(Dialect("sqlite"), traced_connect), statements)


def _reads_of_the_row(statements: list[str]) -> int:
    return sum("LEFT JOIN" in statement for statement in statements)


def test_a_remembered_answer_costs_one_pragma_and_no_row_read(
    scene: Scene, traced: Traced
) -> None:
    _, dev_key, secret = _key(scene.writer.ledger)
    digest = scene.reader.ledger.sealer.secret_hash(secret)
    first = traced.lookup(dev_key, digest)
    assert _reads_of_the_row(traced.statements) == 1
    traced.statements.clear()
    assert traced.lookup(dev_key, digest) is first
    assert traced.statements == ["PRAGMA data_version"]


def test_only_the_keys_own_secret_hash_is_remembered(
    scene: Scene, traced: Traced
) -> None:
    """A caller without the secret pays the row read on every call, for a
    known DevKey as for an unknown one (the timing stays equal)."""
    _, dev_key, secret = _key(scene.writer.ledger)
    sealer = scene.reader.ledger.sealer
    wrong = sealer.secret_hash(secret + "x")
    for name in (dev_key, "no-such-dev-key", dev_key, "no-such-dev-key"):
        traced.lookup(name, wrong)
    assert _reads_of_the_row(traced.statements) == 4
    right = sealer.secret_hash(secret)
    traced.lookup(dev_key, right)
    traced.lookup(dev_key, right)
    assert _reads_of_the_row(traced.statements) == 5


def test_a_write_by_another_connection_forgets_what_was_remembered(
    scene: Scene, traced: Traced
) -> None:
    key_id, dev_key, secret = _key(scene.writer.ledger)
    digest = scene.reader.ledger.sealer.secret_hash(secret)
    traced.lookup(dev_key, digest)
    traced.lookup(dev_key, digest)
    assert _reads_of_the_row(traced.statements) == 1
    scene.writer.ledger.update_key(key_id, KeyChanges({"description": "renamed"}))
    changed = traced.lookup(dev_key, digest)
    assert _reads_of_the_row(traced.statements) == 2
    assert changed is not None
    assert changed.version == scene.writer.ledger.get_key(key_id).version


def test_each_thread_remembers_on_its_own_connection(
    scene: Scene, traced: Traced
) -> None:
    _, dev_key, secret = _key(scene.writer.ledger)
    digest = scene.reader.ledger.sealer.secret_hash(secret)
    seen: list[int] = []

    def twice() -> int:
        first = traced.lookup(dev_key, digest)
        again = traced.lookup(dev_key, digest)
        assert first is not None
        assert again is first
        seen.append(threading.get_ident())
        return threading.get_ident()

    run_together([twice] * 4)
    assert len(set(seen)) == 4
    # One row read per thread: a thread never serves another's memory.
    assert _reads_of_the_row(traced.statements) == 4
