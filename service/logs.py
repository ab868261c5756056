"""How keyledger and gunicorn write their log lines: ``text`` or ``json``.

``KEYLEDGER_LOG_FORMAT=json`` makes every line on stderr one JSON object
(keyledger's own loggers, gunicorn's, and anything else that logs through
the root logger), so a log shipper needs no parsing rules. ``text`` (the
default) is one human-readable line per record. Neither ever carries a
DevSecret or an operator token: the code that logs never passes one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter

from service.access import ACCESS_FIELDS
from service.config import ConfigurationError

FORMAT_VARIABLE = "KEYLEDGER_LOG_FORMAT"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s %(message)s"


class LogFormatError(ConfigurationError):
    """KEYLEDGER_LOG_FORMAT names no known format."""


def log_format(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    value = (environ.get(FORMAT_VARIABLE) or "text").strip().lower()
    if value not in FORMATS:
        msg = f"{FORMAT_VARIABLE} must be text or json, not {value!r}"
        raise LogFormatError(msg)
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


class KeyledgerJsonFormatter(JsonFormatter):
    """python-json-logger for every record, except access lines.

    An access line is written for every ``/v1/auth`` call, the product's hot
    path, where the general formatter's introspection of the record cost
    more than the decision itself; access records carry their fields ready
    (``extra={"access": {...}}``), so they are encoded directly, with the
    same leading keys as every other line.
    """

    def formatTime(  # noqa: N802 - logging's name
        self, record: logging.LogRecord, datefmt: str | None = None
    ) -> str:
        """RFC 3339 in UTC with milliseconds, like every time keyledger shows."""
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, ACCESS_FIELDS, None)
        if fields is None:
            return super().format(record)
        line = {
            "time": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": f"{fields['method']} {fields['path']} {fields['status']}",
            **fields,
        }
        return _ENCODER.encode(line)


def formatter(form: str) -> logging.Formatter:
    if form == "json":
        return KeyledgerJsonFormatter(
            ["asctime", "levelname", "name", "process", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    return logging.Formatter(TEXT_FORMAT)


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record, so a
    replaced stream (test capture, daemonising) is never written after close."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(form: str, level: str) -> None:
    """keyledger's loggers write to stderr in ``form``; in ``json`` the root
    logger does too, so a library's warning is a JSON line like the rest."""
    logger = logging.getLogger("keyledger")
    if not any(isinstance(h, CurrentStderr) for h in logger.handlers):
        logger.addHandler(CurrentStderr())
        logger.propagate = False
    for handler in logger.handlers:
        handler.setFormatter(formatter(form))
    logger.setLevel(level.upper())
    if form == "json":
        root = logging.getLogger()
        if not any(isinstance(h, CurrentStderr) for h in root.handlers):
            root.addHandler(CurrentStderr())
        for handler in root.handlers:
            handler.setFormatter(formatter(form))
        logging.captureWarnings(True)


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines in keyledger's format.

    gunicorn writes no access line unless told to (``--access-logfile``):
    keyledger writes exactly one per request itself (``service.access``),
    with the request id, the operator or DevKey and the auth outcome that
    gunicorn cannot know.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        form = log_format()
        chosen = formatter(form)
        for handler in self.error_log.handlers:
            handler.setFormatter(chosen)
        if form == "json":  # else an access line keeps gunicorn's own format
            for handler in self.access_log.handlers:
                handler.setFormatter(chosen)
