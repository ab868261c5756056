"""The description rule (domain.values.parse_description) as a JSON Schema
``pattern``, so the OpenAPI document states exactly which text is refused:
code points of the categories Cc, Cf, Cs, Zl and Zp."""

from __future__ import annotations

import functools
import unicodedata

from domain.values import REFUSED_CATEGORIES

# Computed from Unicode 14.0 (Python 3.11); another version is recomputed.
_UNICODE_VERSION = "14.0.0"
_REFUSED_RANGES_14 = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)


def compute_refused_ranges() -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for code in range(0x110001):
        refused = (
            code < 0x110000 and unicodedata.category(chr(code)) in REFUSED_CATEGORIES
        )
        if refused and start is None:
            start = code
        elif not refused and start is not None:
            ranges.append((start, code - 1))
            start = None
    return tuple(ranges)


@functools.cache
def refused_ranges() -> tuple[tuple[int, int], ...]:
    if unicodedata.unidata_version == _UNICODE_VERSION:
        return _REFUSED_RANGES_14
    return compute_refused_ranges()


def _escape(code: int) -> str:
    return f"\\u{code:04x}"


@functools.cache
def description_pattern() -> str:
    """Basic Multilingual Plane only, surrogates left out: an ECMA 262
    pattern without the ``u`` flag cannot name code points past U+FFFF, and
    validators working on Unicode scalar values (jsonschema-rs) cannot
    compile a class naming surrogates. The service still refuses both (the
    few format characters past U+FFFF, and unpaired surrogates)."""
    body = "".join(
        _escape(low) if low == high else f"{_escape(low)}-{_escape(high)}"
        for low, high in refused_ranges()
        if low != 0xD800 and high <= 0xFFFF
    )
    return f"^[^{body}]*$"
