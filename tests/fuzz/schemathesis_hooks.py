"""Loaded by schemathesis (SCHEMATHESIS_HOOKS=tests.fuzz.schemathesis_hooks):
strategies for the string formats keyledger's OpenAPI document names, so
that "schema-valid" means what the API accepts."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import strategies as st

# Offsets keep a time inside years 1-9999 once moved to UTC.
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def rfc3339(moment: datetime, fraction: int, zulu: bool) -> str:
    # Not strftime("%Y"): glibc writes year 208 as "208", not "0208".
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if fraction:
        text += f".{moment.microsecond:06d}"[: fraction + 1]
    offset = moment.utcoffset() or timedelta()
    if zulu and not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@st.composite
def times(draw: Any, earliest: datetime = EARLIEST) -> str:
    utc = draw(
        st.datetimes(
            min_value=earliest.replace(tzinfo=None),
            max_value=LATEST.replace(tzinfo=None),
        )
    )
    zone = draw(OFFSETS)
    local = utc.replace(tzinfo=UTC).astimezone(zone)
    return rfc3339(local, draw(st.sampled_from([0, 3, 6])), draw(st.booleans()))


def future_times_or_dates() -> Any:
    tomorrow = datetime.now(UTC) + timedelta(days=2)
    return st.one_of(
        times(earliest=tomorrow),
        st.dates(min_value=tomorrow.date(), max_value=date(9998, 12, 31)).map(
            date.isoformat
        ),
    )


@st.composite
def networks(draw: Any) -> str:
    address = draw(st.ip_addresses())
    prefix = draw(st.integers(min_value=0, max_value=address.max_prefixlen))
    return str(ipaddress.ip_network((address, prefix), strict=False))


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


key_cursors = st.builds(
    lambda micros, key_id: cursor(f"{micros}:{key_id}"),
    st.integers(min_value=0, max_value=253_402_214_400 * 1_000_000),
    st.uuids(),
)
audit_cursors = st.integers(min_value=1, max_value=10**18).map(
    lambda n: cursor(f"audit:{n}")
)

schemathesis.openapi.format("future-time-or-date", future_times_or_dates())
schemathesis.openapi.format("utc-time", times())
schemathesis.openapi.format("ip-network", networks())
schemathesis.openapi.format("ip-address", st.ip_addresses().map(str))
schemathesis.openapi.format("key-cursor", key_cursors)
schemathesis.openapi.format("audit-cursor", audit_cursors)


@schemathesis.hook
def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
    """``until`` before ``since`` is refused (422), a rule across two
    parameters that JSON Schema cannot state: leave such pairs out."""
    if not query or "since" not in query or "until" not in query:
        return True
    try:
        since = datetime.fromisoformat(str(query["since"]).replace("Z", "+00:00"))
        until = datetime.fromisoformat(str(query["until"]).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return True
    try:
        return bool(until >= since)
    except TypeError:
        return True


def _refused_past_the_bmp(text: str) -> bool:
    from service.api.description_pattern import refused_ranges

    return any(
        low <= ord(character) <= high
        for character in text
        if ord(character) > 0xFFFF
        for low, high in refused_ranges()
    )


@schemathesis.hook
def filter_body(ctx: Any, body: Any) -> bool:
    """The document's description pattern cannot name the few format
    characters past U+FFFF (ECMA 262 without the u flag), which the service
    refuses: leave bodies holding one out rather than call them valid."""
    if isinstance(body, dict) and isinstance(body.get("description"), str):
        return not _refused_past_the_bmp(body["description"])
    return True
