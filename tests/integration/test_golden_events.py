"""Audit logs already written stay readable: every event type's golden
stored event (tests/fixtures/events/, frozen when it was first written)
decodes with the current code to the class its type names and to the values
it had, and a store holding them answers the key's history and past states.

A new event type must bring its golden fixture (python -m
tests.fixtures.golden_events); renaming or moving an event class must keep
the old topic resolving (eventsourcing's register_topic)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import StoredEvent
from flask import Flask

from domain import EVENT_TYPE_NAMES
from service.api.context import services_of
from tests.conftest import open_app
from tests.fixtures.golden_events import Golden, all_golden, values_of
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.http import ApiClient

GOLDEN = all_golden()
BY_TYPE = {golden.type: golden for golden in GOLDEN}


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The current application, whose mapper decodes stored events."""
    database = tmp_path_factory.mktemp("golden") / "decoder.db"
    app = open_app(
        {
            "database_url": f"sqlite:///{database}",
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )
    yield app
    services_of(app).close()


def stored(golden: Golden) -> StoredEvent:
    return StoredEvent(
        originator_id=golden.originator_id,
        originator_version=golden.originator_version,
        topic=golden.topic,
        state=golden.state,
    )


def test_every_event_type_has_a_golden_fixture() -> None:
    # Every ApiKey event class has a contract name (tests/unit/test_api_key.py
    # checks that), so this holds every event class to a golden fixture.
    assert set(BY_TYPE) == set(EVENT_TYPE_NAMES.values())
    assert len(GOLDEN) == len(BY_TYPE)  # one fixture per type


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.type for g in GOLDEN])
def test_a_golden_event_decodes_to_its_class_and_values(
    decoder: Flask, golden: Golden
) -> None:
    mapper = services_of(decoder).ledger.mapper
    event = mapper.to_domain_event(stored(golden))

    assert EVENT_TYPE_NAMES[type(event)] == golden.type
    assert values_of(event) == golden.values


def test_a_store_of_golden_events_answers_history_and_past_states(
    app: Flask, api: ApiClient
) -> None:
    life = sorted(GOLDEN, key=lambda golden: golden.originator_version)
    key_id = BY_TYPE["created"].originator_id
    # One key's life; a fixture added later continues it with the next version.
    assert [g.originator_version for g in life] == list(range(1, len(life) + 1))
    ledger = services_of(app).ledger
    ledger.recorder.insert_events(
        [stored(Golden(**{**vars(g), "originator_id": key_id})) for g in life]
    )

    history = api.get(f"/v1/keys/{key_id}/history")
    audit = api.get(f"/v1/audit?key_id={key_id}")
    enabled = BY_TYPE["enabled"].values
    as_it_stood = api.get(
        f"/v1/keys/{key_id}", query_string={"as_of": enabled["timestamp"]}
    )

    assert history.status_code == 200
    assert [(i["type"], i["version"]) for i in history.json["items"]] == [
        (g.type, g.originator_version) for g in life
    ]
    assert [i["actor"] for i in history.json["items"]] == [
        g.values["actor"] for g in life
    ]
    assert [i["type"] for i in audit.json["items"]] == [g.type for g in life]
    assert api.get(f"/v1/keys/{key_id}").status_code == 404  # deleted
    assert as_it_stood.status_code == 200, as_it_stood.json
    assert as_it_stood.json["version"] == enabled["originator_version"]
    assert as_it_stood.json["status"] == "enabled"
    assert as_it_stood.json["dev_key"] == BY_TYPE["created"].values["dev_key"]
    for field in ("description", "ip_whitelist", "permissions"):
        changed = BY_TYPE[f"{field}_changed"].values[field]
        assert as_it_stood.json[field] == changed, field
