"""GET /v1/keys/{id}?as_of=: the key as it stood at a time, counting the
events recorded at or before it, measured against the times the history
reports, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from tests.support.http import ApiClient

MICROSECOND = timedelta(microseconds=1)


@dataclass
class Timeline:
    key_id: str
    states: dict[int, dict[str, Any]]  # the key as GET showed it at each version
    history: list[dict[str, Any]]

    def moment(self, index: int) -> datetime:
        return datetime.fromisoformat(self.history[index]["occurred_at"])

    def version_at(self, moment: datetime) -> int | None:
        """What the contract says: the newest version recorded at or before."""
        recorded = [
            item["version"]
            for item in self.history
            if datetime.fromisoformat(item["occurred_at"]) <= moment
        ]
        return max(recorded, default=None)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def timeline(api: ApiClient) -> Timeline:
    """A key changed once per request, then deleted."""
    key = api.create_key(description="v1", expires_at="2099-01-31")
    key_id = key["id"]
    steps = [
        lambda: api.patch(key_id, {"description": "v2, edited"}),
        lambda: api.patch(key_id, {"ip_whitelist": ["203.0.113.0/24"]}),
        lambda: api.get(f"/v1/keys/{key_id}/secret"),
        lambda: api.action(key_id, "disable"),
        lambda: api.patch(key_id, {"permissions": ["verify"]}),
        lambda: api.action(key_id, "enable"),
    ]
    states = {1: api.get(f"/v1/keys/{key_id}").json}
    for step in steps:
        assert step().status_code == 200
        state = api.get(f"/v1/keys/{key_id}").json
        states[state["version"]] = state
    assert api.delete(key_id).status_code == 204
    history = api.get(f"/v1/keys/{key_id}/history").json["items"]
    assert [item["version"] for item in history] == list(range(1, 9))
    return Timeline(key_id, states, history)


def as_of(api: ApiClient, key_id: str, moment: str) -> Any:
    return api.get(f"/v1/keys/{key_id}?as_of={quote(moment)}")


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), -MICROSECOND, MICROSECOND],
    ids=["at", "one_microsecond_before", "one_microsecond_after"],
)
def test_as_of_around_each_change_shows_the_key_as_it_stood(
    api: ApiClient, timeline: Timeline, offset: timedelta
) -> None:
    """The key is deleted by now: every time before the delete still shows it."""
    for index in range(len(timeline.history) - 1):
        moment = timeline.moment(index) + offset
        expected = timeline.version_at(moment)

        response = as_of(api, timeline.key_id, z(moment))

        if expected is None:
            assert response.status_code == 404
        else:
            assert response.status_code == 200, z(moment)
            assert response.json == timeline.states[expected]
            assert response.headers["ETag"] == f'"{expected}"'


def test_as_of_at_a_change_includes_it_and_just_before_excludes_it(
    api: ApiClient, timeline: Timeline
) -> None:
    changed = timeline.history[1]
    moment = timeline.moment(1)

    at = as_of(api, timeline.key_id, changed["occurred_at"]).json
    before = as_of(api, timeline.key_id, z(moment - MICROSECOND)).json

    assert (at["version"], at["description"]) == (2, "v2, edited")
    assert (before["version"], before["description"]) == (1, "v1")


def test_history_times_are_the_times_of_the_key_versions(timeline: Timeline) -> None:
    for index, item in enumerate(timeline.history[:-1]):
        state = timeline.states[item["version"]]
        assert datetime.fromisoformat(state["updated_at"]) == timeline.moment(index)


@pytest.mark.parametrize(
    "moment",
    [
        lambda t: t.moment(0) - MICROSECOND,
        lambda t: datetime(2000, 1, 1, tzinfo=UTC),
    ],
    ids=["just_before", "long_before"],
)
def test_as_of_before_creation_is_404(
    api: ApiClient, timeline: Timeline, moment: Any
) -> None:
    response = as_of(api, timeline.key_id, z(moment(timeline)))

    assert response.status_code == 404


@pytest.mark.parametrize(
    "moment",
    [
        lambda t: t.moment(-1),
        lambda t: t.moment(-1) + MICROSECOND,
        lambda t: datetime.now(UTC) + timedelta(days=1),
    ],
    ids=["at_delete", "after_delete", "tomorrow"],
)
def test_as_of_at_or_after_deletion_is_404(
    api: ApiClient, timeline: Timeline, moment: Any
) -> None:
    response = as_of(api, timeline.key_id, z(moment(timeline)))

    assert response.status_code == 404


def test_as_of_reads_any_zone_offset(api: ApiClient, timeline: Timeline) -> None:
    berlin = timeline.moment(2).astimezone(timezone(timedelta(hours=2)))

    response = as_of(api, timeline.key_id, berlin.isoformat())

    assert response.json == timeline.states[3]


def test_as_of_now_on_a_live_key_equals_the_key(api: ApiClient) -> None:
    key = api.create_key(description="live")
    api.patch(key["id"], {"description": "still live"})
    now = datetime.now(UTC)

    response = as_of(api, key["id"], z(now))

    assert response.json == api.get(f"/v1/keys/{key['id']}").json


@pytest.mark.parametrize(
    "key_id",
    ["5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10", "not-a-uuid"],
    ids=["unknown", "malformed"],
)
def test_as_of_on_a_key_that_never_existed_is_404(api: ApiClient, key_id: str) -> None:
    assert as_of(api, key_id, "2027-01-31T23:59:59Z").status_code == 404


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2027-01-31",
        "2027-01-31T23:59:59",
        "2027-13-01T00:00:00Z",
        "2027-01-31T25:00:00Z",
        "",
    ],
)
def test_invalid_as_of_is_422_naming_it(api: ApiClient, value: str) -> None:
    key = api.create_key()

    response = as_of(api, key["id"], value)

    assert response.status_code == 422
    assert list(response.json["errors"]) == ["as_of"]


def test_an_auditor_may_look_back(
    app: Flask, api: ApiClient, timeline: Timeline
) -> None:
    token = app.extensions["keyledger"].operators.create("carol", "auditor")

    response = as_of(api.as_token(token), timeline.key_id, z(timeline.moment(3)))

    assert response.json == timeline.states[4]
