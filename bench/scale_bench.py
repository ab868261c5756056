"""Listing, search, details, history and the audit feed at 1,000 and
1,000,000 keys: does the cost stay flat?

Stores come from bench/scale_store.py (real ``ApiKey`` aggregates saved by
the real ``KeyLedger``; cached under ``--folder``). Each is served by a
real gunicorn with 2 workers (tests/support/gunicorn.py), both at once; the
calls take turns between them, call by call and round by round, so load on
the machine falls on both alike. Reports the median and p99 of ``--runs``
calls of each kind per store, and their ratio (big / small); the memory of
each worker (RSS and PSS from /proc) and the start-up time (gunicorn
started to /healthz answering) of each store.

    .venv/bin/python bench/scale_bench.py                       # 1k vs 1M
    .venv/bin/python bench/scale_bench.py --sizes 1000 20000    # quick look
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scale_store import (
    COMMON_WORD,
    RARE_ACTOR,
    RARE_WORD,
    TOKEN,
    build_store,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.gunicorn import GunicornServer, service_env  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WARM_UP = 3


def _time(micros: int) -> str:
    moment = datetime.fromtimestamp(micros / 1e6, tz=UTC)
    return urllib.parse.quote(moment.isoformat(timespec="microseconds"))


def _key_cursor(created_at: int, key_id: str) -> str:
    """The API's listing cursor (service.api.presenters.encode_key_cursor)."""
    raw = f"{created_at}:{key_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _audit_cursor(position: int) -> str:
    from service.api.audit_schemas import encode_audit_cursor

    return encode_audit_cursor(position)


def _reader(database_url: str) -> tuple[Any, Callable[[str], str]]:
    """A read-only connection to the store, and how its statements are spelt."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True), lambda sql: sql
    import psycopg

    plain, _, query = database_url.partition("?")
    conn = psycopg.connect(plain, autocommit=True)
    conn.execute(f'SET search_path TO "{query.removeprefix("schema=")}"')
    return conn, lambda sql: sql.replace("?", "%s")


def calls_for(database_url: str) -> dict[str, str]:
    """Each measured call's path on this store, from what it holds."""
    conn, spelt = _reader(database_url)

    def one(sql: str, *params: Any) -> Any:
        return conn.execute(spelt(sql), params).fetchone()

    def at(position: int) -> int:
        return int(
            one(
                "SELECT occurred_at FROM keyledger_audit WHERE notification_id >= ? "
                "ORDER BY notification_id LIMIT 1",
                position,
            )[0]
        )

    (keys,) = one("SELECT COUNT(*) FROM keyledger_keys")
    created, key_id = one(
        "SELECT created_at, key_id FROM keyledger_keys "
        "ORDER BY created_at DESC, key_id DESC LIMIT 1 OFFSET ?",
        keys // 2,
    )
    (rare_key,) = one(
        "SELECT key_id FROM keyledger_keys WHERE description LIKE ? LIMIT 1",
        f"%{RARE_WORD}%",
    )
    (events,) = one("SELECT MAX(notification_id) FROM keyledger_audit")
    middle, recent, early = at(events // 2), at(events - 100), at(50)
    middle_later = at(events // 2 + 500)
    conn.close()
    deep = _key_cursor(created, key_id)
    soon = urllib.parse.quote(datetime.now(UTC).replace(year=2100).isoformat())
    return {
        "list: first page": "/v1/keys",
        "list: deep cursor (middle)": f"/v1/keys?after={deep}",
        "list: status=enabled": "/v1/keys?status=enabled",
        "list: status=disabled": "/v1/keys?status=disabled",
        "list: status=expired": "/v1/keys?status=expired",
        "list: status=disabled, deep cursor": f"/v1/keys?status=disabled&after={deep}",
        "list: status=expired, deep cursor": f"/v1/keys?status=expired&after={deep}",
        "search: q rare word": f"/v1/keys?q={RARE_WORD}",
        "search: q common word": f"/v1/keys?q={COMMON_WORD}",
        "search: q common, deep cursor": f"/v1/keys?q={COMMON_WORD}&after={deep}",
        "search: q rare + status=enabled": f"/v1/keys?q={RARE_WORD}&status=enabled",
        "search: q 2 chars, common (pr)": "/v1/keys?q=pr",
        "search: q 2 chars, rare (qu)": "/v1/keys?q=qu",
        "search: q 1 char, rare (k)": "/v1/keys?q=k",
        "search: q 1 char, common (s)": "/v1/keys?q=s",
        "list: expires_before": f"/v1/keys?expires_before={soon}",
        "details": f"/v1/keys/{rare_key}",
        "history": f"/v1/keys/{rare_key}/history",
        "audit: first page": "/v1/audit",
        "audit: cursor (middle)": f"/v1/audit?after={_audit_cursor(events // 2)}",
        "audit: key_id": f"/v1/audit?key_id={rare_key}",
        "audit: actor common": "/v1/audit?actor=operator-1",
        "audit: actor rare": f"/v1/audit?actor={RARE_ACTOR}",
        "audit: type common (disabled)": "/v1/audit?type=disabled",
        "audit: type rare (description_changed)": "/v1/audit?type=description_changed",
        "audit: since middle": f"/v1/audit?since={_time(middle)}",
        "audit: since last 100": f"/v1/audit?since={_time(recent)}",
        "audit: until early (50 events)": f"/v1/audit?until={_time(early)}",
        "audit: until middle": f"/v1/audit?until={_time(middle)}",
        "audit: since+until middle": (
            f"/v1/audit?since={_time(middle)}&until={_time(middle_later)}"
        ),
    }


def worker_memory(server: GunicornServer) -> list[dict[str, int]]:
    found = []
    for pid in server.worker_pids():
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                fields[name.lower() + "_mb"] = int(rest.split()[0]) // 1024
        found.append(fields)
    return found


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(
    servers: dict[int, GunicornServer], paths: dict[int, dict[str, str]], runs: int
) -> dict[str, dict[int, list[float]]]:
    samples: dict[str, dict[int, list[float]]] = {
        name: {size: [] for size in servers} for name in paths[min(paths)]
    }
    sizes = sorted(servers)
    for round_number in range(WARM_UP + runs):
        order = sizes if round_number % 2 == 0 else sizes[::-1]
        for name in samples:
            for size in order:
                started = time.perf_counter()
                response = servers[size].request("GET", paths[size][name], headers=AUTH)
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    raise RuntimeError(f"{name} on {size}: {response.status}")
                if round_number >= WARM_UP:
                    samples[name][size].append(elapsed * 1000)
    return samples


def p99(values: list[float]) -> float:
    if len(values) < 20:
        return max(values)
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 1_000_000])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/keyledger-scale"))
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="build and serve the stores in schemas of this PostgreSQL database",
    )
    args = parser.parse_args()
    load_before = load()
    if args.postgres:
        # Every PostgreSQL instance signs checkpoints with one key, from a file.
        from service.audit_signing import SETTING, rotate_signing_key

        key_file = args.folder / "postgres-signing.pem"
        if not key_file.exists():
            args.folder.mkdir(parents=True, exist_ok=True)
            rotate_signing_key(key_file)
        os.environ[SETTING] = str(key_file)
        stores = {s: f"{args.postgres}?schema=kl_bench_scale_{s}" for s in args.sizes}
        done = {s: args.folder / f"postgres-{s}.done" for s in args.sizes}
        results = args.results or RESULTS.with_name("scale_postgres.json")
    else:
        stores = {s: f"sqlite:///{args.folder}/keys-{s}.db" for s in args.sizes}
        done = {s: args.folder / f"keys-{s}.done" for s in args.sizes}
        results = args.results or RESULTS
    built = {s: build_store(url, s, done[s]) for s, url in stores.items()}
    paths = {s: calls_for(url) for s, url in stores.items()}
    servers: dict[int, GunicornServer] = {}
    startup: dict[int, float] = {}
    try:
        for size, url in stores.items():
            env = service_env(url, bootstrap_token=TOKEN)
            server = GunicornServer(env, workers=2)
            started = time.perf_counter()
            servers[size] = server.start(timeout=600)
            startup[size] = round(time.perf_counter() - started, 2)
        samples = measure(servers, paths, args.runs)
        memory = {size: worker_memory(server) for size, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    small, big = args.sizes
    rows: dict[str, Any] = {}
    for name, by_size in samples.items():
        stats = {
            size: {
                "median_ms": round(statistics.median(v), 2),
                "p99_ms": round(p99(v), 2),
            }
            for size, v in by_size.items()
        }
        rows[name] = {
            **{str(size): value for size, value in stats.items()},
            "ratio_median": round(
                stats[big]["median_ms"] / stats[small]["median_ms"], 2
            ),
            "ratio_p99": round(stats[big]["p99_ms"] / stats[small]["p99_ms"], 2),
        }
    result = {
        "store": "postgres" if args.postgres else "sqlite",
        "sizes": args.sizes,
        "runs": args.runs,
        "stores": {str(s): b for s, b in built.items()},
        "startup_seconds": {str(s): v for s, v in startup.items()},
        "worker_memory": {str(s): v for s, v in memory.items()},
        "load_average_before_after": [load_before, load()],
        "calls": rows,
        "cpus": os.cpu_count(),
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| call | {small:,} median / p99 ms | {big:,} median / p99 ms | ratio |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        a, b = row[str(small)], row[str(big)]
        print(
            f"| {name} | {a['median_ms']} / {a['p99_ms']} | {b['median_ms']} / "
            f"{b['p99_ms']} | {row['ratio_median']} / {row['ratio_p99']} |"
        )
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "startup_seconds",
                    "worker_memory",
                    "load_average_before_after",
                )
            }
        )
    )


if __name__ == "__main__":
    main()
