"""Settings: defaults, then the environment, then explicit overrides; a bad
value is refused with a message naming the setting (api.md, "Running it").
Pure parsing: the environment is passed in, nothing is read from disk."""

from __future__ import annotations

import pytest

from service.config import (
    DEFAULT_DATABASE_URL,
    ConfigurationError,
    Settings,
    load_settings,
    parse_store,
)

# Every setting with its variable and a value unlike its default.
ENVIRONMENT = [
    ("database_url", "KEYLEDGER_DATABASE_URL", "sqlite:///elsewhere/k.db"),
    ("bootstrap_token", "KEYLEDGER_BOOTSTRAP_TOKEN", "klo_from-the-environment"),
    ("secret_key", "KEYLEDGER_SECRET_KEY", "a-key-from-the-environment"),
    ("secret_key_file", "KEYLEDGER_SECRET_KEY_FILE", "/run/secrets/keyledger"),
    ("log_level", "KEYLEDGER_LOG_LEVEL", "DEBUG"),
    ("trusted_proxy_hops", "KEYLEDGER_TRUSTED_PROXY_HOPS", "2"),
    ("postgres_pool_size", "KEYLEDGER_POSTGRES_POOL_SIZE", "7"),
    ("postgres_max_overflow", "KEYLEDGER_POSTGRES_MAX_OVERFLOW", "9"),
    ("aggregate_cache_size", "KEYLEDGER_AGGREGATE_CACHE_SIZE", "123"),
]
INTEGERS = {
    "trusted_proxy_hops",
    "postgres_pool_size",
    "postgres_max_overflow",
    "aggregate_cache_size",
}
INTEGER_VARIABLES = sorted(v for n, v, _ in ENVIRONMENT if n in INTEGERS)


def typed(name: str, raw: str) -> object:
    return int(raw) if name in INTEGERS else raw


def test_defaults_apply_with_an_empty_environment() -> None:
    settings = load_settings({}, environ={})

    assert (
        settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///data/keyledger.db"
    )
    assert settings.bootstrap_token is None
    assert settings.secret_key is None
    assert settings.secret_key_file is None
    assert settings.log_level == "INFO"
    assert settings.trusted_proxy_hops == 0
    assert (settings.postgres_pool_size, settings.postgres_max_overflow) == (2, 2)
    assert settings.aggregate_cache_size == 10_000


def test_load_settings_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYLEDGER_LOG_LEVEL", "ERROR")
    assert load_settings().log_level == "ERROR"


@pytest.mark.parametrize(("name", "variable", "raw"), ENVIRONMENT)
def test_the_environment_overrides_the_default(
    name: str, variable: str, raw: str
) -> None:
    default = getattr(Settings(), name)
    settings = load_settings({}, environ={variable: raw})

    assert getattr(settings, name) == typed(name, raw)
    assert getattr(settings, name) != default


@pytest.mark.parametrize(("name", "variable", "raw"), ENVIRONMENT)
def test_an_override_beats_the_environment(name: str, variable: str, raw: str) -> None:
    override = typed(name, "3") if name in INTEGERS else f"override-{raw}"
    settings = load_settings({name: override}, environ={variable: raw})

    assert getattr(settings, name) == override


@pytest.mark.parametrize(("name", "variable", "raw"), ENVIRONMENT)
def test_an_empty_variable_counts_as_unset(name: str, variable: str, raw: str) -> None:
    assert getattr(load_settings({}, environ={variable: ""}), name) == getattr(
        Settings(), name
    )


def test_variables_outside_the_contract_are_ignored() -> None:
    settings = load_settings({}, environ={"KEYLEDGER_DATABASE": "sqlite:///typo.db"})
    assert settings.database_url == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    "variable", sorted({v for n, v, _ in ENVIRONMENT if n in INTEGERS})
)
@pytest.mark.parametrize(
    ("raw", "problem"),
    [("many", "must be a whole number"), ("1.5", "must be a whole number")],
)
def test_a_malformed_number_is_refused_naming_its_variable(
    variable: str, raw: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings({}, environ={variable: raw})
    assert str(refused.value) == f"{variable} {problem}"


def test_a_negative_number_is_refused_naming_its_variable() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings({}, environ={"KEYLEDGER_TRUSTED_PROXY_HOPS": "-1"})
    assert str(refused.value) == "KEYLEDGER_TRUSTED_PROXY_HOPS must not be negative"


def test_an_unknown_override_is_refused_naming_it() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings({"databse_url": "sqlite:///x.db"}, environ={})
    assert "'databse_url'" in str(refused.value)


# The store named by KEYLEDGER_DATABASE_URL.


def test_a_sqlite_url_names_the_file() -> None:
    store = parse_store(load_settings({"database_url": "sqlite:///d/k.db"}, environ={}))
    assert store.kind == "sqlite"
    assert str(store.sqlite_path) == "d/k.db"
    assert store.eventsourcing_env["SQLITE_DBNAME"] == "d/k.db"


def test_an_absolute_sqlite_path_keeps_its_leading_slash() -> None:
    store = parse_store(
        load_settings({"database_url": "sqlite:////var/lib/k.db"}, environ={})
    )
    assert str(store.sqlite_path) == "/var/lib/k.db"


def test_a_postgres_url_is_taken_apart_with_the_pool_settings() -> None:
    settings = load_settings(
        {
            "database_url": "postgresql://kl:p%40ss@db.internal:6543/keys?schema=eu",
            "postgres_pool_size": 4,
            "postgres_max_overflow": 1,
        },
        environ={},
    )
    env = parse_store(settings).eventsourcing_env

    assert parse_store(settings).kind == "postgres"
    assert parse_store(settings).sqlite_path is None
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.internal", "6543")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("kl", "p@ss")
    assert (env["POSTGRES_DBNAME"], env["POSTGRES_SCHEMA"]) == ("keys", "eu")
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == ("4", "1")


def test_a_postgres_url_defaults_port_and_user() -> None:
    settings = load_settings({"database_url": "postgres://db/keys"}, environ={})
    env = parse_store(settings).eventsourcing_env
    assert (env["POSTGRES_PORT"], env["POSTGRES_USER"]) == ("5432", "postgres")
    assert "POSTGRES_SCHEMA" not in env


@pytest.mark.parametrize(
    "url",
    [
        "mysql://db/keys",
        "sqlite://relative.db",
        "sqlite:///",
        "postgresql://db.internal",
        "postgresql:///keys",
        "postgresql://db.internal:port/keys",
        "",
    ],
)
def test_a_bad_database_url_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_store(Settings(database_url=url))
    assert "KEYLEDGER_DATABASE_URL" in str(refused.value)
