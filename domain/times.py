"""Times on the wire (HTTP bodies, query parameters, CLI arguments, audit
changes): one formatter and one parser, so every surface spells a moment
the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from domain.errors import InvalidValue

Precision = Literal["auto", "seconds", "micros"]
EXAMPLE = "2027-01-31T23:59:59Z"

_FORMATS = {
    "seconds": "%Y-%m-%dT%H:%M:%SZ",
    "micros": "%Y-%m-%dT%H:%M:%S.%fZ",
}


def format_time(moment: datetime, precision: Precision = "auto") -> str:
    """RFC 3339 in UTC with a Z.

    ``auto`` writes fractions only when the moment has them; ``micros``
    always writes them (fixed width keeps exported times sortable as text
    and exact enough to pass back as ``as_of``); ``seconds`` drops them.
    """
    moment = moment.astimezone(UTC)
    if precision == "auto":
        precision = "micros" if moment.microsecond else "seconds"
    return moment.strftime(_FORMATS[precision])


def format_optional_time(
    moment: datetime | None, precision: Precision = "auto"
) -> str | None:
    return None if moment is None else format_time(moment, precision)


class TimeFormatError(InvalidValue):
    """A time argument is not RFC 3339 with a zone; ``summary`` is the
    one-line answer the HTTP API and the CLI both give."""

    def __init__(
        self,
        field: str,
        message: str = "must be an RFC 3339 time with a time zone",
        summary: str | None = None,
    ) -> None:
        super().__init__(field, message)
        self.summary = (
            summary or f"invalid {field}: expected an RFC 3339 time such as {EXAMPLE}"
        )


def parse_time(name: str, value: str) -> datetime:
    """An RFC 3339 time with a zone (``as_of``, ``since``, ``--until`` ...),
    in UTC; ``name`` is the argument named in the error."""
    text = value.strip().upper().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text:
        raise TimeFormatError(name)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # An offset can carry a time near year 1 or 9999 out of range in UTC.
        raise TimeFormatError(
            name,
            "must lie between years 1 and 9999 in UTC",
            f"invalid {name}: the time lies outside years 1 to 9999 in UTC",
        ) from None
