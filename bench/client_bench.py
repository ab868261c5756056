"""keyledger_client against a real keyledger (gunicorn, gthread workers so
that connections stay alive):

- cached decisions per second in one process (one thread, 100 keys, all
  cached);
- uncached decisions per second over one kept-alive connection;
- revocation at a cached client (refresh_interval=0.5): time from the
  acknowledged disable to the first denial the client returns, over N rounds.

    .venv/bin/python bench/client_bench.py                 # ~2 minutes
    .venv/bin/python bench/client_bench.py --rounds 10 --seconds 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fill_store import BOOTSTRAP_TOKEN, CLIENT_IP, SECRET_KEY, open_store
from served_app import Target, start, stop, write_gunicorn_config

from keyledger_client import Client

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
GUNICORN_SETTINGS = {
    "workers": 2,
    "worker_class": "gthread",
    "threads": 4,
    "keepalive": 5,
    "timeout": 30,
    "graceful_timeout": 10,
    "control_socket_disable": True,
    "loglevel": "warning",
}


class Admin:
    """An operator's calls, each on a fresh connection (the acknowledgement
    is the answer read back, whatever the server does with idle ones)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {raw!r}")
        return json.loads(raw) if raw else None


def service_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [
            str(Path(sys.executable).with_name("keyledger")),
            "operators",
            "create",
            f"bench-client-{time.time_ns()}",
            "--role",
            "service",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[-1]


def cached_rate(
    client: Client, keys: list[dict[str, Any]], calls: int
) -> dict[str, Any]:
    for key in keys:
        client.authorize(
            key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
        )
    pairs = [(k["dev_key"], k["dev_secret"]) for k in keys]
    count = len(pairs)
    before = client.cache_stats()
    started, cpu_started = time.perf_counter(), time.process_time()
    for n in range(calls):
        dev_key, dev_secret = pairs[n % count]
        client.authorize(dev_key, dev_secret, api="send", client_ip=CLIENT_IP)
    elapsed = time.perf_counter() - started
    # CPU time of this process (the feed thread included): what one core
    # gives, whatever else the machine runs meanwhile.
    cpu = time.process_time() - cpu_started
    after = client.cache_stats()
    assert before is not None
    assert after is not None
    hits = after.hits - before.hits
    return {
        "calls": calls,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(calls / elapsed),
        "decisions_per_cpu_s": round(calls / cpu),
        "hit_rate": round(hits / calls, 4),
    }


def uncached_rate(
    client: Client, key: dict[str, Any], seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    opened_before = client.connections_opened
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        decision = client.authorize(
            key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
        )
        latencies.append(time.perf_counter() - t)
        if not decision.allowed:
            raise RuntimeError(f"uncached call denied: {decision}")
    latencies.sort()
    total = sum(latencies)
    return {
        "calls": len(latencies),
        "decisions_per_s": round(len(latencies) / total),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "connections_opened": client.connections_opened - opened_before,
    }


def revocation_rounds(
    client: Client, admin: Admin, rounds: int, pace: float, interval: float
) -> dict[str, Any]:
    key = admin.call("POST", "/v1/keys", {"permissions": ["send"]})
    dev_key, dev_secret = key["dev_key"], key["dev_secret"]

    def ask() -> bool:
        return client.authorize(
            dev_key, dev_secret, api="send", client_ip=CLIENT_IP
        ).allowed

    delays: list[float] = []
    for _ in range(rounds):
        # Start from a cached "allowed": two allowed answers, the second a hit.
        while True:
            hits = client.cache_stats().hits  # type: ignore[union-attr]
            if ask() and ask() and client.cache_stats().hits > hits:  # type: ignore[union-attr]
                break
            time.sleep(pace)
        # A disable lands at any moment of the feed's rhythm, not just
        # after the read that brought the enable.
        time.sleep(random.uniform(0, interval))
        admin.call("POST", f"/v1/keys/{key['id']}/disable")
        acknowledged = time.perf_counter()
        while ask():
            time.sleep(pace)
        delays.append(time.perf_counter() - acknowledged)
        admin.call("POST", f"/v1/keys/{key['id']}/enable")
    return {
        "rounds": rounds,
        "pace_ms": pace * 1000,
        "median_s": round(statistics.median(delays), 4),
        "p90_s": round(sorted(delays)[int(len(delays) * 0.9)], 4),
        "max_s": round(max(delays), 4),
        "min_s": round(min(delays), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--refresh-interval", type=float, default=0.5)
    parser.add_argument("--pace", type=float, default=0.001, help="s between asks")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "client.json")
    args = parser.parse_args(argv)

    store = Path(tempfile.mkdtemp(prefix="keyledger-client-bench-"))
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{store / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    open_store(env["KEYLEDGER_DATABASE_URL"]).close()  # as gunicorn's master would
    target = Target("keyledger", "wsgi:app", env)
    start(target, write_gunicorn_config(store, GUNICORN_SETTINGS), store / "g.log")
    url = f"http://127.0.0.1:{target.port}"
    try:
        admin = Admin(target.port)
        keys = [
            admin.call("POST", "/v1/keys", {"permissions": ["send"]})
            for _ in range(100)
        ]
        token = service_token(env)
        with Client(
            url,
            cache=True,
            service_token=token,
            refresh_interval=args.refresh_interval,
            max_age=30.0,
        ) as cached:
            if not cached.refresh():
                raise RuntimeError("the change feed cannot be read")
            cached_result = cached_rate(cached, keys, args.calls)
            print(f"cached: {cached_result}")
            revocation = revocation_rounds(
                cached, admin, args.rounds, args.pace, args.refresh_interval
            )
            print(f"revocation: {revocation}")
        with Client(url, timeout=5.0) as uncached:
            uncached_rate(uncached, keys[0], 1.0)  # warm-up
            uncached_result = uncached_rate(uncached, keys[0], args.seconds)
            print(f"uncached: {uncached_result}")
    finally:
        stop(target)

    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "settings": {
            "gunicorn": GUNICORN_SETTINGS,
            "refresh_interval_s": args.refresh_interval,
            "max_age_s": 30.0,
            "revocation_pace_ms": args.pace * 1000,
        },
        "cached": cached_result,
        "uncached_keep_alive": uncached_result,
        "revocation": revocation,
        "targets": {"cached_decisions_per_s_min": 200_000, "revocation_max_s": 1.0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
