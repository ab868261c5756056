"""marshmallow schemas of the history and audit-feed endpoints."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from domain import EVENT_TYPE_NAMES
from domain.times import TimeFormatError, parse_time
from service.api.schemas import (
    NO_CONTROL_PATTERN,
    AsciiInteger,
    CanonicalUUID,
    Rfc3339Text,
    no_control_characters,
)

EVENT_TYPES = tuple(EVENT_TYPE_NAMES.values())
FORMATS = ("json", "jsonl", "csv")
_CURSOR = re.compile(r"audit:([1-9][0-9]{0,18})")


def encode_audit_cursor(notification_id: int) -> str:
    """Opaque to callers: the position in the event log after which the next
    page starts (keyset paging, so concurrent writes cause no gaps)."""
    raw = f"audit:{notification_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_audit_cursor(cursor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    match = _CURSOR.fullmatch(raw)
    return int(match.group(1)) if match else None


_POSITION = re.compile(r"0|[1-9][0-9]{0,18}")


class AuditCursor(ma.fields.Field[int]):
    """A ``next`` cursor from an earlier page, or an item's ``position``
    (how an export resumes), loaded as a log position."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **_: Any) -> int:
        if isinstance(value, str) and _POSITION.fullmatch(value):
            return int(value)
        position = decode_audit_cursor(value) if isinstance(value, str) else None
        if position is None:
            raise ma.ValidationError("must be a cursor from next or an item's position")
        return position


class Rfc3339Time(ma.fields.Field[datetime]):
    """An RFC 3339 time with a zone, read the way ``as_of`` is."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **_: Any
    ) -> datetime:
        name = attr or "time"
        try:
            return parse_time(name, str(value))
        except TimeFormatError as error:
            raise ma.ValidationError([error.message]) from None


class AuditFeedArgsSchema(ma.Schema):
    key_id = CanonicalUUID(metadata={"description": "Only this key's events."})
    actor = ma.fields.String(
        validate=[validate.Length(min=1, max=255), no_control_characters],
        metadata={
            "description": "Only events caused by this operator.",
            "pattern": NO_CONTROL_PATTERN,
        },
    )
    type = ma.fields.String(
        validate=validate.OneOf(EVENT_TYPES),
        metadata={"description": "Only events of this type."},
    )
    since = Rfc3339Time(
        metadata={
            "description": "Events recorded at or after this RFC 3339 time.",
            "type": "string",
            "format": "utc-time",
        }
    )
    until = Rfc3339Time(
        metadata={
            "description": "Events recorded at or before this RFC 3339 time "
            "(not before since).",
            "type": "string",
            "format": "utc-time",
        }
    )
    limit = AsciiInteger(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Page size (ignored by exports)."},
    )
    after = AuditCursor(
        metadata={
            "description": "A cursor from `next`, or the `position` of the last "
            "item received: the answer starts after it (how a cut export resumes).",
            "type": "string",
            "format": "audit-cursor",
        }
    )
    format = ma.fields.String(
        validate=validate.OneOf(FORMATS),
        metadata={
            "description": "json (pages, the default), or stream the whole "
            "selection as jsonl or csv."
        },
    )

    @ma.validates_schema
    def until_not_before_since(self, data: dict[str, Any], **_: Any) -> None:
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and until < since:
            raise ma.ValidationError("must not be before since", "until")


class AuditExportArgsSchema(AuditFeedArgsSchema):
    class Meta:
        exclude = ("limit",)

    format = ma.fields.String(
        required=True,
        validate=validate.OneOf(("jsonl", "csv")),
        metadata={"description": "jsonl (one JSON item per line) or csv."},
    )


class AuditItemSchema(ma.Schema):
    position = ma.fields.Integer(
        required=True,
        metadata={
            "description": "Place in the log, strictly increasing in recording "
            "order; an export resumes with after=<position>."
        },
    )
    key_id = ma.fields.UUID(required=True)
    version = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True, metadata={"enum": list(EVENT_TYPES)})
    occurred_at = Rfc3339Text(
        required=True, metadata={"description": "RFC 3339, UTC, microseconds."}
    )
    actor = ma.fields.String(required=True)
    source_ip = ma.fields.String(required=True, allow_none=True)
    request_id = ma.fields.String(required=True, allow_none=True)
    changes = ma.fields.Dict(
        required=True,
        metadata={"description": 'Changed fields as {"field": {"from": …, "to": …}}.'},
    )
    hash = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "Lowercase hex SHA-256 chaining this item to the one "
            "recorded before it (see the tamper-evidence documentation)."
        },
    )
    event_sha256 = ma.fields.String(
        allow_none=True,
        metadata={"description": "SHA-256 of the stored event row the item shows."},
    )


class HistorySchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AuditItemSchema), required=True)


class AuditPageSchema(HistorySchema):
    next = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Cursor of the next page; null on the last."},
    )
