"""The OpenAPI pattern for descriptions refuses exactly what the domain does."""

from __future__ import annotations

import re

from service.api.description_pattern import (
    compute_refused_ranges,
    description_pattern,
    refused_ranges,
)


def test_the_stored_ranges_are_this_unicode_versions() -> None:
    assert refused_ranges() == compute_refused_ranges()


def test_the_pattern_agrees_with_parse_description_on_every_code_point() -> None:
    from domain.errors import InvalidValue
    from domain.values import parse_description

    pattern = re.compile(description_pattern())
    disagree = []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF or code > 0xFFFF:
            continue  # left out of the pattern (see description_pattern)
        character = chr(code)
        try:
            parse_description(character)
            accepted = True
        except InvalidValue:
            accepted = False
        if accepted != bool(pattern.fullmatch(character)):
            disagree.append(hex(code))
    assert disagree == []
