"""Scale-out on PostgreSQL: two gunicorn instances (two workers each) on one
schema are one service with one truth.

Each test starts its own pair at the same moment on an empty schema, so every
test also exercises the concurrent start-up (schema creation serialised by
the advisory lock, exactly one bootstrap admin). Management calls go to one
instance and auth calls to the other; the read model is written in the
events' transaction, so no answer may ever be stale.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.conftest import ADMIN_TOKEN, POSTGRES_URL, SECRET_KEY
from tests.support.gunicorn import GunicornServer, Response, basic, bearer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
T = TypeVar("T")

ADMIN = bearer(ADMIN_TOKEN)
KEPT_NET, REMOVED_NET = "203.0.113.0/24", "198.51.100.0/24"
KEPT_IP, REMOVED_IP = "203.0.113.9", "198.51.100.7"
REVOCATION_ROUNDS = 200
WRITERS = 8
IF_MATCH_ROUNDS = 10
CHANGES_PER_WRITER = 15
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
    schema = parse_qs(urlsplit(postgres_url).query)["schema"][0]
    application_name = f"keyledger-{schema}"
    env = {
        "KEYLEDGER_DATABASE_URL": f"{postgres_url}&application_name={application_name}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        # Other suites share this server: stay well inside max_connections.
        "KEYLEDGER_POSTGRES_POOL_SIZE": "2",
        "KEYLEDGER_POSTGRES_MAX_OVERFLOW": "3",
    }
    servers = [
        GunicornServer(env, workers=2, log_path=tmp_path / f"gunicorn-{name}.log")
        for name in "ab"
    ]
    together = threading.Barrier(len(servers))
    failures: list[BaseException] = []

    def start(server: GunicornServer) -> None:
        together.wait()
        try:
            server.start()
        except BaseException as error:  # reported below, after both tried
            failures.append(error)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not failures, f"an instance failed to start: {failures}"
        yield Cluster(servers[0], servers[1], schema, application_name)
    finally:
        for server in servers:
            server.stop()


def sql(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return list(conn.execute(statement, params).fetchall())


# Small HTTP vocabulary for the scenarios.


def create_key(server: GunicornServer, **body: Any) -> dict[str, Any]:
    body.setdefault("permissions", ["send", "verify"])
    response = server.request("POST", "/v1/keys", body, ADMIN)
    assert response.status == 201, response.body
    return dict(response.json())


def act(server: GunicornServer, key_id: str, action: str) -> Response:
    return server.request("POST", f"/v1/keys/{key_id}/{action}", None, ADMIN)


def patch(
    server: GunicornServer,
    key_id: str,
    body: dict[str, Any],
    version: int | None = None,
) -> Response:
    headers = dict(ADMIN)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return server.request("PATCH", f"/v1/keys/{key_id}", body, headers)


def auth(
    server: GunicornServer, dev_key: str, dev_secret: str, client_ip: str = KEPT_IP
) -> Response:
    return server.request(
        "POST",
        "/v1/auth",
        {"api": "send", "client_ip": client_ip},
        basic(dev_key, dev_secret),
    )


def verdict(response: Response) -> tuple[int, str | None]:
    """An auth answer as (status, reason); reason is None when allowed."""
    body = response.json() or {}
    return response.status, body.get("reason")


def run_together(workers: list[Callable[[], T]]) -> list[T]:
    """Starts every worker at the same moment; their results, in any order."""
    together = threading.Barrier(len(workers))
    results: list[T] = []
    errors: list[BaseException] = []

    def run(work: Callable[[], T]) -> None:
        together.wait()
        try:
            results.append(work())
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


# Start-up.


def test_two_instances_starting_together_create_exactly_one_admin(
    cluster: Cluster,
) -> None:
    operators = sql(f'SELECT name, role FROM "{cluster.schema}".keyledger_operators')
    listings = [s.request("GET", "/v1/keys", None, ADMIN) for s in cluster.servers]
    assert operators == [("admin", "admin")]
    assert [r.status for r in listings] == [200, 200]


# (a) Revocation: a change acknowledged by A is obeyed by B's very next answer.


def test_changes_acknowledged_by_one_instance_are_obeyed_by_the_other(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    key = create_key(a, ip_whitelist=[KEPT_NET, REMOVED_NET])
    key_id, dev_key, secret = key["id"], key["dev_key"], key["dev_secret"]
    stale: list[tuple[int, str, Any, Any]] = []

    def expect(round_: int, step: str, want: Any, got: Any) -> None:
        if want != got:
            stale.append((round_, step, want, got))

    for n in range(REVOCATION_ROUNDS):
        widened = patch(a, key_id, {"ip_whitelist": [KEPT_NET, REMOVED_NET]}).status
        expect(n, "widen", 200, widened)
        expect(
            n,
            "auth widened",
            (200, None),
            verdict(auth(b, dev_key, secret, REMOVED_IP)),
        )
        expect(n, "disable", 200, act(a, key_id, "disable").status)
        expect(
            n, "auth disabled", (403, "key_disabled"), verdict(auth(b, dev_key, secret))
        )
        expect(n, "enable", 200, act(a, key_id, "enable").status)
        expect(n, "auth enabled", (200, None), verdict(auth(b, dev_key, secret)))
        reset = act(a, key_id, "reset-secret")
        expect(n, "reset", 200, reset.status)
        old, secret = secret, reset.json()["dev_secret"]
        expect(
            n,
            "auth old secret",
            (401, "invalid_credentials"),
            verdict(auth(b, dev_key, old)),
        )
        expect(n, "auth new secret", (200, None), verdict(auth(b, dev_key, secret)))
        expect(n, "narrow", 200, patch(a, key_id, {"ip_whitelist": [KEPT_NET]}).status)
        expect(
            n,
            "auth removed ip",
            (403, "ip_not_allowed"),
            verdict(auth(b, dev_key, secret, REMOVED_IP)),
        )

    assert stale == []


# (b) Concurrency: eight writers on one key through both instances.


def test_if_match_races_let_exactly_one_writer_win_each_round(cluster: Cluster) -> None:
    key_id = create_key(cluster.a)["id"]
    outcomes: list[list[int]] = []
    for round_ in range(IF_MATCH_ROUNDS):
        seen = cluster.b.request("GET", f"/v1/keys/{key_id}", None, ADMIN).json()
        writes = [
            functools.partial(
                patch,
                cluster.servers[writer % 2],
                key_id,
                {"description": f"round {round_} writer {writer}"},
                seen["version"],
            )
            for writer in range(WRITERS)
        ]
        outcomes.append(sorted(r.status for r in run_together(writes)))

    final = cluster.a.request("GET", f"/v1/keys/{key_id}", None, ADMIN).json()
    assert outcomes == [[200] + [412] * (WRITERS - 1)] * IF_MATCH_ROUNDS
    assert final["version"] == 1 + IF_MATCH_ROUNDS


def test_writers_without_if_match_lose_no_update(cluster: Cluster) -> None:
    key_id = create_key(cluster.a)["id"]
    acknowledged: dict[str, int] = {}
    failed: list[tuple[str, int]] = []

    def write(writer: int) -> None:
        server = cluster.servers[writer % 2]
        for n in range(CHANGES_PER_WRITER):
            description = f"writer {writer} change {n}"
            response = patch(server, key_id, {"description": description})
            if response.status == 200:
                acknowledged[description] = response.json()["version"]
            else:
                failed.append((description, response.status))

    run_together([functools.partial(write, w) for w in range(WRITERS)])

    history = cluster.b.request("GET", f"/v1/keys/{key_id}/history", None, ADMIN)
    recorded = {
        item["changes"]["description"]["to"]: item["version"]
        for item in history.json()["items"]
        if item["type"] == "description_changed"
    }
    versions = [
        row[0]
        for row in sql(
            f'SELECT originator_version FROM "{cluster.schema}".stored_events '
            "WHERE originator_id = %s ORDER BY originator_version",
            (key_id,),
        )
    ]
    final = cluster.a.request("GET", f"/v1/keys/{key_id}", None, ADMIN).json()
    total = 1 + WRITERS * CHANGES_PER_WRITER
    assert failed == []
    assert recorded == acknowledged
    assert versions == list(range(1, total + 1))
    assert final["version"] == total


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
                lambda s: s.request("GET", key_path, None, ADMIN),
                lambda r: r.status == 200 and r.json()["status"] == "enabled",
            ),
            (
                "list",
                lambda s: s.request("GET", "/v1/keys?limit=5", None, ADMIN),
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
    rows = sql(
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
    assert during.wrong == [], during.wrong
    assert after.wrong == [], after.wrong
    assert recovered, f"not recovered after {recovery:.1f}s: {after}"
    print(
        f"\nfault: killed {killed} connections; {during.answers} answers during "
        f"the outage, {during.unavailable} of them 503; recovered in {recovery:.2f}s"
    )
