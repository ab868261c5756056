"""SQLite beside PostgreSQL, in one run: create-key and auth throughput of
keyledger served by the project's own gunicorn.conf.py (4 sync workers) on
127.0.0.1, driven by wrk (see bench/README.md, "PostgreSQL beside SQLite").

    .venv/bin/python bench/store_bench.py              # 10,000 keys, 3 x 10 s each
    .venv/bin/python bench/store_bench.py --keys 1000 --duration 3 --runs 1

PostgreSQL: a throw-away schema on --postgres-url (dropped afterwards).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fill_store import BOOTSTRAP_TOKEN, CLIENT_IP, SECRET_KEY, fill_store, open_store
from served_app import stop, wrk

from service.audit_signing import SETTING as SIGNING_KEY_SETTING
from service.audit_signing import rotate_signing_key
from tests.support.gunicorn import GunicornServer  # served_app put it on the path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORKERS = 4
WRK_THREADS = 2
AUTH_CONNECTIONS = 32
CREATE_CONNECTIONS = 8
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# wrk script for POST /v1/keys: the same small key, every time.
CREATE_LUA = """\
wrk.method = "POST"
wrk.body = '{"description": "bench", "permissions": ["send", "verify"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEYLEDGER_BENCH_TOKEN")
"""


@dataclass
class Store:
    name: str
    url: str
    credentials: Path
    first_credential: str = ""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None


def basic_header(dev_key: str, dev_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()


def prefill(store: Store, keys: int, sample: int) -> float:
    """Fills the store with ``keys`` keys and writes wrk's credentials file
    (the format bench/auth.lua reads); returns keys/s of the batched fill."""
    services = open_store(store.url)
    try:
        started = time.perf_counter()
        kept = fill_store(services, keys, keep_every=max(1, keys // sample))
        elapsed = time.perf_counter() - started
    finally:
        services.close()
    headers = [basic_header(dev_key, dev_secret) for dev_key, dev_secret in kept]
    lines = ",\n".join(f'  "{header}"' for header in headers)
    store.credentials.write_text(f"return {{\n{lines}\n}}\n")
    store.first_credential = headers[0]
    return keys / elapsed


def call(port: int, method: str, path: str, body: Any, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def serve(store: Store, log: Path, timeout: float = 60.0) -> None:
    """Starts gunicorn -c gunicorn.conf.py wsgi:app, as operators run it,
    with the tests' gunicorn starter."""
    server = GunicornServer(
        {
            "KEYLEDGER_DATABASE_URL": store.url,
            "KEYLEDGER_SECRET_KEY": SECRET_KEY,
            "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
            "KEYLEDGER_LOG_LEVEL": "WARNING",
            # The figures in bench/README.md were taken with sync workers.
            "KEYLEDGER_WORKER_CLASS": "sync",
        },
        workers=WORKERS,
        log_path=log,
    )
    try:
        server.start(timeout)
    except RuntimeError as error:
        raise RuntimeError(f"{store.name}: {error}; see {log}") from None
    store.port, store.process = server.port, server.process


def check_answers(store: Store) -> None:
    """One real request of each kind first: the bench must measure successes."""
    auth = call(
        store.port,
        "POST",
        "/v1/auth",
        {"api": "send", "client_ip": CLIENT_IP},
        {"Authorization": store.first_credential},
    )
    create = call(
        store.port,
        "POST",
        "/v1/keys",
        {"permissions": ["send"]},
        {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"},
    )
    if (auth, create) != (200, 201):
        raise RuntimeError(f"{store.name}: auth {auth}, create {create}")


def run_wrk(
    store: Store, path: str, script: Path, connections: int, seconds: int
) -> dict[str, Any]:
    command = [
        "wrk",
        *("-t", str(WRK_THREADS), "-c", str(connections)),
        *("-d", f"{seconds}s", "--timeout", "5s", "--latency", "-s", str(script)),
        f"http://127.0.0.1:{store.port}{path}",
    ]
    env = {
        **os.environ,
        "KEYLEDGER_BENCH_CREDENTIALS": str(store.credentials),
        "KEYLEDGER_BENCH_TOKEN": BOOTSTRAP_TOKEN,
    }
    report = wrk(command, env, seconds)
    return {
        "per_s": report.requests_per_s,
        "requests": report.requests,
        "p50_ms": round(report.latency_ms["50"], 3),
        "p99_ms": round(report.latency_ms["99"], 3),
        "non_2xx": report.non_2xx,
        "socket_errors": report.socket_errors,
    }


def postgres_connections(url: str, application_name: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def median_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "per_s": statistics.median(r["per_s"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2000, help="keys wrk draws")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds/run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "store.json")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="keyledger-store-bench-"))
    create_lua = work / "create_key.lua"
    create_lua.write_text(CREATE_LUA)
    if not os.environ.get(SIGNING_KEY_SETTING):
        # PostgreSQL requires a checkpoint signing key file (every instance
        # signs with it); the served gunicorns inherit the setting.
        rotate_signing_key(work / "signing.pem")
        os.environ[SIGNING_KEY_SETTING] = str(work / "signing.pem")
    schema = f"kl_bench_{uuid.uuid4().hex[:10]}"
    application_name = f"keyledger-{schema}"
    stores = [
        Store("sqlite", f"sqlite:///{work / 'keyledger.db'}", work / "sqlite.lua"),
        Store(
            "postgres",
            f"{args.postgres_url}{'&' if '?' in args.postgres_url else '?'}"
            f"schema={schema}&application_name={application_name}",
            work / "postgres.lua",
        ),
    ]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        s.name: {"auth": [], "create": []} for s in stores
    }
    fill_rate: dict[str, float] = {}
    pg_connections = 0
    try:
        for store in stores:
            fill_rate[store.name] = prefill(store, args.keys, args.sample)
            serve(store, work / f"{store.name}.log")
            check_answers(store)
            run_wrk(
                store, "/v1/auth", BENCH / "auth.lua", AUTH_CONNECTIONS, args.warmup
            )
            print(f"{store.name}: {args.keys:,} keys, serving on port {store.port}")
        for round_ in range(args.runs):
            # Alternate which store goes first, so neither always runs warm.
            ordered = stores if round_ % 2 == 0 else stores[::-1]
            for kind, path, script, connections in (
                ("auth", "/v1/auth", BENCH / "auth.lua", AUTH_CONNECTIONS),
                ("create", "/v1/keys", create_lua, CREATE_CONNECTIONS),
            ):
                for store in ordered:
                    result = run_wrk(store, path, script, connections, args.duration)
                    runs[store.name][kind].append(result)
                    print(
                        f"run {round_ + 1} {kind:6} {store.name:8} "
                        f"{result['per_s']:8,.0f}/s  p50 {result['p50_ms']:7.2f} ms  "
                        f"p99 {result['p99_ms']:7.2f} ms  non-2xx {result['non_2xx']}"
                    )
        pg_connections = postgres_connections(args.postgres_url, application_name)
    finally:
        for store in stores:
            stop(store)
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    shutil.rmtree(work)  # kept when a run failed: its logs are in there

    summary = {
        name: {kind: median_of(results) for kind, results in kinds.items()}
        for name, kinds in runs.items()
    }
    # Same round, minutes apart at most: the ratio holds up better than the
    # absolute figures when the machine is not quiet.
    postgres_over_sqlite = {
        kind: round(
            statistics.median(
                pg["per_s"] / lite["per_s"]
                for pg, lite in zip(
                    runs["postgres"][kind], runs["sqlite"][kind], strict=True
                )
            ),
            3,
        )
        for kind in ("auth", "create")
    }
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "PostgreSQL 15 on the same machine, sharing its CPUs",
            # Anything else running skews both stores alike (they alternate),
            # but the absolute figures only hold for a quiet machine.
            "load_average_1m_before_after": [
                round(load_before[0], 2),
                round(os.getloadavg()[0], 2),
            ],
        },
        "settings": {
            "keys_before_runs": args.keys,
            "credentials_drawn_from": args.sample,
            "runs": args.runs,
            "seconds_per_run": args.duration,
            "gunicorn": f"gunicorn.conf.py, {WORKERS} sync workers",
            "auth": f"wrk -t{WRK_THREADS} -c{AUTH_CONNECTIONS}, bench/auth.lua",
            "create": f"wrk -t{WRK_THREADS} -c{CREATE_CONNECTIONS}, POST /v1/keys",
            "order": "per round: auth then create, stores alternating first",
        },
        "prefill_keys_per_s": {k: round(v) for k, v in fill_rate.items()},
        "postgres_connections_after_runs": pg_connections,
        "runs": runs,
        "summary": summary,
        "postgres_over_sqlite_per_round_median": postgres_over_sqlite,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, kinds in summary.items():
        auth, create = kinds["auth"], kinds["create"]
        print(
            f"{name:8} auth {auth['per_s']:8,.0f} req/s (p50 {auth['p50_ms']:.2f}, "
            f"p99 {auth['p99_ms']:.2f} ms)  create {create['per_s']:6,.0f} keys/s "
            f"(p50 {create['p50_ms']:.2f}, p99 {create['p99_ms']:.2f} ms)"
        )
    print(
        f"PostgreSQL/SQLite per round: auth {postgres_over_sqlite['auth']:.2f}, "
        f"create {postgres_over_sqlite['create']:.2f}; PostgreSQL connections "
        f"held: {pg_connections}; written to {args.out}"
    )
    failed = sum(
        r["non_2xx"] for kinds in runs.values() for rs in kinds.values() for r in rs
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
