"""How keys look on the wire, and the listing's page cursor."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain import ApiKey
from domain.times import format_optional_time, format_time
from domain.values import key_status
from projections.queries import KeyView
from service.api.errors import ApiError


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


def key_body(view: KeyView, now: datetime) -> dict[str, Any]:
    return {
        "id": str(view.key_id),
        "dev_key": view.dev_key,
        "description": view.description,
        "expires_at": format_optional_time(view.expires_at),
        "ip_whitelist": list(view.ip_whitelist),
        "permissions": list(view.permissions),
        "status": key_status(view.enabled, view.expires_at, now).value,
        "created_at": format_time(view.created_at),
        "updated_at": format_time(view.updated_at),
        "version": view.version,
    }


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
