"""The DevSecret format: prefix, 256-bit base62 body, CRC32 checksum."""

from __future__ import annotations

import math
import re
import secrets

import pytest

from domain.secret_format import (
    ALPHABET,
    CHECKSUM_LENGTH,
    LENGTH,
    PREFIX,
    RANDOM_LENGTH,
    SCANNER_PATTERN,
    checksum,
    dev_secret_from,
    problem_with,
)
from service.sealing import new_dev_secret


def test_new_secret_is_well_formed() -> None:
    secret = new_dev_secret()
    assert problem_with(secret) is None
    assert secret.startswith("kls_")
    assert len(secret) == LENGTH == 53


def test_random_part_carries_at_least_256_bits() -> None:
    assert RANDOM_LENGTH * math.log2(len(ALPHABET)) >= 256
    assert len(set(ALPHABET)) == 62


def test_new_secrets_differ() -> None:
    assert len({new_dev_secret() for _ in range(200)}) == 200


def test_secret_is_url_safe() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]+", new_dev_secret())


def test_every_one_character_change_fails_the_checksum() -> None:
    secret = new_dev_secret()
    for position in range(len(PREFIX), LENGTH):
        for replacement in ALPHABET:
            if replacement == secret[position]:
                continue
            changed = secret[:position] + replacement + secret[position + 1 :]
            assert problem_with(changed) is not None, (position, replacement)


def test_swapped_neighbours_fail_the_checksum() -> None:
    secret = new_dev_secret()
    body = list(secret)
    i = next(n for n in range(len(PREFIX), LENGTH - 1) if body[n] != body[n + 1])
    body[i], body[i + 1] = body[i + 1], body[i]
    assert problem_with("".join(body)) is not None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "does not start"),
        ("KLS_" + "a" * 49, "does not start"),
        # A secret issued before the format: plain URL-safe base64.
        (secrets.token_urlsafe(32), "does not start"),
        ("kls_" + "a" * 48, "characters"),
        ("kls_" + "a" * 50, "characters"),
        ("kls_" + "a" * 48 + "-", "outside"),
        ("kls_" + "é" * 49, "outside"),
    ],
)
def test_malformed_strings_name_the_problem(text: str, why: str) -> None:
    problem = problem_with(text)
    assert problem is not None
    assert why in problem


def test_checksum_is_fixed_width_base62_of_crc32() -> None:
    assert checksum("") == "000000"  # CRC32 of nothing is 0
    assert len(checksum("kls_" + "z" * 43)) == CHECKSUM_LENGTH
    assert 62**CHECKSUM_LENGTH > 2**32


def test_known_secret_pins_the_algorithm() -> None:
    # Fixed forever: scanners and `secrets check` in the field compute this.
    secret = dev_secret_from("0" * 43)
    # zlib.crc32(b"kls_" + b"0" * 43) == 3544668016, written in base62:
    assert secret == "kls_" + "0" * 43 + "3rt44m"
    value = sum(ALPHABET.index(c) * 62**n for n, c in enumerate(reversed("3rt44m")))
    assert value == 3544668016
    assert problem_with(secret) is None


def test_dev_secret_from_refuses_a_wrong_random_part() -> None:
    with pytest.raises(ValueError, match="43 base62"):
        dev_secret_from("0" * 42)
    with pytest.raises(ValueError, match="43 base62"):
        dev_secret_from("_" * 43)


def test_scanner_pattern_finds_secrets_in_text_and_nothing_else() -> None:
    first, second = new_dev_secret(), new_dev_secret()
    text = (
        f'export KEYLEDGER_SECRET="{first}"\n'
        f"curl -u dk_abc:{second} https://example.test\n"
        f"xkls_{'a' * 49} kls_{'a' * 48} api_key=kls_short\n"
    )
    assert re.findall(SCANNER_PATTERN, text) == [first, second]
