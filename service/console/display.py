"""How keys, times and history items read on the console's pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from domain import ApiKey
from domain.times import format_time
from domain.values import key_status as status_rule
from projections.key_state import KeyRow

EVENT_LABELS = {
    "created": "Created",
    "description_changed": "Description changed",
    "expiry_changed": "Expiration changed",
    "ip_whitelist_changed": "IP whitelist changed",
    "permissions_changed": "API permissions changed",
    "secret_reset": "DevSecret reset",
    "secret_revealed": "DevSecret revealed",
    "disabled": "Disabled",
    "enabled": "Enabled",
    "deleted": "Deleted",
    "secret_rolled": "DevSecret rolled",
    "restored": "Restored",
}
CHANGE_LABELS = {
    "dev_key": "DevKey",
    "description": "Description",
    "expires_at": "Expiration",
    "ip_whitelist": "IP whitelist",
    "permissions": "API permissions",
    "status": "Status",
    "previous_secret_expires_at": "Previous DevSecret works until",
}
PERMISSION_LABELS = {"send": "Send API", "verify": "Verify API"}
STATUS_LABELS = {"enabled": "Enabled", "disabled": "Disabled", "expired": "Expired"}
# Columns of the usage table, in the order the API lists denial reasons.
DENIAL_LABELS = {
    "key_disabled": "Refused: disabled",
    "key_expired": "Refused: expired",
    "ip_not_allowed": "Refused: IP not allowed",
    "permission_denied": "Refused: API not permitted",
}


def when(moment: datetime | None) -> str:
    """Seconds are enough to read; the history's machine time carries the rest."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine_time(moment: datetime | None) -> str:
    return "" if moment is None else format_time(moment, "seconds")


def field_time(moment: datetime | None) -> str:
    """As a datetime-local field (read as UTC) shows it."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind, kind.replace("_", " ").capitalize())


def change_label(name: str) -> str:
    return CHANGE_LABELS.get(name, name.replace("_", " ").capitalize())


def permissions_text(values: Sequence[str]) -> str:
    return ", ".join(PERMISSION_LABELS.get(value, value) for value in values)


def change_value(name: str, value: Any) -> str:
    """One side of a change, in words; ``None`` on the "from" side of a
    creation is shown as a dash by the template."""
    if name in ("expires_at", "previous_secret_expires_at"):
        if value is None:
            return "Never" if name == "expires_at" else "—"
        try:
            return when(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
        except ValueError:
            return str(value)
    if name == "ip_whitelist":
        return ", ".join(value) if value else "Any IP"
    if name == "permissions":
        return permissions_text(value or [])
    if name == "status":
        return STATUS_LABELS.get(str(value), str(value))
    if name == "description":
        return str(value) if value else "(no description)"
    return "" if value is None else str(value)


def key_status(key: ApiKey | KeyRow, now: datetime) -> str:
    return status_rule(key.enabled, key.expires_at, now).value


def helpers() -> dict[str, Any]:
    """What every console template may call."""
    return {
        "when": when,
        "machine_time": machine_time,
        "field_time": field_time,
        "event_label": event_label,
        "change_label": change_label,
        "change_value": change_value,
        "permissions_text": permissions_text,
        "status_label": lambda status: STATUS_LABELS.get(status, status),
        "permission_labels": PERMISSION_LABELS,
        "denial_labels": DENIAL_LABELS,
    }
