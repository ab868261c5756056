"""Every decision and reason of ``Client.authorize`` against a real keyledger."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import pytest
from conftest import Keyledger, soon, wait_until

from keyledger_client import Client, Decision, InvalidRequest, Unavailable

CLIENT_IP = "203.0.113.7"


@pytest.fixture
def client(keyledger: Keyledger) -> Client:
    with Client(keyledger.url, timeout=5.0, retries=2) as opened:
        yield opened


def test_allowed_decision_names_the_key(keyledger: Keyledger, client: Client) -> None:
    key = keyledger.create_key(permissions=["verify", "send"])
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    assert decision == Decision(
        allowed=True,
        reason=None,
        key_id=key["id"],
        dev_key=key["dev_key"],
        permissions=("send", "verify"),
        expires_at=None,
    )
    assert decision.status == 200


def test_allowed_decision_carries_the_key_s_expiry(
    keyledger: Keyledger, client: Client
) -> None:
    key = keyledger.create_key(expires_at="2099-01-31")
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="verify", client_ip=CLIENT_IP
    )
    assert decision.expires_at == datetime(2099, 1, 31, 23, 59, 59, tzinfo=UTC)


def test_decision_is_immutable(keyledger: Keyledger, client: Client) -> None:
    key = keyledger.create_key()
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]


@pytest.mark.parametrize("case", ["unknown", "wrong secret", "deleted", "empty"])
def test_invalid_credentials(keyledger: Keyledger, client: Client, case: str) -> None:
    key = keyledger.create_key()
    dev_key, dev_secret = key["dev_key"], key["dev_secret"]
    if case == "unknown":
        dev_key = "U" * 24
    elif case == "wrong secret":
        dev_secret = "W" * 43
    elif case == "deleted":
        keyledger.delete(key["id"])
    else:
        dev_secret = ""
    decision = client.authorize(dev_key, dev_secret, api="send", client_ip=CLIENT_IP)
    assert (decision.allowed, decision.reason, decision.status) == (
        False,
        "invalid_credentials",
        401,
    )
    assert decision.key_id is None


def test_key_disabled_comes_first(keyledger: Keyledger, client: Client) -> None:
    key = keyledger.create_key(ip_whitelist=["192.0.2.1"], permissions=["verify"])
    keyledger.act(key["id"], "disable")
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    assert (decision.reason, decision.status) == ("key_disabled", 403)


def test_ip_not_allowed_before_permission(keyledger: Keyledger, client: Client) -> None:
    key = keyledger.create_key(ip_whitelist=["192.0.2.0/24"], permissions=["verify"])
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    assert decision.reason == "ip_not_allowed"
    inside = client.authorize(
        key["dev_key"], key["dev_secret"], api="verify", client_ip="192.0.2.55"
    )
    assert inside.allowed


def test_permission_denied(keyledger: Keyledger, client: Client) -> None:
    key = keyledger.create_key(permissions=["verify"])
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    assert decision.reason == "permission_denied"


def test_key_expired(keyledger: Keyledger, client: Client) -> None:
    """A key that expires in two seconds: before, allowed; once its last
    second has passed (waited for on the clock), key_expired."""
    key = keyledger.create_key(expires_at=soon(2), permissions=["send"])
    first = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    assert first.allowed
    assert first.expires_at is not None
    end = first.expires_at.timestamp() + 1
    assert wait_until(lambda: time.time() >= end, timeout=10)
    decision = client.authorize(
        key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
    )
    assert decision.reason == "key_expired"


@pytest.mark.parametrize(
    ("api", "client_ip"), [("email", CLIENT_IP), ("SEND", CLIENT_IP), ("send", "x")]
)
def test_invalid_request_raises_before_asking(
    client: Client, api: str, client_ip: str
) -> None:
    with pytest.raises(InvalidRequest):
        client.authorize("K" * 24, "S" * 43, api=api, client_ip=client_ip)


def test_a_closed_client_refuses_to_ask(keyledger: Keyledger) -> None:
    key = keyledger.create_key()
    client = Client(keyledger.url)
    client.close()
    with pytest.raises(Unavailable):
        client.authorize(
            key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
        )
