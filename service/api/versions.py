"""A key's version on the wire: the ETag it is sent as, the If-Match it
comes back in."""

from __future__ import annotations

import re


def etag(version: int) -> str:
    return f'"{version}"'


# One entity-tag naming a version: ASCII digits only (str.isdigit() also
# takes '²' and other digits int() refuses), and few enough of them that
# int() never meets its 4,300-digit limit.
_VERSION_TAG = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names.

    RFC 9110 (13.1.1) makes If-Match a condition that is false unless a
    listed entity-tag matches the current one. A value that is malformed,
    a list, or names no version this API ever sent can never match, so it is
    answered like a stale one (-1, then 412), never as an error of ours."""
    if header is None or header.strip() == "*":
        return None
    match = _VERSION_TAG.fullmatch(header.strip())
    return int(match.group(1)) if match else -1
