"""What keyledger answered: a typed, immutable decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

APIS = frozenset({"send", "verify"})
INVALID_CREDENTIALS = "invalid_credentials"


class KeyledgerError(Exception):
    """Base class of everything this client raises."""


class Unavailable(KeyledgerError):
    """keyledger could not answer: connection refused, timeout, or 5xx after
    the retries. A denial is never this: it is a :class:`Decision`."""


class InvalidRequest(KeyledgerError, ValueError):
    """The request itself is wrong (an unknown API, a malformed address)."""


class UnexpectedResponse(KeyledgerError):
    """keyledger answered something the contract does not know (wrong URL?)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """May this DevKey call this API from this address?

    ``reason`` is None when allowed, else one of ``invalid_credentials``,
    ``key_disabled``, ``key_expired``, ``ip_not_allowed``,
    ``permission_denied``. ``key_id``, ``dev_key``, ``permissions`` and
    ``expires_at`` are known only when allowed.
    """

    allowed: bool
    reason: str | None = None
    key_id: str | None = None
    dev_key: str | None = None
    permissions: tuple[str, ...] = ()
    expires_at: datetime | None = None

    @property
    def status(self) -> int:
        """The HTTP status keyledger answers this decision with."""
        if self.allowed:
            return 200
        return 401 if self.reason == INVALID_CREDENTIALS else 403


DENY_CREDENTIALS = Decision(False, INVALID_CREDENTIALS)


def decision_from(status: int, body: Any) -> Decision:
    if not isinstance(body, dict):
        raise UnexpectedResponse(f"keyledger answered {status} with no JSON object")
    if status == 200 and body.get("allowed") is True:
        return Decision(
            allowed=True,
            key_id=str(body["key_id"]),
            dev_key=str(body["dev_key"]),
            permissions=tuple(body.get("permissions") or ()),
            expires_at=_time(body.get("expires_at")),
        )
    if status in (401, 403) and isinstance(body.get("reason"), str):
        reason = body["reason"]
        return (
            DENY_CREDENTIALS
            if reason == INVALID_CREDENTIALS
            else Decision(False, reason)
        )
    raise UnexpectedResponse(f"keyledger answered {status}: {body.get('message')}")


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
