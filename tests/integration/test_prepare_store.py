"""Preparing a store happens once (gunicorn's master, ``keyledger init``);
everything else only opens it."""

from __future__ import annotations

import pytest

from service import cli
from service.config import load_settings
from service.wiring import build_services
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY


def _use_store(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("KEYLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("KEYLEDGER_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("KEYLEDGER_BOOTSTRAP_TOKEN", raising=False)


def test_init_prepares_an_empty_store_and_shows_the_first_token_once(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
) -> None:
    _use_store(monkeypatch, database_url)

    assert cli.main(["init"]) == 0
    first = capsys.readouterr()
    assert cli.main(["init"]) == 0
    second = capsys.readouterr()

    token = next(
        line.split("token:", 1)[1].strip()
        for line in first.err.splitlines()
        if "token:" in line
    )
    assert "token:" not in second.err
    services = build_services(load_settings())
    try:
        admin = services.operators.authenticate(token)
        assert admin is not None
        assert admin.name == "admin"
        assert services.ledger.ledger_recorder.view_lag() == 0
    finally:
        services.close()


def test_opening_a_store_creates_nothing_and_no_admin(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    _use_store(monkeypatch, database_url)
    monkeypatch.setenv("KEYLEDGER_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
    opened = build_services(load_settings())
    try:
        with pytest.raises(Exception, match=r"(?i)no such table|does not exist"):
            opened.operators.authenticate(ADMIN_TOKEN)
    finally:
        opened.close()

    assert cli.main(["init"]) == 0
    prepared = build_services(load_settings())
    try:
        assert prepared.operators.authenticate(ADMIN_TOKEN) is not None
    finally:
        prepared.close()
