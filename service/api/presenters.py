"""How keys, secrets and times look on the wire."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

from projections.queries import KeyView
from service.api.errors import ApiError
from service.key_views import key_body, rfc3339, status_of, view_of

__all__ = ["key_body", "rfc3339", "status_of", "view_of"]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names; a value naming no version can never
    match, so it is answered like a stale one (-1)."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    return int(value) if value.isdigit() else -1


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
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(
            422,
            "invalid after: not a cursor from this API",
            {"after": ["not a valid cursor"]},
        ) from None


def parse_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


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
    return moment.astimezone(UTC)
