"""marshmallow schemas: request bodies, query arguments, responses.

Bodies are checked for shape here (types, unknown fields); the rules of a
key (lengths, CIDR, expiry in the future) live in the domain, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from domain import InvalidValue, KeyStatus, Permission
from domain.values import (
    parse_description,
    parse_expiry,
    parse_ip_whitelist,
    parse_permissions,
)
from service.api.context import current_services
from service.api.description_pattern import description_pattern
from service.api.presenters import CANONICAL_UUID

STATUSES = tuple(status.value for status in KeyStatus)
PERMISSIONS = tuple(permission.value for permission in Permission)
# JSON Schema for "no control characters", so the OpenAPI document says what
# is refused (schemathesis holds the API to its document).
NO_CONTROL_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ASCII_INTEGER = re.compile(r"-?[0-9]{1,9}")


class Rfc3339Text(ma.fields.String):
    """A time rendered already as RFC 3339 text in UTC (``…Z``); declared
    with the ``date-time`` format."""


def _permission() -> ma.fields.String:
    # Documented as an enum; the domain checks the values, once, with its
    # own message naming the field.
    return ma.fields.String(metadata={"enum": list(PERMISSIONS)})


def _ledger_now() -> datetime:
    """The ledger's clock, which judges whether an expiry lies in the future."""
    return current_services().ledger.clock()


_KEY_RULES: dict[str, Callable[[Any], object]] = {
    "description": parse_description,
    "expires_at": lambda value: parse_expiry(value, _ledger_now()),
    "ip_whitelist": parse_ip_whitelist,
    "permissions": parse_permissions,
}


def no_control_characters(value: str) -> None:
    """Text searched for in the store: no stored value holds a control
    character, and PostgreSQL refuses a NUL outright, so refuse them here
    and answer alike on both stores."""
    if _CONTROL_CHARACTERS.search(value):
        raise ma.ValidationError("must not contain control characters")


class CanonicalUUID(ma.fields.UUID):
    """Only the hyphenated 8-4-4-4-12 spelling, as every id is written."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> Any:
        if not isinstance(value, str) or not CANONICAL_UUID.fullmatch(value):
            raise self.make_error("invalid_uuid")
        return super()._deserialize(value, attr, data, **kw)


class AsciiInteger(ma.fields.Integer):
    """An integer written in ASCII digits: int() also takes full-width and
    other Unicode digits, surrounding blanks and underscores."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> Any:
        if isinstance(value, str) and not _ASCII_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kw)


class KeyFieldsMixin:
    @ma.validates_schema(skip_on_field_errors=False)
    def key_rules(self, data: dict[str, Any], **_: object) -> None:
        """The domain's rules for each field that has the right shape, so
        that one 422 names every offending field, shape or rule."""
        problems: dict[str, list[str]] = {}
        for name, rule in _KEY_RULES.items():
            if name in data:
                try:
                    rule(data[name])
                except InvalidValue as invalid:
                    problems.setdefault(invalid.field, []).append(invalid.message)
        if problems:
            raise ma.ValidationError(problems)

    description = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "One line, at most 255 characters: no control, "
            "invisible formatting (bidi, joiners) or unpaired surrogate characters.",
            "pattern": description_pattern(),
            "maxLength": 255,
        },
    )
    expires_at = ma.fields.Raw(
        allow_none=True,
        metadata={
            "description": "RFC 3339 time or YYYY-MM-DD (through the end of that "
            'day, UTC); null (or "", a field left blank) never expires. Must '
            "be in the future.",
            "anyOf": [
                {"type": "string", "format": "future-time-or-date"},
                {"type": "string", "enum": [""]},
            ],
            "nullable": True,
            "example": "2027-01-31T23:59:59Z",
        },
    )
    ip_whitelist = ma.fields.List(
        ma.fields.String(
            metadata={
                "format": "ip-network",
                "description": "An address, or a network without host bits; "
                "no zone id.",
            }
        ),
        allow_none=True,
        metadata={
            "maxItems": 1000,
            "description": "IPv4/IPv6 addresses or CIDR networks; [] allows any IP.",
            "example": ["203.0.113.0/24", "2001:db8::7"],
        },
    )


class KeyCreateSchema(KeyFieldsMixin, ma.Schema):
    permissions = ma.fields.List(
        _permission(),
        required=True,
        metadata={"description": "Non-empty subset of send, verify.", "minItems": 1},
    )


class KeyPatchSchema(KeyFieldsMixin, ma.Schema):
    permissions = ma.fields.List(_permission(), metadata={"minItems": 1})

    @ma.validates_schema
    def names_a_field(self, data: dict[str, object], **_: object) -> None:
        if not data:
            raise ma.ValidationError(
                "name at least one of description, expires_at, ip_whitelist, "
                "permissions",
                "_body",
            )


class KeySchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    dev_key = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    expires_at = Rfc3339Text(
        required=True,
        allow_none=True,
        metadata={"description": "Valid through this second; null never expires."},
    )
    ip_whitelist = ma.fields.List(ma.fields.String(), required=True)
    permissions = ma.fields.List(_permission(), required=True)
    status = ma.fields.String(required=True, metadata={"enum": list(STATUSES)})
    created_at = Rfc3339Text(required=True)
    updated_at = Rfc3339Text(required=True)
    version = ma.fields.Integer(
        required=True, metadata={"description": "Also sent as the ETag header."}
    )
    previous_secret_expires_at = Rfc3339Text(
        required=True,
        allow_none=True,
        metadata={
            "description": "When the secret rolled away stops working; null: none."
        },
    )
    last_used_at = Rfc3339Text(
        required=True,
        allow_none=True,
        metadata={"description": "Last allowed auth call; may lag up to 60 s."},
    )


class KeyWithSecretSchema(KeySchema):
    dev_secret = ma.fields.String(
        required=True, metadata={"description": "Shown in this response only."}
    )


class SecretSchema(ma.Schema):
    dev_key = ma.fields.String(required=True)
    dev_secret = ma.fields.String(required=True)


class KeyListArgsSchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    q = ma.fields.String(
        validate=[validate.Length(max=255), no_control_characters],
        metadata={
            "description": "Description contains (case-insensitive).",
            "pattern": NO_CONTROL_PATTERN,
        },
    )
    limit = AsciiInteger(load_default=50, validate=validate.Range(min=1, max=500))
    after = ma.fields.String(
        metadata={"description": "Cursor from `next`.", "format": "key-cursor"}
    )
    expires_before = ma.fields.String(
        metadata={
            "description": "RFC 3339: keys expiring at or before it (never-expiring "
            "keys excluded).",
            "format": "date-time",
        }
    )


class KeyListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(KeySchema), required=True)
    next = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Cursor of the next page; null on the last."},
    )


class AsOfArgsSchema(ma.Schema):
    as_of = ma.fields.String(
        metadata={
            "description": "RFC 3339 time with a zone, within years 1-9999 in "
            "UTC: the key as it stood then.",
            "format": "utc-time",
        }
    )
