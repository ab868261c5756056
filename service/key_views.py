"""How a key looks to callers, the HTTP API and the command line alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.times import format_optional_time, format_time
from domain.values import key_status
from projections.key_state import KeyRow


def key_body(
    row: KeyRow, now: datetime, last_used_at: datetime | None = None
) -> dict[str, Any]:
    """A key on the wire; ``last_used_at`` comes from the usage table, which
    is not part of the row (use is not an event)."""
    return {
        "id": str(row.key_id),
        "dev_key": row.dev_key,
        "description": row.description,
        "expires_at": format_optional_time(row.expires_at),
        "ip_whitelist": list(row.ip_whitelist),
        "permissions": list(row.permissions),
        "status": key_status(row.enabled, row.expires_at, now).value,
        "created_at": format_time(row.created_at),
        "updated_at": format_time(row.updated_at),
        "version": row.version,
        "previous_secret_expires_at": format_optional_time(
            row.previous_secret_expires_at
        ),
        "last_used_at": format_optional_time(last_used_at),
    }
