"""Schemas of the lifecycle calls: roll, usage, secret lookup."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from domain.values import GRACE_SECONDS_MAX
from service.api.audit_schemas import Rfc3339Time
from service.usage_report import BUCKETS, DENIAL_REASONS


class RollSecretSchema(ma.Schema):
    # Shape only; the range is the domain's rule (one place, 422 naming it).
    grace_seconds = ma.fields.Raw(
        required=True,
        metadata={
            "type": "integer",
            "minimum": 0,
            "maximum": GRACE_SECONDS_MAX,
            "description": "How long the secret rolled away keeps working, in "
            "seconds (0 to 30 days).",
            "example": 86400,
        },
    )


class UsageArgsSchema(ma.Schema):
    since = Rfc3339Time(
        metadata={
            "description": "RFC 3339; default: 24 hours before until. An answer "
            "spans at most 31 days of hours or 400 days of days ending at until: "
            "an earlier since is moved up to that. A since at or after until "
            "answers no items.",
            "type": "string",
            "format": "utc-time",
        }
    )
    until = Rfc3339Time(
        metadata={
            "description": "RFC 3339; default: now.",
            "type": "string",
            "format": "utc-time",
        }
    )
    bucket = ma.fields.String(
        load_default="hour", validate=validate.OneOf(list(BUCKETS))
    )


class UsageItemSchema(ma.Schema):
    start = ma.fields.String(metadata={"description": "Start of the bucket (UTC)."})
    allowed = ma.fields.Integer()
    denied = ma.fields.Dict(
        keys=ma.fields.String(validate=validate.OneOf(DENIAL_REASONS)),
        values=ma.fields.Integer(),
    )


class UsageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UsageItemSchema))


class SecretLookupBodySchema(ma.Schema):
    dev_secret = ma.fields.String(
        required=True,
        metadata={"description": "The secret found, e.g. by a secret scanner."},
    )


class SecretLookupSchema(ma.Schema):
    key_id = ma.fields.UUID()
    dev_key = ma.fields.String()
    status = ma.fields.String(
        metadata={"enum": ["enabled", "disabled", "expired", "deleted"]}
    )
    secret = ma.fields.String(metadata={"enum": ["current", "previous", "retired"]})
    rotation = ma.fields.Integer(
        metadata={"description": "0: issued at creation; +1 per reset or roll."}
    )
    retired_at = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "When it stopped (or stops) working; null if current."
        },
    )
