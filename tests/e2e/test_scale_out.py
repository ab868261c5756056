"""Scale-out on PostgreSQL: two gunicorn instances (two workers each) on one
schema are one service with one truth.

Each test starts its own pair at the same moment on an empty schema, so every
test also exercises the concurrent start-up (schema creation serialised by
the advisory lock, exactly one bootstrap admin). Revocation, If-Match and
lost-update scenarios across the pair are in test_served_consistency.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.gunicorn import (
    GunicornServer,
    Response,
    service_env,
    start_together,
)
from tests.support.http import ServedApi, verdict
from tests.support.sql import postgres_admin, schema_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OUTAGE_SECONDS = 2.0
KILL_EVERY_SECONDS = 0.05
RECOVERY_BOUND_SECONDS = 20.0


@dataclass
class Cluster:
    a: GunicornServer
    b: GunicornServer
    schema: str
    application_name: str

    @property
    def servers(self) -> tuple[GunicornServer, GunicornServer]:
        return self.a, self.b


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Instances A and B, started at the same moment on the empty schema.

    A unique application_name marks every connection keyledger opens, so the
    fault test can kill this pair's connections and nobody else's."""
    schema = schema_of(postgres_url)
    application_name = f"keyledger-{schema}"
    env = service_env(f"{postgres_url}&application_name={application_name}")
    servers = [
        GunicornServer(env, workers=2, log_path=tmp_path / f"gunicorn-{name}.log")
        for name in "ab"
    ]
    start_together(servers)
    try:
        yield Cluster(servers[0], servers[1], schema, application_name)
    finally:
        for server in servers:
            server.stop()


def create_key(server: GunicornServer, **body: Any) -> dict[str, Any]:
    return ServedApi(server).create_key(**body)


def act(server: GunicornServer, key_id: str, action: str) -> Response:
    return ServedApi(server).action(key_id, action)


def patch(server: GunicornServer, key_id: str, body: dict[str, Any]) -> Response:
    return ServedApi(server).patch(key_id, body)


def auth(server: GunicornServer, dev_key: str, dev_secret: str) -> Response:
    return ServedApi(server).auth(dev_key, dev_secret)


# Start-up.


def test_two_instances_starting_together_create_exactly_one_admin(
    cluster: Cluster,
) -> None:
    operators = postgres_admin(
        f'SELECT name, role FROM "{cluster.schema}".keyledger_operators'
    )
    listings = [ServedApi(s).get("/v1/keys") for s in cluster.servers]
    assert operators == [("admin", "admin")]
    assert [r.status for r in listings] == [200, 200]


# (c) Fault: keyledger's connections are killed again and again for a while.


@dataclass
class FaultLedger:
    """What the traffic saw while the store's connections were being killed."""

    answers: int = 0
    unavailable: int = 0
    wrong: list[str] = field(default_factory=list)


Check = tuple[str, Callable[[GunicornServer], Response], Callable[[Response], bool]]


def answers(status: int, reason: str | None) -> Callable[[Response], bool]:
    return lambda response: verdict(response) == (status, reason)


def honest_unavailable(response: Response) -> bool:
    """A 503 that says so in JSON, as the contract's errors do."""
    content_type = response.headers.get("Content-Type", "")
    body = response.json() if content_type.startswith("application/json") else None
    return isinstance(body, dict) and bool(body.get("message"))


@dataclass
class FaultScenario:
    cluster: Cluster
    live: dict[str, Any]
    off: dict[str, Any]
    toggled: dict[str, Any]
    # The toggled key's state as last acknowledged; None while a toggle's
    # outcome is unknown (it answered 503).
    toggled_enabled: bool | None = True
    turn: int = 0

    def checks(self) -> list[Check]:
        """(name, call, whether an answer other than 503 is correct)."""
        live, off, toggled = self.live, self.off, self.toggled
        key_path = f"/v1/keys/{live['id']}"
        return [
            (
                "auth live",
                lambda s: auth(s, live["dev_key"], live["dev_secret"]),
                answers(200, None),
            ),
            (
                "auth disabled",
                lambda s: auth(s, off["dev_key"], off["dev_secret"]),
                answers(403, "key_disabled"),
            ),
            (
                "auth wrong secret",
                lambda s: auth(s, live["dev_key"], off["dev_secret"]),
                answers(401, "invalid_credentials"),
            ),
            ("toggle", self._toggle, lambda r: r.status == 200),
            (
                "auth toggled",
                lambda s: auth(s, toggled["dev_key"], toggled["dev_secret"]),
                self._obeys_toggle,
            ),
            (
                "describe live",
                lambda s: patch(s, live["id"], {"description": f"turn {self.turn}"}),
                lambda r: (
                    r.status == 200 and r.json()["description"] == f"turn {self.turn}"
                ),
            ),
            (
                "get live",
                lambda s: ServedApi(s).get(key_path),
                lambda r: r.status == 200 and r.json()["status"] == "enabled",
            ),
            (
                "list",
                lambda s: ServedApi(s).get("/v1/keys?limit=5"),
                lambda r: r.status == 200 and len(r.json()["items"]) == 3,
            ),
        ]

    def _toggle(self, server: GunicornServer) -> Response:
        action = "disable" if self.toggled_enabled in (True, None) else "enable"
        response = act(server, self.toggled["id"], action)
        if response.status == 200:
            self.toggled_enabled = response.json()["status"] == "enabled"
        elif response.status == 503:
            self.toggled_enabled = None
        return response

    def _obeys_toggle(self, response: Response) -> bool:
        enabled, disabled = (200, None), (403, "key_disabled")
        if self.toggled_enabled is None:
            return verdict(response) in (enabled, disabled)
        return verdict(response) == (enabled if self.toggled_enabled else disabled)

    def sweep(self, ledger: FaultLedger) -> bool:
        """One pass of every check on both instances; True if every answer
        was correct (so no 503 either)."""
        clean = True
        self.turn += 1
        for server in self.cluster.servers:
            for name, call, correct in self.checks():
                try:
                    response = call(server)
                except OSError as error:
                    ledger.wrong.append(f"{name}: no answer ({type(error).__name__})")
                    clean = False
                    continue
                ledger.answers += 1
                if response.status == 503:
                    ledger.unavailable += 1
                    clean = False
                    if honest_unavailable(response):
                        continue
                if not correct(response):
                    ledger.wrong.append(f"{name}: {response.status} {response.body!r}")
                    clean = False
        return clean


def kill_connections(application_name: str) -> int:
    rows = postgres_admin(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
        "FROM pg_stat_activity WHERE application_name = %s "
        "AND datname = current_database() AND pid <> pg_backend_pid()",
        (application_name,),
    )
    return int(rows[0][0])


def test_killed_connections_give_correct_answers_or_503_and_recover(
    cluster: Cluster,
) -> None:
    a = cluster.a
    scenario = FaultScenario(
        cluster,
        live=create_key(a),
        off=create_key(a),
        toggled=create_key(a),
    )
    assert act(a, scenario.off["id"], "disable").status == 200
    before, during, after = FaultLedger(), FaultLedger(), FaultLedger()
    assert scenario.sweep(before), before.wrong

    outage_over = threading.Event()

    def traffic() -> None:
        while not outage_over.is_set():
            scenario.sweep(during)

    sender = threading.Thread(target=traffic)
    sender.start()
    killed = 0
    ends = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < ends:
        killed += kill_connections(cluster.application_name)
        outage_over.wait(KILL_EVERY_SECONDS)  # pacing the fault, not a wait for state
    outage_over.set()
    sender.join()

    started = time.monotonic()
    recovered = False
    while not recovered and time.monotonic() - started < RECOVERY_BOUND_SECONDS:
        recovered = scenario.sweep(after)
    recovery = time.monotonic() - started

    assert killed > 0
    assert during.answers > 0  # traffic really ran during the outage
    assert during.wrong == [], during.wrong
    assert after.wrong == [], after.wrong
    assert recovered, f"not recovered after {recovery:.1f}s: {after}"
    print(
        f"\nfault: killed {killed} connections; {during.answers} answers during "
        f"the outage, {during.unavailable} of them 503; recovered in {recovery:.2f}s"
    )
