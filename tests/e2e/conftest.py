"""Fixtures shared by end-to-end test modules."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.e2e.audit_feeds import QUOTED, Feed, whole_feed
from tests.support.http import ApiClient


@pytest.fixture
def feed(app: Flask, api: ApiClient) -> Feed:
    bob = api.as_token(app.extensions["keyledger"].operators.create("bob", "admin"))
    first = api.create_key(description=QUOTED)["id"]
    second = bob.create_key(permissions=["send"])["id"]
    api.patch(first, {"description": 'said "hi", left'})
    bob.action(second, "disable")
    assert api.get(f"/v1/keys/{first}/secret").status_code == 200
    bob.patch(second, {"ip_whitelist": ["198.51.100.0/24", "2001:db8::1"]})
    api.action(first, "disable")
    bob.delete(second)
    return Feed(first, second, bob, whole_feed(api))
