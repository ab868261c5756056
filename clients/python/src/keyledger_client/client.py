"""The one entry point: :class:`Client`."""

from __future__ import annotations

import base64
import ipaddress
import json
from types import TracebackType

from keyledger_client._cache import CacheStats, DecisionCache
from keyledger_client._decision import (
    APIS,
    DENY_CREDENTIALS,
    Decision,
    InvalidRequest,
    UnexpectedResponse,
    decision_from,
)
from keyledger_client._feed import FeedFollower
from keyledger_client._transport import Transport

VERSION = "0.1.0"


class Client:
    """Asks keyledger whether a DevKey may call an OTP API.

    ``timeout`` is the time one :meth:`authorize` may take in all, retries
    and backoff included; ``retries`` is how many more attempts follow a
    connection error or a 5xx answer. With ``cache=True`` (which needs a
    ``service_token``), a decision is reused for at most ``max_age`` seconds,
    never past the key's ``expires_at``, and is dropped as soon as the change
    feed, read every ``refresh_interval`` seconds, names its DevKey; when the
    feed could not be read for ``max_age`` seconds every call goes to
    keyledger. Safe to share between threads; close it (or use ``with``).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        cache: bool = False,
        service_token: str | None = None,
        refresh_interval: float = 0.5,
        max_age: float = 30.0,
    ) -> None:
        self._transport = Transport(
            url,
            timeout=timeout,
            retries=retries,
            user_agent=f"keyledger-client-python/{VERSION}",
        )
        self._cache: DecisionCache | None = None
        self._feed: FeedFollower | None = None
        if cache:
            if not service_token:
                raise ValueError("cache=True needs a service_token (role service)")
            self._cache = DecisionCache(max_age)
            self._feed = FeedFollower(
                self._transport, self._cache, service_token, refresh_interval
            )
            self._feed.start()

    def authorize(
        self, dev_key: str, dev_secret: str, *, api: str, client_ip: str
    ) -> Decision:
        """keyledger's decision; a denial is a :class:`Decision` too.

        Raises :class:`InvalidRequest` for an unknown ``api`` or a malformed
        ``client_ip``, and :class:`Unavailable` when keyledger cannot answer.
        """
        if api not in APIS:
            raise InvalidRequest("api must be 'send' or 'verify'")
        if not dev_key or not dev_secret or ":" in dev_key:
            return DENY_CREDENTIALS
        cache = self._cache
        if cache is None:
            return self._ask(dev_key, dev_secret, api, client_ip)
        key = cache.key(dev_key, dev_secret, api, client_ip)
        found = cache.get(key)
        if found is not None:
            return found
        since = cache.started()
        decision = self._ask(dev_key, dev_secret, api, client_ip)
        cache.put(key, dev_key, decision, since)
        return decision

    def _ask(self, dev_key: str, dev_secret: str, api: str, client_ip: str) -> Decision:
        try:
            ipaddress.ip_address(client_ip)
        except ValueError:
            raise InvalidRequest(
                f"client_ip must be an IPv4 or IPv6 address, not {client_ip!r}"
            ) from None
        credentials = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
        reply = self._transport.request(
            "POST",
            "/v1/auth",
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/json",
            },
            body=json.dumps({"api": api, "client_ip": client_ip}).encode(),
        )
        if reply.status == 422:
            message = reply.body.get("message") if isinstance(reply.body, dict) else ""
            raise InvalidRequest(f"keyledger refused the request: {message}")
        if reply.status not in (200, 401, 403):
            raise UnexpectedResponse(
                f"POST /v1/auth answered {reply.status}; is the URL keyledger's?"
            )
        return decision_from(reply.status, reply.body)

    def refresh(self) -> bool:
        """Reads the change feed now rather than at the next interval; True
        when it could. Without a cache there is nothing to refresh."""
        return self._feed.poll() if self._feed is not None else False

    def cache_stats(self) -> CacheStats | None:
        return self._cache.stats() if self._cache is not None else None

    @property
    def connections_opened(self) -> int:
        """TCP connections opened so far (kept-alive ones are reused)."""
        return self._transport.connections_opened

    def close(self) -> None:
        if self._feed is not None:
            self._feed.stop()
        self._transport.close()
        if self._cache is not None:
            self._cache.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
