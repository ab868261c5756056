"""The opt-in decision cache against a real keyledger: reuse, invalidation
through the change feed, expiry, max_age, and bypass when the feed cannot be
read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import Keyledger, soon, wait_until

from keyledger_client import Client, Decision

CLIENT_IP = "203.0.113.7"


@pytest.fixture
def cached(keyledger: Keyledger, service_token: str) -> Iterator[Client]:
    # A long interval: these tests read the feed when they choose (refresh()),
    # so each shows what one read of the feed does.
    client = Client(
        keyledger.url,
        cache=True,
        service_token=service_token,
        refresh_interval=3600,
        max_age=60.0,
    )
    assert client.refresh()
    yield client
    client.close()


def ask(client: Client, key: dict[str, Any], **kwargs: Any) -> Decision:
    return client.authorize(
        kwargs.get("dev_key", key["dev_key"]),
        kwargs.get("dev_secret", key["dev_secret"]),
        api=kwargs.get("api", "send"),
        client_ip=kwargs.get("client_ip", CLIENT_IP),
    )


def test_a_repeated_call_is_answered_from_the_cache(
    keyledger: Keyledger, cached: Client
) -> None:
    key = keyledger.create_key()
    decisions = [ask(cached, key) for _ in range(200)]
    assert all(d == decisions[0] and d.allowed for d in decisions)
    stats = cached.cache_stats()
    assert stats is not None
    assert (stats.hits, stats.misses) == (199, 1)
    assert stats.hit_rate >= 0.99
    assert stats.feed_reads >= 1


def test_each_api_address_and_secret_is_its_own_entry(
    keyledger: Keyledger, cached: Client
) -> None:
    key = keyledger.create_key(permissions=["send"], ip_whitelist=["203.0.113.0/24"])
    assert ask(cached, key).allowed
    assert ask(cached, key, api="verify").reason == "permission_denied"
    assert ask(cached, key, client_ip="192.0.2.1").reason == "ip_not_allowed"
    assert ask(cached, key, dev_secret="W" * 43).reason == "invalid_credentials"
    assert ask(cached, key).allowed
    stats = cached.cache_stats()
    assert stats is not None
    assert (stats.hits, stats.misses) == (1, 4)


def test_no_secret_is_kept_in_plaintext(keyledger: Keyledger, cached: Client) -> None:
    key = keyledger.create_key()
    ask(cached, key)
    entries = cached._cache._entries  # type: ignore[union-attr]
    assert len(entries) == 1
    for cache_key, entry in entries.items():
        assert key["dev_secret"].encode() not in cache_key
        assert key["dev_secret"] not in repr(entry)


CHANGES: dict[str, tuple[Callable[[Keyledger, dict[str, Any]], Any], str]] = {
    "disable": (lambda kl, key: kl.act(key["id"], "disable"), "key_disabled"),
    "delete": (lambda kl, key: kl.delete(key["id"]), "invalid_credentials"),
    "reset": (lambda kl, key: kl.act(key["id"], "reset-secret"), "invalid_credentials"),
    "narrowed whitelist": (
        lambda kl, key: kl.patch(key["id"], ip_whitelist=["192.0.2.0/24"]),
        "ip_not_allowed",
    ),
    "narrowed permissions": (
        lambda kl, key: kl.patch(key["id"], permissions=["verify"]),
        "permission_denied",
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_is_obeyed_once_the_feed_names_the_key(
    keyledger: Keyledger, cached: Client, change: str
) -> None:
    key = keyledger.create_key()
    other = keyledger.create_key()
    assert cached.refresh()  # past their "created" events
    assert ask(cached, key).allowed
    assert ask(cached, other).allowed
    act, reason = CHANGES[change]
    act(keyledger, key)
    assert cached.refresh()
    assert ask(cached, key).reason == reason
    # Only the named key was forgotten.
    before = cached.cache_stats()
    assert ask(cached, other).allowed
    after = cached.cache_stats()
    assert before is not None
    assert after is not None
    assert after.hits == before.hits + 1


def test_the_background_refresher_obeys_a_disable_by_itself(
    keyledger: Keyledger, service_token: str
) -> None:
    key = keyledger.create_key()
    with Client(
        keyledger.url, cache=True, service_token=service_token, refresh_interval=0.2
    ) as client:
        assert wait_until(lambda: client._cache.usable)  # type: ignore[union-attr]
        assert ask(client, key).allowed
        keyledger.act(key["id"], "disable")
        assert wait_until(lambda: ask(client, key).reason == "key_disabled")


def test_a_decision_is_never_reused_past_the_key_s_expiry(
    keyledger: Keyledger, cached: Client
) -> None:
    """No event marks the moment a key expires: the cache itself must stop
    reusing the allowed decision at expires_at, however long max_age is."""
    key = keyledger.create_key(expires_at=soon(2))
    first = ask(cached, key)
    assert first.allowed
    assert first.expires_at is not None
    assert ask(cached, key) == first  # reused meanwhile
    end = first.expires_at.timestamp() + 1
    assert wait_until(lambda: time.time() >= end, timeout=10)
    assert ask(cached, key).reason == "key_expired"


def test_a_decision_is_reused_for_at_most_max_age(
    keyledger: Keyledger, service_token: str
) -> None:
    key = keyledger.create_key()
    with Client(
        keyledger.url,
        cache=True,
        service_token=service_token,
        refresh_interval=0.1,
        max_age=0.5,
    ) as client:
        assert client.refresh()
        assert ask(client, key).allowed
        asked_at = time.monotonic()
        assert ask(client, key).allowed
        # Waiting for max_age to pass is the condition itself.
        assert wait_until(lambda: time.monotonic() - asked_at > 0.5)
        misses = client.cache_stats().misses  # type: ignore[union-attr]
        assert ask(client, key).allowed
        assert client.cache_stats().misses == misses + 1  # type: ignore[union-attr]


def test_without_a_readable_feed_nothing_is_reused(keyledger: Keyledger) -> None:
    key = keyledger.create_key()
    with Client(
        keyledger.url, cache=True, service_token="klo_not-a-token", max_age=5.0
    ) as client:
        assert not client.refresh()
        assert client.cache_stats().feed_failures >= 1  # type: ignore[union-attr]
        for _ in range(5):
            assert ask(client, key).allowed
        stats = client.cache_stats()
        assert stats is not None
        assert (stats.hits, stats.bypassed) == (0, 5)
        keyledger.act(key["id"], "disable")
        assert ask(client, key).reason == "key_disabled"


def test_the_cache_is_bypassed_once_the_feed_went_unread_for_max_age(
    keyledger: Keyledger,
) -> None:
    name, token = keyledger.service_operator()
    key = keyledger.create_key()
    with Client(
        keyledger.url,
        cache=True,
        service_token=token,
        refresh_interval=0.1,
        max_age=1.0,
    ) as client:
        assert client.refresh()
        assert ask(client, key).allowed
        assert ask(client, key).allowed
        assert client.cache_stats().hits == 1  # type: ignore[union-attr]
        keyledger.cli("operators", "revoke", name)  # the feed now answers 401
        assert wait_until(lambda: not client._cache.usable)  # type: ignore[union-attr]
        keyledger.act(key["id"], "disable")
        # No feed read can have told the client: only the bypass can.
        assert ask(client, key).reason == "key_disabled"
        stats = client.cache_stats()
        assert stats is not None
        assert stats.bypassed >= 1


def test_cache_needs_a_service_token(keyledger: Keyledger) -> None:
    with pytest.raises(ValueError, match="service_token"):
        Client(keyledger.url, cache=True)


def test_an_uncached_client_has_no_cache_stats(keyledger: Keyledger) -> None:
    with Client(keyledger.url) as client:
        assert client.cache_stats() is None
        assert client.refresh() is False
