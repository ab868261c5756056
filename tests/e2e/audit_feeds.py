"""What the audit feed tests share: a feed of two keys changed by two
operators, read whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.http import ApiClient

Item = dict[str, Any]
QUOTED = 'payments, "EU" backend, café ✓'


@dataclass
class Feed:
    """Two keys changed by two operators; ``items`` is the whole feed."""

    first: str
    second: str
    bob: ApiClient
    items: list[Item]


def whole_feed(api: ApiClient, query: str = "") -> list[Item]:
    response = api.get(f"/v1/audit?limit=500{query}")
    assert response.status_code == 200, response.json
    assert response.json["next"] is None
    return list(response.json["items"])


def times(feed: Feed) -> list[str]:
    return [item["occurred_at"] for item in feed.items]
