"""The ApiKey aggregate: one credential pair and the rules of its life.

Public methods validate and decide; events carry already-computed values
(normalised lists, secret hash, sealed secret, previous values) because
``apply`` re-runs on every replay and must not compute anything new.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from domain.audit import current_audit
from domain.errors import InvalidValue, KeyDeleted, KeyNotDeleted, check_all
from domain.values import (
    KeyStatus,
    grace_ends_at,
    key_status,
    parse_description,
    parse_expiry,
    parse_ip_whitelist,
    parse_permissions,
)

_ONE_MICROSECOND = timedelta(microseconds=1)

# Fixed forever: key ids are derived from DevKeys with it.
DEV_KEY_NAMESPACE = uuid.UUID("8c5e2f43-6f4b-4a8e-9d59-1c1f3e0b7a21")


def key_id_for(dev_key: str) -> uuid.UUID:
    """The id of the key holding ``dev_key``: the store refuses a second one."""
    return uuid.uuid5(DEV_KEY_NAMESPACE, dev_key)


def _audit_fields() -> dict[str, Any]:
    context = current_audit()
    return {
        "actor": context.actor,
        "source_ip": context.source_ip,
        "request_id": context.request_id,
    }


class ApiKey(Aggregate):
    """A customer's DevKey/DevSecret with its description, expiry, whitelist
    and permissions."""

    class Event(Aggregate.Event):
        actor: str
        source_ip: str | None
        request_id: str | None

    class Created(Event, Aggregate.Created):
        dev_key: str
        description: str
        expires_at: datetime | None
        ip_whitelist: list[str]
        permissions: list[str]
        secret_hash: str
        sealed_secret: str

    class DescriptionChanged(Event):
        description: str
        previous_description: str

        def apply(self, key: ApiKey) -> None:
            key.description = self.description

    class ExpiryChanged(Event):
        expires_at: datetime | None
        previous_expires_at: datetime | None

        def apply(self, key: ApiKey) -> None:
            key.expires_at = self.expires_at

    class IpWhitelistChanged(Event):
        ip_whitelist: list[str]
        previous_ip_whitelist: list[str]

        def apply(self, key: ApiKey) -> None:
            key.ip_whitelist = tuple(self.ip_whitelist)

    class PermissionsChanged(Event):
        permissions: list[str]
        previous_permissions: list[str]

        def apply(self, key: ApiKey) -> None:
            key.permissions = tuple(self.permissions)

    class SecretReset(Event):
        secret_hash: str
        sealed_secret: str

        def apply(self, key: ApiKey) -> None:
            key.secret_hash = self.secret_hash
            key.sealed_secret = self.sealed_secret
            key.end_grace()

    class SecretRolled(Event):
        """A new secret; the one it replaces keeps working until
        ``previous_secret_expires_at``. Any earlier previous secret stops."""

        secret_hash: str
        sealed_secret: str
        previous_secret_hash: str
        previous_sealed_secret: str
        previous_secret_expires_at: datetime
        # What the key showed before, so the audit trail can say from -> to.
        earlier_previous_secret_expires_at: datetime | None

        def apply(self, key: ApiKey) -> None:
            key.secret_hash = self.secret_hash
            key.sealed_secret = self.sealed_secret
            key.previous_secret_hash = self.previous_secret_hash
            key.previous_sealed_secret = self.previous_sealed_secret
            key.previous_secret_expires_at = self.previous_secret_expires_at

    class Restored(Event):
        """A deleted key back, disabled. Carries the settings it returns
        with, so that a read model can re-insert the key from this event
        alone."""

        dev_key: str
        description: str
        expires_at: datetime | None
        ip_whitelist: list[str]
        permissions: list[str]
        secret_hash: str
        created_at: datetime

        def apply(self, key: ApiKey) -> None:
            key.deleted = False
            key.enabled = False
            key.end_grace()

    class SecretRevealed(Event):
        pass

    class Disabled(Event):
        def apply(self, key: ApiKey) -> None:
            key.enabled = False

    class Enabled(Event):
        def apply(self, key: ApiKey) -> None:
            key.enabled = True

    class Deleted(Event):
        def apply(self, key: ApiKey) -> None:
            key.deleted = True

    def __init__(
        self,
        dev_key: str,
        description: str,
        expires_at: datetime | None,
        ip_whitelist: list[str],
        permissions: list[str],
        secret_hash: str,
        sealed_secret: str,
        **_audit: Any,
    ) -> None:
        self.dev_key = dev_key
        self.description = description
        self.expires_at = expires_at
        self.ip_whitelist: tuple[str, ...] = tuple(ip_whitelist)
        self.permissions: tuple[str, ...] = tuple(permissions)
        self.secret_hash = secret_hash
        self.sealed_secret = sealed_secret
        self.enabled = True
        self.deleted = False
        self.previous_secret_hash: str | None = None
        self.previous_sealed_secret: str | None = None
        self.previous_secret_expires_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        dev_key: str,
        secret_hash: str,
        sealed_secret: str,
        now: datetime,
        description: object = None,
        expires_at: object = None,
        ip_whitelist: object = None,
        permissions: object = None,
    ) -> ApiKey:
        """A new enabled key; the caller generated the DevKey and the secret."""
        if not dev_key:
            raise InvalidValue("dev_key", "must not be empty")

        def required_permissions() -> tuple[str, ...]:
            if permissions is None:
                raise InvalidValue("permissions", "is required")
            return parse_permissions(permissions)

        valid: dict[str, Any] = check_all(
            {
                "description": lambda: parse_description(description),
                "expires_at": lambda: parse_expiry(expires_at, now),
                "ip_whitelist": lambda: list(parse_ip_whitelist(ip_whitelist)),
                "permissions": lambda: list(required_permissions()),
            }
        )
        return cls._create(
            cls.Created,
            id=key_id_for(dev_key),
            dev_key=dev_key,
            **valid,
            secret_hash=secret_hash,
            sealed_secret=sealed_secret,
            **_audit_fields(),
        )

    # Commands. Each returns True when it recorded an event.

    def change_description(self, value: object) -> bool:
        self._check_not_deleted()
        description = parse_description(value)
        if description == self.description:
            return False
        self._trigger(
            self.DescriptionChanged,
            description=description,
            previous_description=self.description,
        )
        return True

    def change_expiry(self, value: object, now: datetime) -> bool:
        self._check_not_deleted()
        expires_at = parse_expiry(value, now)
        if expires_at == self.expires_at:
            return False
        self._trigger(
            self.ExpiryChanged,
            expires_at=expires_at,
            previous_expires_at=self.expires_at,
        )
        return True

    def change_ip_whitelist(self, values: object) -> bool:
        self._check_not_deleted()
        whitelist = parse_ip_whitelist(values)
        if whitelist == self.ip_whitelist:
            return False
        self._trigger(
            self.IpWhitelistChanged,
            ip_whitelist=list(whitelist),
            previous_ip_whitelist=list(self.ip_whitelist),
        )
        return True

    def change_permissions(self, values: object) -> bool:
        self._check_not_deleted()
        permissions = parse_permissions(values)
        if permissions == self.permissions:
            return False
        self._trigger(
            self.PermissionsChanged,
            permissions=list(permissions),
            previous_permissions=list(self.permissions),
        )
        return True

    def reset_secret(self, *, secret_hash: str, sealed_secret: str) -> None:
        self._check_not_deleted()
        self._trigger(
            self.SecretReset, secret_hash=secret_hash, sealed_secret=sealed_secret
        )

    def roll_secret(
        self,
        *,
        secret_hash: str,
        sealed_secret: str,
        grace_seconds: object,
        now: datetime,
    ) -> None:
        """A new secret, the current one kept valid for ``grace_seconds``.

        Two secrets at most: a previous secret still in its grace is
        replaced by the one rolled away now, and stops working at once.
        """
        self._check_not_deleted()
        self._trigger(
            self.SecretRolled,
            secret_hash=secret_hash,
            sealed_secret=sealed_secret,
            previous_secret_hash=self.secret_hash,
            previous_sealed_secret=self.sealed_secret,
            previous_secret_expires_at=grace_ends_at(grace_seconds, now),
            earlier_previous_secret_expires_at=self.previous_secret_expires_at,
        )

    def restore(self) -> None:
        """Brings a deleted key back, disabled, with its id, DevKey, secret
        and settings; nothing is let in until an operator enables it."""
        if not self.deleted:
            raise KeyNotDeleted
        self._trigger(
            self.Restored,
            dev_key=self.dev_key,
            description=self.description,
            expires_at=self.expires_at,
            ip_whitelist=list(self.ip_whitelist),
            permissions=list(self.permissions),
            secret_hash=self.secret_hash,
            created_at=self.created_on,
        )

    def reveal_secret(self) -> str:
        """Records that the secret was shown; returns the sealed secret."""
        self._check_not_deleted()
        self._trigger(self.SecretRevealed)
        return self.sealed_secret

    def disable(self) -> bool:
        self._check_not_deleted()
        if not self.enabled:
            return False
        self._trigger(self.Disabled)
        return True

    def enable(self) -> bool:
        self._check_not_deleted()
        if self.enabled:
            return False
        self._trigger(self.Enabled)
        return True

    def delete(self) -> None:
        self._check_not_deleted()
        self._trigger(self.Deleted)

    # Queries.

    def previous_secret_valid(self, now: datetime) -> bool:
        """Whether the rolled-away secret still works at ``now``."""
        expires_at = self.previous_secret_expires_at
        return expires_at is not None and now < expires_at

    def status(self, now: datetime) -> KeyStatus:
        return key_status(self.enabled, self.expires_at, now)

    # Guards and plumbing.

    def end_grace(self) -> None:
        """Forgets the rolled-away secret (called by events' ``apply``)."""
        self.previous_secret_hash = None
        self.previous_sealed_secret = None
        self.previous_secret_expires_at = None

    def _check_not_deleted(self) -> None:
        if self.deleted:
            raise KeyDeleted

    def _trigger(self, event_class: type[ApiKey.Event], **kwargs: Any) -> None:
        # A key's events never go back in time, even when the writers'
        # clocks disagree: "as it stood at T" counts a prefix of its history.
        timestamp = max(
            event_class.create_timestamp(), self.modified_on + _ONE_MICROSECOND
        )
        self.trigger_event(
            event_class, timestamp=timestamp, **kwargs, **_audit_fields()
        )


# The contract's names for the event types (api.md, "History and audit").
EVENT_TYPE_NAMES: dict[type[ApiKey.Event], str] = {
    ApiKey.Created: "created",
    ApiKey.DescriptionChanged: "description_changed",
    ApiKey.ExpiryChanged: "expiry_changed",
    ApiKey.IpWhitelistChanged: "ip_whitelist_changed",
    ApiKey.PermissionsChanged: "permissions_changed",
    ApiKey.SecretReset: "secret_reset",
    ApiKey.SecretRevealed: "secret_revealed",
    ApiKey.SecretRolled: "secret_rolled",
    ApiKey.Restored: "restored",
    ApiKey.Disabled: "disabled",
    ApiKey.Enabled: "enabled",
    ApiKey.Deleted: "deleted",
}
