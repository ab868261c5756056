"""Rebuild throughput: replay a SQLite store of 100,000 keys x 4 events
(create + 3 updates = 400,000 events) into a fresh read model, the way
``keyledger rebuild-read-model`` does, and report events per second.

    .venv/bin/python bench/rebuild_bench.py               # target >= 50,000/s
    .venv/bin/python bench/rebuild_bench.py --keys 10000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from fill_store import open_store, timed_fill

from projections import projecting_recorder
from service.audit_signing import rotate_signing_key

BENCH = Path(__file__).resolve().parent
TARGET_EVENTS_PER_S = 50_000
# How a rebuild works out its batches: in a second process while writing
# (the default), or in the writing process itself.
PLANNING = {"second-process": True, "in-process": False}
UPDATES_PER_KEY = 3
POSTGRES_SCHEMA = "kl_rebuild_bench"


def prepare_store(store: Path, keys: int, fresh: bool, postgres: str | None) -> str:
    store.mkdir(parents=True, exist_ok=True)
    if postgres:
        # PostgreSQL wants a checkpoint signing key file; the bench keeps its own.
        signing = store / "signing.pem"
        if not signing.exists():
            rotate_signing_key(signing)
        os.environ["KEYLEDGER_AUDIT_SIGNING_KEY_FILE"] = str(signing)
        url = f"{postgres}?schema={POSTGRES_SCHEMA}"
        marker = store / "postgres-keys.txt"
    else:
        url = f"sqlite:///{store / 'keyledger.db'}"
        marker = store / "keys.txt"
    if not fresh and marker.exists() and marker.read_text() == str(keys):
        print(f"reusing the store {url} ({keys:,} keys)")
        return url
    if postgres:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{POSTGRES_SCHEMA}" CASCADE')
    else:
        for old in store.glob("keyledger.db*"):
            old.unlink()
    services = open_store(url)
    try:
        _, elapsed = timed_fill(services, keys, updates=UPDATES_PER_KEY)
    finally:
        services.close()
    events = keys * (1 + UPDATES_PER_KEY)
    print(f"recorded {events:,} events in {elapsed:.1f}s ({events / elapsed:,.0f}/s)")
    marker.write_text(str(keys))
    return url


def cpu_seconds() -> tuple[float, float]:
    """This process's CPU time, and that of its ended children (the planning
    process is joined before ``rebuild`` returns)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", type=Path, default=Path("/tmp/keyledger-rebuild"))
    parser.add_argument("--fresh", action="store_true", help="refill the store")
    parser.add_argument("--profile", action="store_true", help="cProfile one run")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "rebuild.json")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="rebuild a PostgreSQL store (a schema of this database) instead",
    )
    parser.add_argument(
        "--planning",
        nargs="+",
        choices=list(PLANNING),
        default=list(PLANNING),
        help="the ways of planning batches to time, in turns",
    )
    args = parser.parse_args(argv)

    url = prepare_store(args.store, args.keys, args.fresh, args.postgres)
    services = open_store(url)
    recorder = services.ledger.ledger_recorder
    timings: dict[str, list[float]] = {mode: [] for mode in args.planning}
    cpu: dict[str, list[float]] = {mode: [] for mode in args.planning}
    # The busier process's share: what the wall-clock time comes down to
    # when each has a core of its own.
    busiest: dict[str, list[float]] = {mode: [] for mode in args.planning}
    events = 0
    try:
        if args.profile:  # the first way of planning, in this process
            projecting_recorder.PLAN_IN_SECOND_PROCESS = PLANNING[args.planning[0]]
            profiler = cProfile.Profile()
            profiler.runcall(recorder.rebuild)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        # The compared ways take turns, so both meet the same machine load.
        for run in range(args.runs):
            for mode in args.planning:
                projecting_recorder.PLAN_IN_SECOND_PROCESS = PLANNING[mode]
                started, (own, children) = time.perf_counter(), cpu_seconds()
                events = recorder.rebuild()
                timings[mode].append(time.perf_counter() - started)
                own_end, children_end = cpu_seconds()
                own, children = own_end - own, children_end - children
                cpu[mode].append(own + children)
                busiest[mode].append(max(own, children))
                print(
                    f"run {run + 1} ({mode}): {events:,} events in "
                    f"{timings[mode][-1]:.2f}s ({events / timings[mode][-1]:,.0f} "
                    f"events/s; {cpu[mode][-1]:.2f}s of CPU, "
                    f"{events / cpu[mode][-1]:,.0f} events per CPU-second; "
                    f"writer {own:.2f}s, planner {children:.2f}s); "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
        lag = recorder.view_lag()
    finally:
        services.close()
    report: dict[str, object] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "store": "postgresql" if args.postgres else "sqlite",
        "keys": args.keys,
        "events": events,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "view_lag_after": lag,
        "cpus": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    for mode in args.planning:
        report[mode] = {
            "seconds": [round(t, 3) for t in timings[mode]],
            "events_per_s": [round(events / t) for t in timings[mode]],
            "events_per_s_best": round(events / min(timings[mode])),
            "cpu_seconds": [round(t, 3) for t in cpu[mode]],
            "events_per_cpu_s_best": round(events / min(cpu[mode])),
            "busiest_process_cpu_seconds": [round(t, 3) for t in busiest[mode]],
        }
    best = events / min(min(t) for t in timings.values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"best {best:,.0f} events/s (target {TARGET_EVENTS_PER_S:,}); to {args.out}")
    return 0 if best >= TARGET_EVENTS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
