"""keyledger's domain: the ApiKey aggregate, its events and value types.

Imports the standard library and ``eventsourcing.domain`` only.
"""

from domain.api_key import EVENT_TYPE_NAMES, ApiKey, key_id_for
from domain.audit import AuditContext, current_audit, recording_as
from domain.errors import (
    DomainError,
    InvalidValue,
    InvalidValues,
    KeyDeleted,
    KeyNotDeleted,
    MissingActor,
)
from domain.values import KeyStatus, Permission

__all__ = [
    "EVENT_TYPE_NAMES",
    "ApiKey",
    "AuditContext",
    "DomainError",
    "InvalidValue",
    "InvalidValues",
    "KeyDeleted",
    "KeyNotDeleted",
    "KeyStatus",
    "MissingActor",
    "Permission",
    "current_audit",
    "key_id_for",
    "recording_as",
]
