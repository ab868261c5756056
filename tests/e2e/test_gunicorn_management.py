"""The management API served by a real gunicorn with two workers, on SQLite
and PostgreSQL: the README walk-through over HTTP. (The races between
workers and instances are in test_served_consistency.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gunicorn import GunicornServer, service_env
from tests.support.http import ServedApi

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[GunicornServer]:
    env = service_env(database_url)
    with GunicornServer(env, workers=2, log_path=tmp_path / "gunicorn.log") as running:
        yield running


def test_the_readme_walk_through_works_over_http(server: GunicornServer) -> None:
    api = ServedApi(server)
    created = api.create_key(
        description="payments backend, prod",
        expires_at="2099-01-31",
        ip_whitelist=["203.0.113.0/24"],
    )
    kid, dev_key, secret = created["id"], created["dev_key"], created["dev_secret"]
    assert created["expires_at"] == "2099-01-31T23:59:59Z"

    listed = api.get("/v1/keys").json()
    assert [item["id"] for item in listed["items"]] == [kid]
    details = api.get(f"/v1/keys/{kid}")
    assert (details.status, details.headers["ETag"]) == (200, '"1"')
    assert "dev_secret" not in details.json()
    revealed = api.get(f"/v1/keys/{kid}/secret").json()
    assert revealed == {"dev_key": dev_key, "dev_secret": secret}

    patched = api.patch(kid, {"ip_whitelist": ["203.0.113.7"]}, version=2)
    assert (patched.status, patched.json()["ip_whitelist"]) == (200, ["203.0.113.7"])
    assert api.auth(dev_key, secret, "203.0.113.8").status == 403

    reset = api.action(kid, "reset-secret").json()
    assert api.auth(dev_key, secret, "203.0.113.7").status == 401
    secret = reset["dev_secret"]
    assert api.auth(dev_key, secret, "203.0.113.7").status == 200

    disabled = api.action(kid, "disable").json()
    assert disabled["status"] == "disabled"
    assert api.auth(dev_key, secret, "203.0.113.7").json() == {
        "allowed": False,
        "reason": "key_disabled",
    }
    enabled = api.action(kid, "enable").json()
    assert (enabled["status"], enabled["version"]) == ("enabled", 6)
    allowed = api.auth(dev_key, secret, "203.0.113.7").json()
    assert (allowed["allowed"], allowed["key_id"]) == (True, kid)

    assert api.delete(kid).status == 204
    assert api.get(f"/v1/keys/{kid}").status == 404
    assert api.auth(dev_key, secret, "203.0.113.7").status == 401
