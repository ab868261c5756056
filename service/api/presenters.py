"""How keys, secrets and times look on the wire."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain import ApiKey
from domain.values import is_expired
from projections.queries import KeyView
from service.api.errors import ApiError


def rfc3339(moment: datetime | None) -> str | None:
    """UTC with a Z; fractions only when the moment has them."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def view_of(key: ApiKey) -> KeyView:
    return KeyView(
        key_id=key.id,
        dev_key=key.dev_key,
        description=key.description,
        expires_at=key.expires_at,
        ip_whitelist=tuple(key.ip_whitelist),
        permissions=tuple(key.permissions),
        enabled=key.enabled,
        created_at=key.created_on,
        updated_at=key.modified_on,
        version=key.version,
    )


def status_of(view: KeyView, now: datetime) -> str:
    if not view.enabled:
        return "disabled"
    return "expired" if is_expired(view.expires_at, now) else "enabled"


def key_body(view: KeyView, now: datetime) -> dict[str, Any]:
    return {
        "id": str(view.key_id),
        "dev_key": view.dev_key,
        "description": view.description,
        "expires_at": rfc3339(view.expires_at),
        "ip_whitelist": list(view.ip_whitelist),
        "permissions": list(view.permissions),
        "status": status_of(view, now),
        "created_at": rfc3339(view.created_at),
        "updated_at": rfc3339(view.updated_at),
        "version": view.version,
    }


def etag(version: int) -> str:
    return f'"{version}"'


# One entity-tag naming a version: ASCII digits only (str.isdigit() also
# takes '²' and other digits int() refuses), and few enough of them that
# int() never meets its 4,300-digit limit.
_VERSION_TAG = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names.

    RFC 9110 (13.1.1) makes If-Match a condition that is false unless a
    listed entity-tag matches the current one. A value that is malformed,
    a list, or names no version this API ever sent can never match, so it is
    answered like a stale one (-1, then 412), never as an error of ours."""
    if header is None or header.strip() == "*":
        return None
    match = _VERSION_TAG.fullmatch(header.strip())
    return int(match.group(1)) if match else -1


def encode_key_cursor(view: KeyView) -> str:
    raw = f"{int(view.created_at.timestamp() * 1_000_000)}:{view.key_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_key_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        micros, _, key_id = base64.urlsafe_b64decode(padded).decode().partition(":")
        moment = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC).replace(
            microsecond=int(micros) % 1_000_000
        )
        return moment, UUID(key_id)
    except (binascii.Error, ValueError, UnicodeDecodeError, OverflowError, OSError):
        # OverflowError and OSError: a tampered timestamp beyond what
        # datetime or the platform's time functions can represent.
        raise ApiError(
            422,
            "invalid after: not a cursor from this API",
            {"after": ["not a valid cursor"]},
        ) from None


# The one spelling this API writes: 8-4-4-4-12 hex digits with hyphens.
# UUID() also takes braces, "urn:uuid:" and no hyphens; a key has one URL.
CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def parse_uuid(value: str) -> UUID | None:
    if not CANONICAL_UUID.fullmatch(value):
        return None
    return UUID(value)


def parse_time(name: str, value: str) -> datetime:
    """An RFC 3339 query parameter such as ``as_of`` or ``since``."""
    text = value.strip().upper().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text:
        raise ApiError(
            422,
            f"invalid {name}: expected an RFC 3339 time such as 2027-01-31T23:59:59Z",
            {name: ["must be an RFC 3339 time with a time zone"]},
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # An offset can carry a time near year 1 or 9999 out of range in UTC.
        raise ApiError(
            422,
            f"invalid {name}: the time lies outside years 1 to 9999 in UTC",
            {name: ["must lie between years 1 and 9999 in UTC"]},
        ) from None
