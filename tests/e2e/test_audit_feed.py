"""GET /v1/audit: filters, cursor paging under concurrent writes and
validation, on SQLite and PostgreSQL. (Exports: test_audit_export.py.)"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest

from tests.e2e.audit_feeds import Feed, Item, times, whole_feed
from tests.support.http import ApiClient

# Each case: the query string for a feed, and which of its items it selects.
FILTERS: dict[str, tuple[Callable[[Feed], str], Callable[[Feed, Item], bool]]] = {
    "key_id": (
        lambda f: f"key_id={f.first}",
        lambda f, i: i["key_id"] == f.first,
    ),
    "actor": (lambda f: "actor=bob", lambda f, i: i["actor"] == "bob"),
    "type": (lambda f: "type=disabled", lambda f, i: i["type"] == "disabled"),
    "since": (
        lambda f: f"since={times(f)[3]}",
        lambda f, i: i["occurred_at"] >= times(f)[3],
    ),
    "until": (
        lambda f: f"until={times(f)[3]}",
        lambda f, i: i["occurred_at"] <= times(f)[3],
    ),
    "since_and_until": (
        lambda f: f"since={times(f)[2]}&until={times(f)[5]}",
        lambda f, i: times(f)[2] <= i["occurred_at"] <= times(f)[5],
    ),
    "key_id_and_type": (
        lambda f: f"key_id={f.second}&type=disabled",
        lambda f, i: i["key_id"] == f.second and i["type"] == "disabled",
    ),
    "actor_and_since": (
        lambda f: f"actor=admin&since={times(f)[2]}",
        lambda f, i: i["actor"] == "admin" and i["occurred_at"] >= times(f)[2],
    ),
    "all_at_once": (
        lambda f: (
            f"key_id={f.second}&actor=bob&type=ip_whitelist_changed"
            f"&since={times(f)[0]}&until={times(f)[-1]}"
        ),
        lambda f, i: i["key_id"] == f.second and i["type"] == "ip_whitelist_changed",
    ),
    # The last few events: the store seeks to them through the time index.
    "since_recent": (
        lambda f: f"since={times(f)[6]}",
        lambda f, i: i["occurred_at"] >= times(f)[6],
    ),
    "matching_nothing": (lambda f: "actor=nobody", lambda f, i: False),
    "since_after_everything": (
        lambda f: "since=2999-01-01T00:00:00Z",
        lambda f, i: False,
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filters_select_exactly_their_items_in_recorded_order(
    api: ApiClient, feed: Feed, name: str
) -> None:
    query, selects = FILTERS[name]
    expected = [item for item in feed.items if selects(feed, item)]

    assert whole_feed(api, "&" + query(feed)) == expected
    assert expected or name in ("matching_nothing", "since_after_everything")


def test_the_feed_holds_every_event_in_recorded_order(feed: Feed) -> None:
    assert [(i["key_id"] == feed.first, i["type"]) for i in feed.items] == [
        (True, "created"),
        (False, "created"),
        (True, "description_changed"),
        (False, "disabled"),
        (True, "secret_revealed"),
        (False, "ip_whitelist_changed"),
        (True, "disabled"),
        (False, "deleted"),
    ]


def test_times_are_rfc3339_utc_with_microseconds(feed: Feed) -> None:
    pattern = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

    assert all(pattern.fullmatch(t) for t in times(feed))


def test_pages_have_no_gaps_or_duplicates_while_events_arrive(
    api: ApiClient, feed: Feed
) -> None:
    read: list[Item] = []
    page = api.get("/v1/audit?limit=3").json
    for round_number in range(5):
        read += page["items"]
        # Two new events per page of three: the reader falls behind, then
        # catches up once the writes stop.
        api.patch(feed.first, {"description": f"round {round_number}"})
        api.get(f"/v1/keys/{feed.first}/secret")
        assert page["next"] is not None
        page = api.get(f"/v1/audit?limit=3&after={page['next']}").json
    while True:
        read += page["items"]
        if page["next"] is None:
            break
        page = api.get(f"/v1/audit?limit=3&after={page['next']}").json

    everything = whole_feed(api)
    assert len(everything) == len(feed.items) + 10
    assert read == everything


@pytest.mark.parametrize(
    ("query", "count"),
    [
        (lambda f: f"actor=admin&key_id={f.first}", 4),
        (lambda f: f"since={times(f)[5]}", 3),
        (lambda f: f"since={times(f)[1]}&until={times(f)[6]}", 6),
    ],
    ids=["actor_and_key", "since_recent", "since_and_until"],
)
def test_filtered_pages_concatenate_to_the_filtered_feed(
    api: ApiClient, feed: Feed, query: Callable[[Feed], str], count: int
) -> None:
    read: list[Item] = []
    url = f"/v1/audit?limit=1&{query(feed)}"
    page = api.get(url).json
    while page["next"] is not None:
        assert len(page["items"]) == 1
        read += page["items"]
        page = api.get(f"{url}&after={page['next']}").json
    read += page["items"]

    assert read == whole_feed(api, f"&{query(feed)}")
    assert len(read) == count


def test_the_last_full_page_says_there_is_no_next(api: ApiClient, feed: Feed) -> None:
    page = api.get(f"/v1/audit?limit={len(feed.items)}").json

    assert page == {"items": feed.items, "next": None}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


KEY_LIST_CURSOR = _cursor("1700000000000000:5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("after=garbage!", "after"),
        (f"after={_cursor('audit:0')}", "after"),
        (f"after={KEY_LIST_CURSOR}", "after"),
        ("type=bogus", "type"),
        ("type=Created", "type"),
        ("key_id=not-a-uuid", "key_id"),
        ("actor=", "actor"),
        ("since=yesterday", "since"),
        ("since=2027-01-31", "since"),
        ("until=2027-01-31T00:00:00", "until"),
        ("since=2027-01-31T00:00:00Z&until=2027-01-30T00:00:00Z", "until"),
        ("format=xml", "format"),
        ("format=csv&limit=0", "limit"),
        ("acter=alice", "acter"),  # a typo is refused, not ignored
    ],
)
def test_invalid_query_parameters_are_422_naming_the_field(
    api: ApiClient, query: str, field: str
) -> None:
    response = api.get(f"/v1/audit?{query}")

    assert response.status_code == 422
    assert list(response.json["errors"]) == [field]
    assert field in response.json["message"]
