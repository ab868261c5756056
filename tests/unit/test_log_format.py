"""KEYLEDGER_LOG_FORMAT: text by default, json on request, anything else a
configuration error naming the setting."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from service.config import ConfigurationError
from service.logs import formatter, log_format


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, "text"), ({"KEYLEDGER_LOG_FORMAT": "JSON "}, "json")],
)
def test_the_format_setting(environ: dict[str, str], expected: str) -> None:
    assert log_format(environ) == expected


def test_an_unknown_format_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="KEYLEDGER_LOG_FORMAT"):
        log_format({"KEYLEDGER_LOG_FORMAT": "xml"})


def test_a_json_line_is_one_object_with_the_common_keys() -> None:
    record = logging.LogRecord(
        "keyledger.x", logging.WARNING, __file__, 1, "two\nlines %s", ("é",), None
    )
    line = formatter("json").format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "two\nlines é"
    assert (parsed["level"], parsed["logger"]) == ("WARNING", "keyledger.x")
    assert parsed["time"].endswith("Z")


def test_an_exception_stays_inside_the_json_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "gunicorn.error", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = formatter("json").format(record)
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exc_info"]
