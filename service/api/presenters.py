"""How keys look on the wire, and the listing's page cursor."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from uuid import UUID

from projections.key_state import KeyRow
from service.api.errors import ApiError
from service.key_views import key_body

__all__ = ["key_body"]


def encode_key_cursor(row: KeyRow) -> str:
    raw = f"{int(row.created_at.timestamp() * 1_000_000)}:{row.key_id}"
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
