"""How gunicorn serves keyledger: the worker class, threads and keep-alive
that gunicorn.conf.py reads from the environment (service/serving.py)."""

from __future__ import annotations

import pytest

from service.serving import (
    Serving,
    ServingSettingError,
    check_fits_store,
    serving_settings,
)


def test_the_default_is_gthread_4_threads_keepalive_5_seconds() -> None:
    assert serving_settings({}) == Serving("gthread", 4, 5)


def test_each_setting_comes_from_its_variable() -> None:
    chosen = serving_settings(
        {
            "KEYLEDGER_WORKER_CLASS": "gthread",
            "KEYLEDGER_THREADS": "8",
            "KEYLEDGER_KEEPALIVE": "0",
        }
    )
    assert chosen == Serving("gthread", 8, 0)


@pytest.mark.parametrize("worker_class", ["sync", "gevent"])
def test_only_gthread_takes_threads(worker_class: str) -> None:
    # gunicorn would turn sync with threads > 1 into gthread without a word.
    chosen = serving_settings({"KEYLEDGER_WORKER_CLASS": worker_class})
    assert chosen == Serving(worker_class, 1, 5)
    one = {"KEYLEDGER_WORKER_CLASS": worker_class, "KEYLEDGER_THREADS": "1"}
    assert serving_settings(one).threads == 1
    with pytest.raises(ServingSettingError, match="KEYLEDGER_THREADS must be 1"):
        serving_settings({**one, "KEYLEDGER_THREADS": "4"})


def test_an_empty_variable_means_the_default() -> None:
    assert serving_settings({"KEYLEDGER_THREADS": ""}).threads == 4


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KEYLEDGER_WORKER_CLASS", "eventlet"),
        ("KEYLEDGER_WORKER_CLASS", "GTHREAD"),
        ("KEYLEDGER_THREADS", "0"),
        ("KEYLEDGER_THREADS", "65"),
        ("KEYLEDGER_THREADS", "four"),
        ("KEYLEDGER_KEEPALIVE", "-1"),
        ("KEYLEDGER_KEEPALIVE", "301"),
        ("KEYLEDGER_KEEPALIVE", "5s"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ServingSettingError, match=variable):
        serving_settings({variable: value})


def test_gevent_is_refused_on_postgresql_only() -> None:
    gevent = Serving("gevent", 1, 5)
    check_fits_store(gevent, "sqlite:///keyledger.db")
    check_fits_store(Serving(), "postgresql://postgres@127.0.0.1/test")
    with pytest.raises(ServingSettingError, match="KEYLEDGER_WORKER_CLASS=gevent"):
        check_fits_store(gevent, "postgresql://postgres@127.0.0.1/test")
