"""marshmallow schemas: request bodies, query arguments, responses.

Bodies are checked for shape here (types, unknown fields); the rules of a
key (lengths, CIDR, expiry in the future) live in the domain, once.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from domain import KeyStatus

STATUSES = tuple(status.value for status in KeyStatus)


class KeyFieldsMixin:
    description = ma.fields.String(
        allow_none=True,
        metadata={"description": "One line, at most 255 characters."},
    )
    expires_at = ma.fields.Raw(
        allow_none=True,
        metadata={
            "description": "RFC 3339 time or YYYY-MM-DD (through the end of that "
            "day, UTC); null never expires. Must be in the future.",
            "type": "string",
            "nullable": True,
            "example": "2027-01-31T23:59:59Z",
        },
    )
    ip_whitelist = ma.fields.List(
        ma.fields.String(),
        allow_none=True,
        metadata={
            "description": "IPv4/IPv6 addresses or CIDR networks; [] allows any IP.",
            "example": ["203.0.113.0/24", "2001:db8::7"],
        },
    )


class KeyCreateSchema(KeyFieldsMixin, ma.Schema):
    permissions = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "Non-empty subset of send, verify."},
    )


class KeyPatchSchema(KeyFieldsMixin, ma.Schema):
    permissions = ma.fields.List(ma.fields.String())

    @ma.validates_schema
    def names_a_field(self, data: dict[str, object], **_: object) -> None:
        if not data:
            raise ma.ValidationError(
                "name at least one of description, expires_at, ip_whitelist, "
                "permissions",
                "_body",
            )


class KeySchema(ma.Schema):
    id = ma.fields.UUID()
    dev_key = ma.fields.String()
    description = ma.fields.String()
    expires_at = ma.fields.String(allow_none=True)
    ip_whitelist = ma.fields.List(ma.fields.String())
    permissions = ma.fields.List(ma.fields.String())
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    created_at = ma.fields.String()
    updated_at = ma.fields.String()
    version = ma.fields.Integer()


class KeyWithSecretSchema(KeySchema):
    dev_secret = ma.fields.String(
        metadata={"description": "Shown in this response only."}
    )


class SecretSchema(ma.Schema):
    dev_key = ma.fields.String()
    dev_secret = ma.fields.String()


class KeyListArgsSchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    q = ma.fields.String(
        validate=validate.Length(max=255),
        metadata={"description": "Description contains (case-insensitive)."},
    )
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    after = ma.fields.String(metadata={"description": "Cursor from `next`."})


class KeyListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(KeySchema))
    next = ma.fields.String(allow_none=True)


class AsOfArgsSchema(ma.Schema):
    as_of = ma.fields.String(
        metadata={"description": "RFC 3339 time: the key as it stood then."}
    )
