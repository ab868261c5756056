"""Settings: defaults, then the environment, then explicit overrides.

The names are the operators' contract (api.md, "Running it").
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from service.sealing import MASTER_KEY_BYTES, new_master_key

DEFAULT_DATABASE_URL = "sqlite:///data/keyledger.db"
SECRET_KEY_FILE_NAME = "keyledger.key"  # noqa: S105 - a file name
APPLICATION_NAME_SETTING = "POSTGRES_APPLICATION_NAME"


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Store:
    """Where events and read models live, as eventsourcing settings."""

    kind: str  # "sqlite" or "postgres"
    eventsourcing_env: dict[str, str]
    sqlite_path: Path | None = None


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    bootstrap_token: str | None = None
    secret_key: str | None = None
    secret_key_file: str | None = None
    audit_signing_key_file: str | None = None
    log_level: str = "INFO"
    trusted_proxy_hops: int = 0
    # A worker runs at most KEYLEDGER_THREADS (4) requests at once: 2 + 2
    # covers them, and keeps workers x instances x (pool + overflow +
    # threads, one auth-path connection each) under max_connections.
    postgres_pool_size: int = 2
    postgres_max_overflow: int = 2
    aggregate_cache_size: int = 10_000
    # Auth decisions are counted in memory and written this often (seconds).
    usage_flush_seconds: int = 5
    # "off" only to measure what counting costs (bench/): no usage, no last use.
    usage_counting: str = "on"
    audit_checkpoint_every: int = 1000
    # Console sign-in sessions end after this long without a request, and
    # this long after sign-in whatever happens (seconds).
    console_idle_timeout: int = 30 * 60
    console_absolute_timeout: int = 12 * 60 * 60
    extra: dict[str, str] = field(default_factory=dict)


_ENVIRONMENT = {
    "database_url": "KEYLEDGER_DATABASE_URL",
    "bootstrap_token": "KEYLEDGER_BOOTSTRAP_TOKEN",
    "secret_key": "KEYLEDGER_SECRET_KEY",
    "secret_key_file": "KEYLEDGER_SECRET_KEY_FILE",
    "audit_signing_key_file": "KEYLEDGER_AUDIT_SIGNING_KEY_FILE",
    "log_level": "KEYLEDGER_LOG_LEVEL",
    "trusted_proxy_hops": "KEYLEDGER_TRUSTED_PROXY_HOPS",
    "postgres_pool_size": "KEYLEDGER_POSTGRES_POOL_SIZE",
    "postgres_max_overflow": "KEYLEDGER_POSTGRES_MAX_OVERFLOW",
    "aggregate_cache_size": "KEYLEDGER_AGGREGATE_CACHE_SIZE",
    "usage_flush_seconds": "KEYLEDGER_USAGE_FLUSH_SECONDS",
    "usage_counting": "KEYLEDGER_USAGE_COUNTING",
    "audit_checkpoint_every": "KEYLEDGER_AUDIT_CHECKPOINT_EVERY",
    "console_idle_timeout": "KEYLEDGER_CONSOLE_IDLE_TIMEOUT",
    "console_absolute_timeout": "KEYLEDGER_CONSOLE_ABSOLUTE_TIMEOUT",
}
_INTEGERS = {
    "trusted_proxy_hops",
    "postgres_pool_size",
    "postgres_max_overflow",
    "aggregate_cache_size",
    "usage_flush_seconds",
    "audit_checkpoint_every",
    "console_idle_timeout",
    "console_absolute_timeout",
}


def load_settings(
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, variable in _ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is not None and raw != "":
            values[name] = _integer(variable, raw) if name in _INTEGERS else raw
    for name, value in (overrides or {}).items():
        if name not in _ENVIRONMENT:
            raise ConfigurationError(f"unknown setting {name!r}")
        values[name] = value
    settings = Settings(**values)  # type: ignore[arg-type]
    _check_usage_settings(settings)
    return settings


def _check_usage_settings(settings: Settings) -> None:
    if not 1 <= settings.usage_flush_seconds <= 10:
        raise ConfigurationError(
            "KEYLEDGER_USAGE_FLUSH_SECONDS must be between 1 and 10"
        )
    if settings.usage_counting not in ("on", "off"):
        raise ConfigurationError("KEYLEDGER_USAGE_COUNTING must be 'on' or 'off'")


def _integer(variable: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{variable} must be a whole number") from None
    if value < 0:
        raise ConfigurationError(f"{variable} must not be negative")
    return value


def parse_store(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.name:
            raise ConfigurationError("KEYLEDGER_DATABASE_URL names no SQLite file")
        return Store(
            kind="sqlite",
            sqlite_path=path,
            eventsourcing_env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
            },
        )
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_store(settings, url)
    raise ConfigurationError(
        "KEYLEDGER_DATABASE_URL must start with sqlite:/// or postgresql://"
    )


def _postgres_store(settings: Settings, url: str) -> Store:
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not dbname:
        raise ConfigurationError(
            "KEYLEDGER_DATABASE_URL must look like postgresql://user:pass@host:port/db"
        )
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigurationError("KEYLEDGER_DATABASE_URL has an invalid port") from None
    query = parse_qs(parts.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.postgres_max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["5"])[0],
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "10",
        # keyledger's own (eventsourcing ignores it): every connection names
        # itself, so operators can find and count them in pg_stat_activity.
        APPLICATION_NAME_SETTING: query.get("application_name", ["keyledger"])[0],
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return Store(kind="postgres", eventsourcing_env=env)


def load_master_key(settings: Settings, store: Store) -> bytes:
    """The key that seals DevSecrets, from the setting, its file, or a new file."""
    if settings.secret_key:
        return _decode_key("KEYLEDGER_SECRET_KEY", settings.secret_key)
    if settings.secret_key_file:
        return _read_key_file(Path(settings.secret_key_file))
    if store.sqlite_path is None:
        raise ConfigurationError(
            "KEYLEDGER_SECRET_KEY or KEYLEDGER_SECRET_KEY_FILE is required with "
            "PostgreSQL: every instance must seal DevSecrets with the same key"
        )
    path = store.sqlite_path.parent / SECRET_KEY_FILE_NAME
    _create_key_file(path)
    return _read_key_file(path)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def _decode_key(source: str, text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigurationError(
            f"{source} must be {MASTER_KEY_BYTES} bytes in URL-safe base64 "
            "(generate one with: keyledger generate-secret-key)"
        )
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(
            f"KEYLEDGER_SECRET_KEY_FILE {str(path)!r} cannot be read: {error.strerror}"
        ) from None
    return _decode_key(f"the key file {str(path)!r}", text)


def _create_key_file(path: Path) -> None:
    """Creates the key file once, readable by its owner only.

    Written aside and linked into place, so a racing worker either finds no
    file or a complete one; the first link wins and the others read its key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(encode_key(new_master_key()) + "\n")
    try:
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()
