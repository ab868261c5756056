"""How a key looks to callers (HTTP API and command line): one rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain import ApiKey
from domain.values import is_expired
from projections.queries import KeyView


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
