"""Audit benchmark: feed pages, as_of and exports on SQLite stores of
1,000 and 1,000,000 events.

Stores are built by bench/audit_store.py through the real application. Each
measurement then runs in a fresh process, so the garbage of building a
million events skews neither timings nor memory: pages and as_of through the
Flask test client (the whole HTTP stack) and through the query function; a
JSONL export of everything through the streaming response, once for time and
RSS growth, once under tracemalloc for its peak.

    .venv/bin/python bench/audit_bench.py                 # both sizes, ~6 min
    .venv/bin/python bench/audit_bench.py --sizes 1000 20000 --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit_store import HOT_KEY_EVENTS, TOKEN, build_store, ledger_of, open_app
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from projections.queries import AuditFilter
from service.api.audit_schemas import encode_audit_cursor
from service.audit_export import occurred_at_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "audit.json"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAGE = 100


def median_ms(action: Callable[[], object], runs: int) -> float:
    for _ in range(3):
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return round(statistics.median(samples) * 1000, 3)


def body(response: TestResponse) -> Any:
    return response.get_json()


def _page_request(app: Flask, query: str, *, full: bool) -> Callable[[], object]:
    client = app.test_client()

    def fetch() -> object:
        response = client.get(f"/v1/audit?limit={PAGE}&{query}", headers=AUTH)
        items = body(response)["items"] if response.status_code == 200 else []
        if not items or (full and len(items) != PAGE):
            raise RuntimeError(f"unexpected answer to {query}: {response.status_code}")
        return response

    return fetch


def _page_query(app: Flask, position: int) -> Callable[[], object]:
    queries = ledger_of(app).read_model
    return lambda: queries.audit_page(AuditFilter(), after=position, limit=PAGE + 1)


def _get(client: FlaskClient, url: str) -> Callable[[], object]:
    return lambda: client.get(url, headers=AUTH)


def measure_pages(app: Flask, runs: int) -> dict[str, float]:
    ledger = ledger_of(app)
    events = int(ledger.recorder.max_notification_id() or 0)
    positions = {"near_end": events - PAGE - 50, "middle": events // 2}
    results: dict[str, float] = {}
    for name, position in positions.items():
        cursor = encode_audit_cursor(position)
        results[f"http_page_{name}_ms"] = median_ms(
            _page_request(app, f"after={cursor}", full=True), runs
        )
        results[f"query_page_{name}_ms"] = median_ms(_page_query(app, position), runs)

    def time_at(position: int) -> str:
        first = ledger.read_model.audit_page(AuditFilter(), after=position, limit=1)
        return occurred_at_text(first[0].occurred_at)

    middle = encode_audit_cursor(positions["middle"])
    for name, query in {
        "type": f"type=secret_reset&after={middle}",
        "actor": f"actor=operator-3&after={middle}",
        "since_middle": f"since={time_at(events // 2)}",
        "since_recent": f"since={time_at(events - 1000)}",
    }.items():
        results[f"filtered_http_page_by_{name}_ms"] = median_ms(
            _page_request(app, query, full=False), runs
        )
    return results


def measure_as_of(app: Flask, hot_key: str, runs: int) -> dict[str, float]:
    client = app.test_client()
    history = body(client.get(f"/v1/keys/{hot_key}/history", headers=AUTH))["items"]
    results: dict[str, float] = {}
    for name, item in {
        "last": history[-1],
        "middle": history[len(history) // 2],
    }.items():
        url = f"/v1/keys/{hot_key}?as_of={item['occurred_at']}"
        if body(client.get(url, headers=AUTH))["version"] != item["version"]:
            raise RuntimeError("as_of answered the wrong version")
        results[f"http_as_of_{name}_version_ms"] = median_ms(_get(client, url), runs)
    results["http_key_now_ms"] = median_ms(_get(client, f"/v1/keys/{hot_key}"), runs)
    return results


def probe_export(app: Flask, traced: bool) -> dict[str, Any]:
    """One JSONL export of everything through the streaming response; memory
    is the growth over an empty export made first (imports, caches)."""
    client = app.test_client()
    empty = f"/v1/audit?format=jsonl&key_id={uuid.uuid4()}"
    b"".join(client.get(empty, headers=AUTH).iter_encoded())
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get("/v1/audit?format=jsonl", headers=AUTH, buffered=False)
    size = lines = 0
    for chunk in response.iter_encoded():
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    result: dict[str, Any] = {
        "events": lines,
        "mb": round(size / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if traced:
        result["tracemalloc_peak_kb"] = tracemalloc.get_traced_memory()[1] // 1024
    else:
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb
        result["rss_growth_kb"] = grown
    return result


def probe(kind: str, db: Path, hot_key: str, runs: int) -> dict[str, Any]:
    app = open_app(db)
    if kind == "pages":
        return {
            "pages": measure_pages(app, runs),
            "as_of": measure_as_of(app, hot_key, runs),
        }
    return probe_export(app, traced=kind == "export-traced")


def in_fresh_process(kind: str, db: Path, hot_key: str, runs: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--probe", kind, "--db", str(db)]
    command += ["--hot-key", hot_key, "--runs", str(runs)]
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def bench_size(workdir: Path, events: int, runs: int) -> dict[str, Any]:
    db = workdir / f"audit-{events}.db"
    for stale in workdir.glob(f"{db.name}*"):
        stale.unlink()
    say = f"[{events:,} events]"
    print(f"{say} building the store ...", file=sys.stderr, flush=True)
    store = build_store(db, events)
    print(f"{say} {store}; measuring ...", file=sys.stderr, flush=True)
    timings = in_fresh_process("pages", db, store["hot_key"], runs)
    plain = in_fresh_process("export", db, store["hot_key"], runs)
    traced = in_fresh_process("export-traced", db, store["hot_key"], runs)
    result = {
        "store": store,
        "pages": timings["pages"],
        "as_of": timings["as_of"],
        "export_jsonl": {
            **plain,
            "events_per_second": round(plain["events"] / plain["seconds"]),
            "tracemalloc_peak_kb": traced["tracemalloc_peak_kb"],
            "seconds_under_tracemalloc": traced["seconds"],
        },
    }
    print(json.dumps(result, indent=2), file=sys.stderr, flush=True)
    return result


def ratios(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    """Unfiltered pages only: a filtered page of the small store holds fewer
    items, so its time is not comparable."""
    return {
        name: round(large["pages"][name] / small["pages"][name], 2)
        for name in small["pages"]
        if not name.startswith("filtered")
    }


def report(sizes: dict[str, Any], runs: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": len(os.sched_getaffinity(0)),
            # Other work on the machine skews timings: say how busy it was.
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
        },
        "runs_per_median": runs,
        "sizes": sizes,
    }
    if len(sizes) >= 2:
        by_size = sorted(sizes, key=int)
        small, large = sizes[by_size[0]], sizes[by_size[-1]]
        result["page_time_ratio_large_over_small"] = ratios(small, large)
        result["export_peak_ratio_large_over_small"] = round(
            large["export_jsonl"]["tracemalloc_peak_kb"]
            / small["export_jsonl"]["tracemalloc_peak_kb"],
            2,
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--workdir", type=Path, help="keep the stores here")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hot-key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.db, args.hot_key, args.runs)))
        return 0
    if any(size < HOT_KEY_EVENTS for size in args.sizes):
        parser.error(f"each size must be at least {HOT_KEY_EVENTS}")
    with tempfile.TemporaryDirectory(prefix="keyledger-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        sizes = {str(n): bench_size(workdir, n, args.runs) for n in args.sizes}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report(sizes, args.runs), indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
