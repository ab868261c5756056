"""Any sequence of commands on an ApiKey: the invariants hold, a replay of
its events equals the live aggregate, and every change has its history
item (hypothesis RuleBasedStateMachine)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain import ApiKey, AuditContext, InvalidValue, KeyDeleted, recording_as
from domain.values import KeyStatus, parse_description
from projections.audit_trail import audit_entry

ACTOR = AuditContext(actor="alice", source_ip="192.0.2.10", request_id="req-1")
NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
STATE = ("description", "expires_at", "ip_whitelist", "permissions", "enabled")
STATE += ("deleted", "secret_hash", "sealed_secret", "version", "dev_key")

descriptions = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(min_size=250, max_size=260),
    st.sampled_from(["a\nb", "a\u202eb", "a\ud800b", "plain", ""]),
    st.integers(),
)
expiries = st.one_of(
    st.none(),
    st.dates(min_value=date(2000, 1, 1), max_value=date(9999, 12, 31)).map(str),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
    ),
    st.sampled_from(
        ["9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00", "tomorrow", ""]
    ),
)
networks = st.sampled_from(
    [
        "203.0.113.0/24",
        "2001:db8::7",
        "10.0.0.1/8",
        "fe80::1%eth0",
        "::ffff:1.2.3.4",
        "198.51.100.4",
        "not-an-ip",
        "0.0.0.0/0",
    ]
)
permissions = st.one_of(
    st.lists(st.sampled_from(["send", "verify", "admin"]), max_size=4),
    st.just("send"),
)


def snapshot(key: ApiKey) -> dict[str, Any]:
    return {name: copy.deepcopy(getattr(key, name)) for name in STATE}


def replay(events: list[Any]) -> ApiKey:
    aggregate: Any = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate  # type: ignore[no-any-return]


class ApiKeyCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        with recording_as(ACTOR):
            self.key = ApiKey.create(
                dev_key="dk_state_machine_000000",
                secret_hash="h0",
                sealed_secret="s0",
                now=NOW,
                permissions=["send"],
            )
        self.events: list[Any] = list(self.key.collect_events())
        self.secrets = 0

    def run(self, command: Any, *args: Any) -> None:
        """Runs a command; a refusal must record nothing and change nothing."""
        before = snapshot(self.key)
        try:
            with recording_as(ACTOR):
                command(*args)
        except (InvalidValue, KeyDeleted) as refused:
            if isinstance(refused, KeyDeleted):
                assert before["deleted"]
            assert self.key.collect_events() == []
            assert snapshot(self.key) == before
            return
        new = list(self.key.collect_events())
        assert len(new) <= 1
        if not new:
            assert snapshot(self.key) == before  # a no-op records nothing
        self.events.extend(new)

    @rule(value=descriptions)
    def change_description(self, value: object) -> None:
        self.run(self.key.change_description, value)

    @rule(value=expiries)
    def change_expiry(self, value: object) -> None:
        self.run(self.key.change_expiry, value, NOW)

    @rule(values=st.one_of(st.none(), st.lists(networks, max_size=4)))
    def change_ip_whitelist(self, values: object) -> None:
        self.run(self.key.change_ip_whitelist, values)

    @rule(values=permissions)
    def change_permissions(self, values: object) -> None:
        self.run(self.key.change_permissions, values)

    @rule()
    def reset_secret(self) -> None:
        self.secrets += 1
        self.run(
            lambda: self.key.reset_secret(
                secret_hash=f"h{self.secrets}", sealed_secret=f"s{self.secrets}"
            )
        )

    @rule()
    def reveal_secret(self) -> None:
        self.run(self.key.reveal_secret)

    @rule()
    def disable(self) -> None:
        self.run(self.key.disable)

    @rule()
    def enable(self) -> None:
        self.run(self.key.enable)

    @precondition(lambda self: len(self.events) > 3)
    @rule()
    def delete(self) -> None:
        self.run(self.key.delete)

    @invariant()
    def replay_equals_the_live_key(self) -> None:
        assert snapshot(replay(self.events)) == snapshot(self.key)

    @invariant()
    def the_key_keeps_its_rules(self) -> None:
        key = self.key
        assert key.version == len(self.events)
        assert parse_description(key.description) == key.description
        assert key.permissions
        assert set(key.permissions) <= {"send", "verify"}
        assert list(key.permissions) == sorted(set(key.permissions))
        assert list(key.ip_whitelist) == list(dict.fromkeys(key.ip_whitelist))
        assert key.expires_at is None or key.expires_at.tzinfo is not None
        assert key.status(NOW) in set(KeyStatus)
        if key.deleted:
            assert type(self.events[-1]) is ApiKey.Deleted

    @invariant()
    def every_change_has_its_history_item(self) -> None:
        entries = [audit_entry(n, event) for n, event in enumerate(self.events, 1)]
        assert [e.version for e in entries] == list(range(1, len(entries) + 1))
        assert all(e.actor == "alice" and e.key_id == self.key.id for e in entries)
        for event, entry in zip(self.events, entries, strict=True):
            text = repr(entry)
            assert "sealed" not in text
            assert "secret_hash" not in text
            for field in ("description", "ip_whitelist", "permissions"):
                if hasattr(event, field) and not isinstance(event, ApiKey.Created):
                    change = entry.changes[field]
                    assert change["to"] == list(getattr(event, field)) or change[
                        "to"
                    ] == getattr(event, field)
                    assert change["from"] != change["to"]
            if isinstance(event, ApiKey.Disabled | ApiKey.Enabled):
                assert set(entry.changes) == {"status"}


ApiKeyCommands.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_any_command_sequence_keeps_the_api_key_consistent = ApiKeyCommands.TestCase
