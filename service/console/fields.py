"""The key form: what an operator typed, turned into the domain's values.

Every rule comes from the domain's ``parse_*`` functions, the same ones the
JSON API relies on; this module only maps form fields to them and collects
every error at once, each beside its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from werkzeug.datastructures import MultiDict

from domain import ApiKey, InvalidValue
from domain.times import TimeFormatError, parse_time
from domain.values import (
    GRACE_SECONDS_MAX,
    grace_ends_at,
    parse_description,
    parse_expiry,
    parse_ip_whitelist,
    parse_permissions,
)

# How the domain names a field -> the label the form shows beside it.
LABELS = {
    "description": "Description",
    "expires_at": "Expiration date",
    "ip_whitelist": "IP whitelist",
    "permissions": "API permissions",
}
FIELDS = tuple(LABELS)
GRACE_LABEL = "Grace period (seconds)"
# What the roll form offers: one day, time enough to deploy the new secret.
DEFAULT_GRACE_SECONDS = 86_400
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")
_NAMES_ZONE = re.compile(r"([zZ]|[+-]\d{2}:?\d{2})$")


def field_error(error: InvalidValue) -> str:
    """'Expiration date must be in the future.': the domain's message after
    the field's label, so it reads as a sentence beside the field."""
    label = {**LABELS, "grace_seconds": GRACE_LABEL}.get(error.field, error.field)
    return f"{label} {error.message}".rstrip(".") + "."


def whitelist_entries(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass
class KeyForm:
    """The create/edit form's fields as text, exactly as typed or shown."""

    description: str = ""
    expires_at: str = ""
    ip_whitelist: str = ""
    permissions: tuple[str, ...] = ("send", "verify")
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> KeyForm:
        return cls(
            description=form.get("description", ""),
            expires_at=form.get("expires_at", "").strip(),
            ip_whitelist=form.get("ip_whitelist", ""),
            permissions=tuple(form.getlist("permissions")),
        )

    @classmethod
    def from_key(cls, key: ApiKey) -> KeyForm:
        return cls(
            description=key.description,
            expires_at=expiry_text(key.expires_at),
            ip_whitelist="\n".join(key.ip_whitelist),
            permissions=tuple(key.permissions),
        )

    def parsed(
        self, now: datetime, only: tuple[str, ...] = FIELDS
    ) -> dict[str, object]:
        """The domain's values of the fields in ``only``; on a bad value,
        fills ``errors`` for every offending field and returns {}."""
        parsers: dict[str, Callable[[], object]] = {
            "description": lambda: parse_description(self.description),
            "expires_at": lambda: parse_expiry(self.expires_at or None, now),
            "ip_whitelist": lambda: parse_ip_whitelist(
                whitelist_entries(self.ip_whitelist)
            ),
            "permissions": lambda: parse_permissions(self.permissions),
        }
        values: dict[str, object] = {}
        self.errors = {}
        for name in only:
            try:
                values[name] = parsers[name]()
            except InvalidValue as error:
                self.errors[name] = field_error(error)
        return {} if self.errors else values

    def changed_from(self, loaded: KeyForm) -> tuple[str, ...]:
        """The fields this form changes compared with the form as loaded.

        Untouched fields are not sent, so an untouched expiry of an expired key
        is not refused as "in the past", and a precise expiry time the date
        field cannot show is kept.
        """
        changed = []
        if self.description != loaded.description:
            changed.append("description")
        if self.expires_at != loaded.expires_at:
            changed.append("expires_at")
        if whitelist_entries(self.ip_whitelist) != whitelist_entries(
            loaded.ip_whitelist
        ):
            changed.append("ip_whitelist")
        if sorted(self.permissions) != sorted(loaded.permissions):
            changed.append("permissions")
        return tuple(changed)


def expiry_text(moment: datetime | None) -> str:
    """An expiry as the date field shows it (YYYY-MM-DD, UTC)."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


def parse_moment(name: str, text: str) -> datetime | None:
    """A date and time typed into a console field, read as UTC unless it
    names its zone; blank is None."""
    value = text.strip()
    if not value:
        return None
    if not _NAMES_ZONE.search(value):
        # A datetime-local field sends no zone; the console shows UTC.
        value += "Z"
    try:
        return parse_time(name, value)
    except TimeFormatError:
        raise InvalidValue(
            name, "must be a date and time such as 2027-01-31T23:59:59 (UTC)"
        ) from None


@dataclass
class RollForm:
    """The roll form's grace period, as typed."""

    grace_seconds: str = str(DEFAULT_GRACE_SECONDS)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> RollForm:
        return cls(grace_seconds=form.get("grace_seconds", "").strip())

    def parsed(self, now: datetime) -> int | None:
        """The grace in seconds, checked by the domain's rule (the same one
        the API's 422 comes from); None with ``errors`` filled when invalid."""
        self.errors = {}
        try:
            if not _WHOLE_NUMBER.fullmatch(self.grace_seconds):
                raise InvalidValue(
                    "grace_seconds",
                    f"must be a whole number of seconds from 0 to {GRACE_SECONDS_MAX}",
                )
            seconds = int(self.grace_seconds)
            grace_ends_at(seconds, now)
        except InvalidValue as error:
            self.errors["grace_seconds"] = field_error(error)
            return None
        return seconds
