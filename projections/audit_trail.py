"""The audit trail: one entry per ApiKey event, with field-level changes.

Secrets and their hashes never enter an entry: ``secret_reset`` and
``secret_revealed`` say only who and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import EVENT_TYPE_NAMES, ApiKey
from domain.times import format_optional_time

Changes = dict[str, dict[str, Any]]


@dataclass(frozen=True, init=False)
class AuditEntry:
    """One row of the audit table (columns: ``projections.tables``)."""

    notification_id: int
    key_id: UUID
    version: int
    type: str
    occurred_at: datetime
    actor: str
    source_ip: str | None
    request_id: str | None
    changes: Changes

    # Written out: a frozen dataclass's own __init__ sets each field through
    # object.__setattr__, twice the cost, and a rebuild makes an entry per
    # event. tests/unit/test_tables.py holds it to the fields.
    def __init__(
        self,
        notification_id: int,
        key_id: UUID,
        version: int,
        type: str,
        occurred_at: datetime,
        actor: str,
        source_ip: str | None,
        request_id: str | None,
        changes: Changes,
    ) -> None:
        self.__dict__.update(
            notification_id=notification_id,
            key_id=key_id,
            version=version,
            type=type,
            occurred_at=occurred_at,
            actor=actor,
            source_ip=source_ip,
            request_id=request_id,
            changes=changes,
        )


def audit_entry(notification_id: int, event: ApiKey.Event) -> AuditEntry:
    return AuditEntry(
        notification_id=notification_id,
        key_id=event.originator_id,
        version=event.originator_version,
        type=EVENT_TYPE_NAMES[type(event)],
        occurred_at=event.timestamp,
        actor=event.actor,
        source_ip=event.source_ip,
        request_id=event.request_id,
        changes=_changes(event),
    )


def _change(before: Any, after: Any) -> dict[str, Any]:
    return {"from": before, "to": after}


def _time(value: datetime | None) -> str | None:
    # Expiry is whole seconds by the domain's rule; stored changes keep
    # the spelling they always had.
    return format_optional_time(value, "seconds")


def _changes(event: ApiKey.Event) -> Changes:
    if isinstance(event, ApiKey.Created):
        return {
            "dev_key": _change(None, event.dev_key),
            "description": _change(None, event.description),
            "expires_at": _change(None, _time(event.expires_at)),
            "ip_whitelist": _change(None, list(event.ip_whitelist)),
            "permissions": _change(None, list(event.permissions)),
            "status": _change(None, "enabled"),
        }
    if isinstance(event, ApiKey.DescriptionChanged):
        return {"description": _change(event.previous_description, event.description)}
    if isinstance(event, ApiKey.ExpiryChanged):
        return {
            "expires_at": _change(
                _time(event.previous_expires_at), _time(event.expires_at)
            )
        }
    if isinstance(event, ApiKey.IpWhitelistChanged):
        return {
            "ip_whitelist": _change(
                list(event.previous_ip_whitelist), list(event.ip_whitelist)
            )
        }
    if isinstance(event, ApiKey.PermissionsChanged):
        return {
            "permissions": _change(
                list(event.previous_permissions), list(event.permissions)
            )
        }
    if isinstance(event, ApiKey.SecretRolled):
        return {
            "previous_secret_expires_at": _change(
                _time(event.earlier_previous_secret_expires_at),
                _time(event.previous_secret_expires_at),
            )
        }
    if isinstance(event, ApiKey.Restored):
        return {"status": _change("deleted", "disabled")}
    if isinstance(event, ApiKey.Disabled):
        return {"status": _change("enabled", "disabled")}
    if isinstance(event, ApiKey.Enabled):
        return {"status": _change("disabled", "enabled")}
    return {}
