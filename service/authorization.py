"""Deciding whether a DevKey:DevSecret may call an OTP API from an address.

The checks run in the contract's order (api.md, "Authorizing a request"):
credentials, then disabled, expired, IP, permission. Unknown DevKey, wrong
secret and deleted key are one answer, so keys cannot be enumerated.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from domain.values import IpAddress, Permission, expired_at_epoch, ip_allowed
from projections.credentials import Credentials
from service.sealing import SecretSealer
from service.usage import ALLOWED, UsageCounter

APIS = frozenset(p.value for p in Permission)


@dataclass(frozen=True)
class AuthDecision:
    allowed: bool
    reason: str | None = None
    credentials: Credentials | None = None

    @property
    def status(self) -> int:
        if self.allowed:
            return 200
        return 401 if self.reason == "invalid_credentials" else 403


DENY_CREDENTIALS = AuthDecision(False, "invalid_credentials")
# Compared against when the DevKey is unknown, so both paths hash and compare.
_DECOY_HASH = "0" * 64


# OTP services call from few addresses; parsing one costs more than the rest
# of the IP check. Addresses are immutable, and failures are not cached.
parse_address = functools.lru_cache(maxsize=4096)(ipaddress.ip_address)


class AuthRequestInvalid(Exception):
    """Every offending field of an auth request body, with its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        self.summary = "validation failed: " + "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in errors.items()
        )
        super().__init__(self.summary)


_ADDRESS_MESSAGE = "must be an IPv4 or IPv6 address"


def parse_auth_request(body: object) -> tuple[str, IpAddress]:
    """The ``api`` and parsed ``client_ip`` of an auth request body."""
    if not isinstance(body, dict):
        raise AuthRequestInvalid({"body": ["must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    api = body.get("api")
    if not isinstance(api, str) or api not in APIS:
        errors["api"] = ["must be 'send' or 'verify'"]
    client_ip = body.get("client_ip")
    address: IpAddress | None = None
    if not isinstance(client_ip, str):
        errors["client_ip"] = [_ADDRESS_MESSAGE]
    elif "%" in client_ip:
        # Refused like whitelist entries with one: a zone names a link on the
        # caller's host, which no whitelist entry can mean.
        errors["client_ip"] = ["must be a plain address without a zone id (%...)"]
    else:
        with contextlib.suppress(ValueError):
            address = parse_address(client_ip.strip())
        if address is None:
            errors["client_ip"] = [_ADDRESS_MESSAGE]
    if errors or address is None or not isinstance(api, str):
        raise AuthRequestInvalid(errors)
    return api, address


class CredentialsSource(Protocol):
    """A DevKey's credentials (``projections.credentials.CredentialsLookup``);
    the hash of the caller's secret lets it remember what it read."""

    def __call__(
        self, dev_key: str, secret_hash: str | None = None, /
    ) -> Credentials | None: ...


class Authorizer:
    def __init__(
        self,
        lookup: CredentialsSource,
        sealer: SecretSealer,
        clock: Callable[[], float] = time.time,
        usage: UsageCounter | None = None,
    ) -> None:
        self.lookup = lookup
        self.sealer = sealer
        self.clock = clock
        self.usage = usage

    def decide(
        self, dev_key: str, dev_secret: str, api: str, client_ip: str | IpAddress
    ) -> AuthDecision:
        # Hashed first, whatever the DevKey: the lookup remembers an answer
        # only for the hash of the key's own secret (projections.credentials).
        digest = self.sealer.secret_hash(dev_secret)
        credentials = self.lookup(dev_key, digest) if dev_key else None
        now = self.clock()  # read for unknown DevKeys too: the same work
        if credentials is None:
            # Unknown DevKey: compare all the same, so the answer takes as
            # long as for a known one.
            _secret_matches(digest, _DECOY_HASH, None, in_grace=now < 0)
            return DENY_CREDENTIALS
        grace_until = credentials.previous_secret_expires_at
        if not _secret_matches(
            digest,
            credentials.secret_hash,
            credentials.previous_secret_hash,
            in_grace=grace_until is not None and now < grace_until,
        ):
            # Not counted per key: a wrong secret says nothing about who called.
            return DENY_CREDENTIALS
        decision = _decision(credentials, now, api, client_ip)
        if self.usage is not None:
            self.usage.count(credentials.key_id, decision.reason or ALLOWED, now)
        return decision


def _secret_matches(
    digest: str, current: str, previous: str | None, *, in_grace: bool
) -> bool:
    """The current secret, or the previous one before the end of its grace.
    Both comparisons always run, in constant time."""
    is_current = hmac.compare_digest(digest, current)
    is_previous = hmac.compare_digest(digest, previous or _DECOY_HASH)
    return is_current or (is_previous and in_grace)


def _decision(
    credentials: Credentials, now: float, api: str, client_ip: str | IpAddress
) -> AuthDecision:
    """The checks after the credentials, in the contract's order."""
    if not credentials.enabled:
        return AuthDecision(False, "key_disabled", credentials)
    if expired_at_epoch(credentials.expires_at, now):
        return AuthDecision(False, "key_expired", credentials)
    if not ip_allowed(credentials.networks, client_ip):
        return AuthDecision(False, "ip_not_allowed", credentials)
    if api not in credentials.permissions:
        return AuthDecision(False, "permission_denied", credentials)
    return AuthDecision(True, None, credentials)
