"""A key's version on the wire: the ETag it is sent as, the If-Match it
comes back in."""

from __future__ import annotations


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names; a value naming no version can never
    match, so it is answered like a stale one (-1)."""
    if header is None or header.strip() == "*":
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    return int(value) if value.isdigit() else -1
