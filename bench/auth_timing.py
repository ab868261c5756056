"""Can a caller tell a known DevKey from an unknown one by timing /v1/auth?

Sends 2 x N requests with a wrong secret (default N = 2,000) in random
order: half for DevKeys that exist, half for DevKeys that do not (each
drawn from a pool of 50, so both kinds are repeated alike, as an attacker
probing a guess would), and compares the two latency samples with a
two-sided Mann-Whitney U test.
A p-value that is small in run after run means the paths are
distinguishable; under a fair comparison p is uniform on [0, 1], so about
one run in a hundred lands below 0.01 by chance.

Two ways to time it:

- ``wsgi``: the WSGI application called in-process, no network. The most
  sensitive view: it sees differences of a microsecond that a network
  caller never could.
- ``http``: a real gunicorn (1 sync worker) on 127.0.0.1, timed by the
  client, one connection per request, as an outsider would.

    .venv/bin/python bench/auth_timing.py                    # wsgi, 10 runs
    .venv/bin/python bench/auth_timing.py --mode http --runs 5
    .venv/bin/python bench/auth_timing.py --postgres-url postgresql://postgres@127.0.0.1/test

Figures go to bench/results/auth_timing.json.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import logging
import math
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.app import create_app  # noqa: E402
from service.config import encode_key, load_settings  # noqa: E402
from service.wiring import build_services, prepare_store  # noqa: E402

ADMIN_TOKEN = "klo_bench-timing-admin-token-0123456789abcdef"
SECRET_KEY = encode_key(bytes(range(32)))
BODY = json.dumps({"api": "send", "client_ip": "203.0.113.9"}).encode()
KEYS = 200
POOL = 50
WARM_UP = 300


def basic(dev_key: str, dev_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation
    with tie correction; exact enough for samples of hundreds)."""
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (u - n1 * n2 / 2) / sigma
    return math.erfc(abs(z) / math.sqrt(2))


def prepare(database_url: str) -> tuple[Any, list[str]]:
    """An app on a store holding KEYS keys; returns it and POOL known DevKeys."""
    config = {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "bootstrap_token": ADMIN_TOKEN,
        "log_level": "WARNING",
    }
    services = build_services(load_settings(config))
    try:
        prepare_store(services)
    finally:
        services.close()
    app = create_app(config)
    client = app.test_client()
    known: list[str] = []
    for n in range(KEYS):
        created = client.post(
            "/v1/keys",
            json={"permissions": ["send"], "description": f"timing {n}"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 201, created.json
        known.append(str(created.get_json()["dev_key"]))
    return app, known[:POOL]


def wsgi_timer(app: Any) -> Callable[[str], float]:
    def call(authorization: str) -> float:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/v1/auth",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(BODY)),
            "HTTP_AUTHORIZATION": authorization,
            "wsgi.input": io.BytesIO(BODY),
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
        }
        statuses: list[str] = []
        started = time.perf_counter_ns()
        b"".join(
            app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        )
        elapsed = time.perf_counter_ns() - started
        assert statuses[0].startswith("401"), statuses
        return elapsed / 1000

    return call


def http_timer(port: int) -> Callable[[str], float]:
    headers_base = {"Content-Type": "application/json"}

    def call(authorization: str) -> float:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.connect()
        started = time.perf_counter_ns()
        connection.request(
            "POST",
            "/v1/auth",
            BODY,
            {**headers_base, "Authorization": authorization},
        )
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter_ns() - started
        connection.close()
        assert response.status == 401, response.status
        return elapsed / 1000

    return call


def one_run(
    timer: Callable[[str], float], known: list[str], requests: int
) -> dict[str, Any]:
    unknown = [secrets.token_urlsafe(18) for _ in known]
    # Interleaved at random, so drift (CPU frequency, other load) hits both.
    plan = ["known"] * requests + ["unknown"] * requests
    random.shuffle(plan)
    samples: dict[str, list[float]] = {"known": [], "unknown": []}
    for n in range(WARM_UP):
        timer(basic(known[n % len(known)], secrets.token_urlsafe(32)))
        timer(basic(unknown[n % len(unknown)], secrets.token_urlsafe(32)))
    for kind in plan:
        # A fresh wrong secret each time: nothing a cache could remember.
        dev_key = random.choice(known if kind == "known" else unknown)
        samples[kind].append(timer(basic(dev_key, secrets.token_urlsafe(32))))
    known_us, unknown_us = samples["known"], samples["unknown"]
    return {
        "p_value": mann_whitney_p(known_us, unknown_us),
        "median_known_us": statistics.median(known_us),
        "median_unknown_us": statistics.median(unknown_us),
        "median_difference_us": statistics.median(known_us)
        - statistics.median(unknown_us),
    }


def start_gunicorn(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "WEB_"))
    }
    env.update(
        KEYLEDGER_DATABASE_URL=database_url,
        KEYLEDGER_SECRET_KEY=SECRET_KEY,
        KEYLEDGER_BOOTSTRAP_TOKEN=ADMIN_TOKEN,
        KEYLEDGER_LOG_LEVEL="WARNING",
        KEYLEDGER_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        # One request at a time, as the figures in bench/README.md were taken.
        KEYLEDGER_WORKER_CLASS="sync",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("wsgi", "http"), default="wsgi")
    parser.add_argument("--requests", type=int, default=2000, help="per kind")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--postgres-url", help="measure on PostgreSQL instead")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "auth_timing.json"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kl-timing-"))
    schema = f"kl_timing_{secrets.token_hex(4)}"
    if args.postgres_url:
        separator = "&" if "?" in args.postgres_url else "?"
        database_url = f"{args.postgres_url}{separator}schema={schema}"
    else:
        database_url = f"sqlite:///{workdir / 'keyledger.db'}"
    app, known = prepare(database_url)
    # In-process the warnings would go to this terminal; both kinds still
    # pass through the monitor, which counts and rate-limits them alike.
    logging.getLogger("keyledger").handlers.clear()
    logging.getLogger("keyledger").addHandler(logging.NullHandler())
    process = None
    try:
        if args.mode == "wsgi":
            timer = wsgi_timer(app)
        else:
            from tests.support.gunicorn import free_port

            port = free_port()
            process = start_gunicorn(database_url, port, workdir / "gunicorn.log")
            timer = http_timer(port)
        runs = []
        for n in range(args.runs):
            result = one_run(timer, known, args.requests)
            runs.append(result)
            print(
                f"run {n + 1}: p = {result['p_value']:.3f}, medians known "
                f"{result['median_known_us']:.1f} us / unknown "
                f"{result['median_unknown_us']:.1f} us",
                flush=True,
            )
    finally:
        if process is not None:
            os.killpg(process.pid, 15)
            process.wait(timeout=15)
        app.extensions["keyledger"].close()
        if args.postgres_url:
            import psycopg

            with psycopg.connect(args.postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    below = sum(1 for run in runs if run["p_value"] < 0.01)
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "store": "postgres" if args.postgres_url else "sqlite",
        "mode": args.mode,
        "requests_per_kind": args.requests,
        "runs": runs,
        "runs_below_0.01": below,
        "median_p_value": statistics.median(run["p_value"] for run in runs),
    }
    print(
        f"{below} of {len(runs)} runs below p = 0.01 "
        f"(chance alone: about {len(runs) / 100:.1f}); "
        f"median p = {summary['median_p_value']:.3f}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
