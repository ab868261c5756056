"""Value rules of a key (api.md, "The key"): description and permissions.
Pure functions, no I/O."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from domain.values import (
    parse_description,
    parse_permissions,
)

# --------------------------------------------------------------------------
# description
# --------------------------------------------------------------------------


def test_description_none_is_empty() -> None:
    assert parse_description(None) == ""


@pytest.mark.parametrize(
    "value",
    [
        "",
        "payments backend, prod",
        "x" * 255,
        "é" * 255,
        "  leading and trailing spaces  ",
        "unicode ✓ ünïcödé 日本語",
    ],
    ids=["empty", "plain", "max-ascii", "max-non-ascii", "spaces", "unicode"],
)
def test_description_accepted_unchanged(value: str) -> None:
    assert parse_description(value) == value


def test_description_max_length_is_255() -> None:
    # The contract's number, written out: not the constant, which could drift.
    assert parse_description("d" * 255) == "d" * 255
    with pytest.raises(InvalidValue):
        parse_description("d" * 256)


def test_description_of_256_characters_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_description("x" * 256)
    assert caught.value.field == "description"


@pytest.mark.parametrize(
    "value",
    [
        "line one\nline two",
        "carriage\rreturn",
        "windows\r\nline",
        "tab\tseparated",
        "nul\x00byte",
        "bell\x07",
        "escape\x1b[31m",
        "delete\x7f",
        "next line\x85",
        "c1\x9f",
        "line\u2028separator",
        "paragraph\u2029separator",
        "\n",
        "unpaired\ud800surrogate",
        "low\udfffsurrogate",
        "right-to-left\u202eoverride",
        "zero\u200dwidth joiner",
        "isolate\u2066x\u2069",
        "byte order\ufeffmark",
        "soft\u00adhyphen",
    ],
    ids=[
        "newline",
        "carriage-return",
        "crlf",
        "tab",
        "nul",
        "bell",
        "escape",
        "del",
        "nel",
        "c1-last",
        "line-separator",
        "paragraph-separator",
        "only-newline",
        "high-surrogate",
        "low-surrogate",
        "bidi-override",
        "zero-width-joiner",
        "bidi-isolates",
        "bom",
        "soft-hyphen",
    ],
)
def test_description_control_characters_refused(value: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_description(value)
    assert caught.value.field == "description"


@pytest.mark.parametrize(
    "value",
    [42, 1.5, True, b"bytes", ["a list"], {"a": "dict"}],
    ids=["int", "float", "bool", "bytes", "list", "dict"],
)
def test_description_non_string_refused(value: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_description(value)
    assert caught.value.field == "description"


# --------------------------------------------------------------------------
# permissions
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["send"], ("send",)),
        (["verify"], ("verify",)),
        (["send", "verify"], ("send", "verify")),
        (["verify", "send"], ("send", "verify")),
        (["send", "send"], ("send",)),
        (["verify", "send", "verify", "send"], ("send", "verify")),
        (("verify",), ("verify",)),
        ({"verify", "send"}, ("send", "verify")),
        ((p for p in ["verify", "send"]), ("send", "verify")),
    ],
    ids=[
        "send",
        "verify",
        "both",
        "sorted",
        "dedup",
        "dedup-and-sorted",
        "tuple",
        "set",
        "generator",
    ],
)
def test_permissions_normalised(values: object, expected: tuple[str, ...]) -> None:
    assert parse_permissions(values) == expected


def test_permissions_empty_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_permissions([])
    assert caught.value.field == "permissions"


@pytest.mark.parametrize(
    "values",
    [
        ["sms"],
        ["send", "admin"],
        ["SEND"],
        [" send"],
        [""],
        [None],
        [1],
        [["send"]],
    ],
    ids=[
        "unknown",
        "one-unknown-among-known",
        "wrong-case",
        "padded",
        "empty-name",
        "none",
        "int",
        "nested-list",
    ],
)
def test_permissions_unknown_refused(values: list[object]) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_permissions(values)
    assert caught.value.field == "permissions"


def test_permissions_unknown_named_in_message() -> None:
    with pytest.raises(InvalidValue, match="sms"):
        parse_permissions(["send", "sms"])


@pytest.mark.parametrize(
    "values",
    ["send", "send,verify", "", None, 1, True],
    ids=["bare-string", "comma-string", "empty-string", "none", "int", "bool"],
)
def test_permissions_not_a_list_refused(values: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_permissions(values)
    assert caught.value.field == "permissions"
