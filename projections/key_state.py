"""Current state of every key, as view changes derived from ApiKey events.

``key_state_change`` is the one function from an event to a change of the
``keyledger_keys`` view: live writes and rebuilds both go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import ApiKey


@dataclass(frozen=True, init=False)
class KeyRow:
    """One row of the keys table (columns: ``projections.tables``): a key's
    current state. Presenters choose what of it goes on the wire."""

    key_id: UUID
    dev_key: str
    secret_hash: str
    previous_secret_hash: str | None
    previous_secret_expires_at: datetime | None
    description: str
    expires_at: datetime | None
    ip_whitelist: tuple[str, ...]
    permissions: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int

    # Written out, as ``AuditEntry.__init__`` is (a rebuild makes a row per
    # key); tests/unit/test_tables.py holds it to the fields.
    def __init__(
        self,
        key_id: UUID,
        dev_key: str,
        secret_hash: str,
        previous_secret_hash: str | None,
        previous_secret_expires_at: datetime | None,
        description: str,
        expires_at: datetime | None,
        ip_whitelist: tuple[str, ...],
        permissions: tuple[str, ...],
        enabled: bool,
        created_at: datetime,
        updated_at: datetime,
        version: int,
    ) -> None:
        self.__dict__.update(
            key_id=key_id,
            dev_key=dev_key,
            secret_hash=secret_hash,
            previous_secret_hash=previous_secret_hash,
            previous_secret_expires_at=previous_secret_expires_at,
            description=description,
            expires_at=expires_at,
            ip_whitelist=ip_whitelist,
            permissions=permissions,
            enabled=enabled,
            created_at=created_at,
            updated_at=updated_at,
            version=version,
        )


@dataclass(frozen=True)
class InsertKey:
    row: KeyRow


@dataclass(frozen=True, init=False)
class UpdateKey:
    key_id: UUID
    version: int
    updated_at: datetime
    fields: dict[str, Any]

    # Written out, as ``AuditEntry.__init__`` is (one per event).
    def __init__(
        self, key_id: UUID, version: int, updated_at: datetime, fields: dict[str, Any]
    ) -> None:
        self.__dict__.update(
            key_id=key_id, version=version, updated_at=updated_at, fields=fields
        )


@dataclass(frozen=True)
class RemoveKey:
    key_id: UUID


KeyStateChange = InsertKey | UpdateKey | RemoveKey


def key_row(key: ApiKey) -> KeyRow:
    """The row a key's events project to, from the aggregate itself (for
    answers read from the event log, such as ``as_of``)."""
    return KeyRow(
        key_id=key.id,
        dev_key=key.dev_key,
        secret_hash=key.secret_hash,
        previous_secret_hash=key.previous_secret_hash,
        previous_secret_expires_at=key.previous_secret_expires_at,
        description=key.description,
        expires_at=key.expires_at,
        ip_whitelist=tuple(key.ip_whitelist),
        permissions=tuple(key.permissions),
        enabled=key.enabled,
        created_at=key.created_on,
        updated_at=key.modified_on,
        version=key.version,
    )


def key_state_change(event: ApiKey.Event) -> KeyStateChange:
    if isinstance(event, ApiKey.Created):
        return _inserted(event, enabled=True, created_at=event.timestamp)
    if isinstance(event, ApiKey.Restored):
        # The row went with the deletion: the event carries all of it.
        return _inserted(event, enabled=False, created_at=event.created_at)
    if isinstance(event, ApiKey.Deleted):
        return RemoveKey(event.originator_id)
    return UpdateKey(
        key_id=event.originator_id,
        version=event.originator_version,
        updated_at=event.timestamp,
        fields=_changed_fields(event),
    )


def _changed_fields(event: ApiKey.Event) -> dict[str, Any]:
    if isinstance(event, ApiKey.DescriptionChanged):
        return {"description": event.description}
    if isinstance(event, ApiKey.ExpiryChanged):
        return {"expires_at": event.expires_at}
    if isinstance(event, ApiKey.IpWhitelistChanged):
        return {"ip_whitelist": tuple(event.ip_whitelist)}
    if isinstance(event, ApiKey.PermissionsChanged):
        return {"permissions": tuple(event.permissions)}
    if isinstance(event, ApiKey.SecretReset):
        return {
            "secret_hash": event.secret_hash,
            "previous_secret_hash": None,
            "previous_secret_expires_at": None,
        }
    if isinstance(event, ApiKey.SecretRolled):
        return {
            "secret_hash": event.secret_hash,
            "previous_secret_hash": event.previous_secret_hash,
            "previous_secret_expires_at": event.previous_secret_expires_at,
        }
    if isinstance(event, ApiKey.Disabled):
        return {"enabled": False}
    if isinstance(event, ApiKey.Enabled):
        return {"enabled": True}
    # A reveal changes nothing but the version.
    return {}


def _inserted(
    event: ApiKey.Created | ApiKey.Restored, *, enabled: bool, created_at: datetime
) -> InsertKey:
    """The row a key (re)enters the view with; no grace survives either."""
    return InsertKey(
        KeyRow(
            key_id=event.originator_id,
            dev_key=event.dev_key,
            secret_hash=event.secret_hash,
            previous_secret_hash=None,
            previous_secret_expires_at=None,
            description=event.description,
            expires_at=event.expires_at,
            ip_whitelist=tuple(event.ip_whitelist),
            permissions=tuple(event.permissions),
            enabled=enabled,
            created_at=created_at,
            updated_at=event.timestamp,
            version=event.originator_version,
        )
    )
