"""What the ApiKey tests share: a key made with INITIAL values, and COMMANDS,
one case per command with the event, fields and state it must produce."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from domain import ApiKey, AuditContext

MakeKey = Callable[..., ApiKey]

ACTOR = AuditContext(actor="alice", source_ip="192.0.2.10", request_id="req-1")
DEV_KEY = "dk_0123456789abcdefghij"

# Fields every ApiKey event carries, whatever its type.
BASE_FIELDS = {
    "originator_id",
    "originator_version",
    "timestamp",
    "actor",
    "source_ip",
    "request_id",
}

INITIAL: dict[str, Any] = {
    "description": "old",
    "expires_at": "2099-01-31",
    "ip_whitelist": ["203.0.113.0/24"],
    "permissions": ["send"],
}
INITIAL_EXPIRY = datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)


def state_of(key: ApiKey) -> dict[str, Any]:
    """The aggregate's state, without the events waiting to be collected."""
    state = dict(vars(key))
    state.pop("_pending_events")
    return state


def replay(events: Sequence[Any]) -> ApiKey:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, ApiKey)
    return aggregate


def own_fields(event: object) -> set[str]:
    names = {f.name for f in dataclasses.fields(event)}
    return names - BASE_FIELDS - {"originator_topic"}


def _noop(key: ApiKey) -> None:
    return None


class Case(NamedTuple):
    """One command on a key created with INITIAL, and what it must do."""

    prepare: Callable[[ApiKey], object]
    act: Callable[[ApiKey, datetime], object]
    event_class: type[ApiKey.Event]
    fields: dict[str, Any]
    state: dict[str, Any]
    returns: object


COMMANDS: dict[str, Case] = {
    "change_description": Case(
        _noop,
        lambda key, now: key.change_description("new"),
        ApiKey.DescriptionChanged,
        {"description": "new", "previous_description": "old"},
        {"description": "new"},
        True,
    ),
    "clear_description": Case(
        _noop,
        lambda key, now: key.change_description(None),
        ApiKey.DescriptionChanged,
        {"description": "", "previous_description": "old"},
        {"description": ""},
        True,
    ),
    "change_expiry": Case(
        _noop,
        lambda key, now: key.change_expiry("2099-06-30T12:00:00.75+02:00", now),
        ApiKey.ExpiryChanged,
        {
            "expires_at": datetime(2099, 6, 30, 10, 0, 0, tzinfo=UTC),
            "previous_expires_at": INITIAL_EXPIRY,
        },
        {"expires_at": datetime(2099, 6, 30, 10, 0, 0, tzinfo=UTC)},
        True,
    ),
    "remove_expiry": Case(
        _noop,
        lambda key, now: key.change_expiry(None, now),
        ApiKey.ExpiryChanged,
        {"expires_at": None, "previous_expires_at": INITIAL_EXPIRY},
        {"expires_at": None},
        True,
    ),
    "change_ip_whitelist": Case(
        _noop,
        lambda key, now: key.change_ip_whitelist(
            ["2001:DB8::7", "203.0.113.0/24", "::ffff:198.51.100.4"]
        ),
        ApiKey.IpWhitelistChanged,
        {
            "ip_whitelist": ["198.51.100.4", "203.0.113.0/24", "2001:db8::7"],
            "previous_ip_whitelist": ["203.0.113.0/24"],
        },
        {"ip_whitelist": ("198.51.100.4", "203.0.113.0/24", "2001:db8::7")},
        True,
    ),
    "clear_ip_whitelist": Case(
        _noop,
        lambda key, now: key.change_ip_whitelist([]),
        ApiKey.IpWhitelistChanged,
        {"ip_whitelist": [], "previous_ip_whitelist": ["203.0.113.0/24"]},
        {"ip_whitelist": ()},
        True,
    ),
    "change_permissions": Case(
        _noop,
        lambda key, now: key.change_permissions(["verify", "send", "verify"]),
        ApiKey.PermissionsChanged,
        {"permissions": ["send", "verify"], "previous_permissions": ["send"]},
        {"permissions": ("send", "verify")},
        True,
    ),
    "reset_secret": Case(
        _noop,
        lambda key, now: key.reset_secret(
            secret_hash="hash-2", sealed_secret="sealed-2"
        ),
        ApiKey.SecretReset,
        {"secret_hash": "hash-2", "sealed_secret": "sealed-2"},
        {"secret_hash": "hash-2", "sealed_secret": "sealed-2"},
        None,
    ),
    "reveal_secret": Case(
        _noop,
        lambda key, now: key.reveal_secret(),
        ApiKey.SecretRevealed,
        {},
        {},
        "sealed-1",
    ),
    "disable": Case(
        _noop,
        lambda key, now: key.disable(),
        ApiKey.Disabled,
        {},
        {"enabled": False},
        True,
    ),
    "enable": Case(
        lambda key: key.disable(),
        lambda key, now: key.enable(),
        ApiKey.Enabled,
        {},
        {"enabled": True},
        True,
    ),
    "delete": Case(
        _noop,
        lambda key, now: key.delete(),
        ApiKey.Deleted,
        {},
        {"deleted": True},
        None,
    ),
}


def _prepared(key: ApiKey, case: Case) -> ApiKey:
    case.prepare(key)
    key.collect_events()
    return key
