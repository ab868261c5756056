"""ApiKey events carry who, from where and in which request; replaying them
rebuilds the key. Pure domain.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from domain import (
    EVENT_TYPE_NAMES,
    ApiKey,
    AuditContext,
    KeyStatus,
    MissingActor,
    recording_as,
)
from tests.unit.api_key_cases import (
    ACTOR,
    COMMANDS,
    DEV_KEY,
    INITIAL,
    Case,
    MakeKey,
    _prepared,
    replay,
    state_of,
)

# --------------------------------------------------------------------------
# audit fields
# --------------------------------------------------------------------------


def _every_command(key: ApiKey, now: datetime) -> None:
    key.change_description("new")
    key.change_expiry("2099-06-30", now)
    key.change_ip_whitelist(["2001:db8::/32"])
    key.change_permissions(["send", "verify"])
    key.reset_secret(secret_hash="hash-2", sealed_secret="sealed-2")
    key.reveal_secret()
    key.disable()
    key.enable()
    key.delete()


def test_every_event_carries_the_audit_context(
    make_key: MakeKey, now: datetime
) -> None:
    new_key = make_key(**INITIAL)
    _every_command(new_key, now)
    events = new_key.collect_events()
    assert len(events) == 10
    for event in events:
        assert (event.actor, event.source_ip, event.request_id) == (
            ACTOR.actor,
            ACTOR.source_ip,
            ACTOR.request_id,
        ), type(event).__name__


def test_each_event_records_the_context_current_when_it_happened(
    now: datetime,
) -> None:
    bob = AuditContext(actor="bob", source_ip="2001:db8::1", request_id="req-2")
    with recording_as(ACTOR):
        new_key = ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=now,
            permissions=["send"],
        )
    with recording_as(bob):
        new_key.disable()
    with recording_as(ACTOR):
        new_key.enable()
    actors = [(e.actor, e.source_ip, e.request_id) for e in new_key.collect_events()]
    assert actors == [
        ("alice", "192.0.2.10", "req-1"),
        ("bob", "2001:db8::1", "req-2"),
        ("alice", "192.0.2.10", "req-1"),
    ]


def test_audit_context_source_ip_and_request_id_are_optional(
    now: datetime,
) -> None:
    with recording_as(AuditContext(actor="cli")):
        new_key = ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=now,
            permissions=["send"],
        )
    (created,) = new_key.collect_events()
    assert (created.actor, created.source_ip, created.request_id) == (
        "cli",
        None,
        None,
    )


def test_nested_recording_restores_the_outer_context(now: datetime) -> None:
    bob = AuditContext(actor="bob")
    with recording_as(ACTOR):
        new_key = ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=now,
            permissions=["send"],
        )
        with recording_as(bob):
            new_key.disable()
        new_key.enable()
    assert [e.actor for e in new_key.collect_events()] == ["alice", "bob", "alice"]


def test_create_without_audit_context_raises_missing_actor(now: datetime) -> None:
    with pytest.raises(MissingActor):
        ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=now,
            permissions=["send"],
        )


@pytest.fixture
def key_outside_context(now: datetime) -> ApiKey:
    """A key created with INITIAL, then no audit context set."""
    with recording_as(ACTOR):
        new_key = ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=now,
            **INITIAL,
        )
    new_key.collect_events()
    return new_key


@pytest.mark.parametrize("case", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_without_audit_context_raises_missing_actor(
    key_outside_context: ApiKey, now: datetime, case: Case
) -> None:
    with recording_as(ACTOR):
        _prepared(key_outside_context, case)
    before = state_of(key_outside_context)
    with pytest.raises(MissingActor):
        case.act(key_outside_context, now)
    assert key_outside_context.collect_events() == []
    assert state_of(key_outside_context) == before


def test_no_op_without_audit_context_needs_no_actor(
    key_outside_context: ApiKey,
) -> None:
    assert key_outside_context.change_description("old") is False


# --------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------


def test_replay_of_every_event_rebuilds_the_same_state(
    make_key: MakeKey, now: datetime
) -> None:
    original = make_key(**INITIAL)
    _every_command(original, now)
    events = original.collect_events()
    assert {type(e) for e in events} == set(EVENT_TYPE_NAMES)
    assert state_of(replay(events)) == state_of(original)


def test_replay_of_each_prefix_rebuilds_the_state_at_that_version(
    make_key: MakeKey, now: datetime
) -> None:
    original = make_key(**INITIAL)
    states = [copy.deepcopy(state_of(original))]
    steps: list[Callable[[], object]] = [
        lambda: original.change_description("new"),
        lambda: original.change_expiry(None, now),
        lambda: original.change_ip_whitelist(["::ffff:10.0.0.0/104"]),
        lambda: original.change_permissions(["verify"]),
        lambda: original.reset_secret(secret_hash="hash-2", sealed_secret="sealed-2"),
        lambda: original.reveal_secret(),
        lambda: original.disable(),
        lambda: original.change_description(None),
        lambda: original.enable(),
        lambda: original.change_expiry("2099-12-31T00:00:00+01:00", now),
        lambda: original.delete(),
    ]
    for step in steps:
        step()
        states.append(copy.deepcopy(state_of(original)))
    events = original.collect_events()
    assert len(events) == len(states)
    for count, expected in enumerate(states, start=1):
        assert state_of(replay(events[:count])) == expected, count


def test_replay_needs_no_audit_context(now: datetime) -> None:
    with recording_as(ACTOR):
        original = ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=now,
            **INITIAL,
        )
        _every_command(original, now)
    events = original.collect_events()
    assert state_of(replay(events)) == state_of(original)


def test_replayed_key_records_nothing_pending(make_key: MakeKey, now: datetime) -> None:
    original = make_key(**INITIAL)
    _every_command(original, now)
    assert replay(original.collect_events()).collect_events() == []


def test_replay_does_not_recheck_expiry_against_the_clock(now: datetime) -> None:
    # Recorded when the expiry lay ahead; replayed after it has passed.
    then = now - timedelta(days=10)
    with recording_as(ACTOR):
        original = ApiKey.create(
            dev_key=DEV_KEY,
            secret_hash="hash-1",
            sealed_secret="sealed-1",
            now=then,
            permissions=["send"],
            expires_at=then + timedelta(days=1),
        )
        original.change_expiry(then + timedelta(days=2), then)
    events = original.collect_events()
    rebuilt = replay(events)
    assert state_of(rebuilt) == state_of(original)
    assert rebuilt.status(now) == KeyStatus.EXPIRED
