"""Rebuild throughput: replay a SQLite store of 100,000 keys x 4 events
(create + 3 updates = 400,000 events) into a fresh read model, the way
``keyledger rebuild-read-model`` does, and report events per second.

    .venv/bin/python bench/rebuild_bench.py               # target >= 20,000/s
    .venv/bin/python bench/rebuild_bench.py --keys 10000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from fill_store import open_store, timed_fill

BENCH = Path(__file__).resolve().parent
TARGET_EVENTS_PER_S = 20_000
UPDATES_PER_KEY = 3


def prepare_store(store: Path, keys: int, fresh: bool) -> str:
    url = f"sqlite:///{store / 'keyledger.db'}"
    marker = store / "keys.txt"
    if not fresh and marker.exists() and marker.read_text() == str(keys):
        print(f"reusing the store in {store} ({keys:,} keys)")
        return url
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    services = open_store(url)
    try:
        _, elapsed = timed_fill(services, keys, updates=UPDATES_PER_KEY)
    finally:
        services.close()
    events = keys * (1 + UPDATES_PER_KEY)
    print(f"recorded {events:,} events in {elapsed:.1f}s ({events / elapsed:,.0f}/s)")
    marker.write_text(str(keys))
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", type=Path, default=Path("/tmp/keyledger-rebuild"))
    parser.add_argument("--fresh", action="store_true", help="refill the store")
    parser.add_argument("--profile", action="store_true", help="cProfile one run")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "rebuild.json")
    args = parser.parse_args(argv)

    url = prepare_store(args.store, args.keys, args.fresh)
    services = open_store(url)
    recorder = services.ledger.ledger_recorder
    timings: list[float] = []
    cpu: list[float] = []
    events = 0
    try:
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(recorder.rebuild)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        for run in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            events = recorder.rebuild()
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            print(
                f"run {run + 1}: {events:,} events in {timings[-1]:.2f}s "
                f"({events / timings[-1]:,.0f} events/s; {cpu[-1]:.2f}s of CPU, "
                f"{events / cpu[-1]:,.0f} events per CPU-second); "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        lag = recorder.view_lag()
    finally:
        services.close()
    best = min(timings)
    rates = [round(events / t) for t in timings]
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "keys": args.keys,
        "events": events,
        "seconds": [round(t, 3) for t in timings],
        "events_per_s": rates,
        "events_per_s_best": round(events / best),
        "cpu_seconds": [round(t, 3) for t in cpu],
        "events_per_cpu_s_best": round(events / min(cpu)),
        "load_average_after": round(os.getloadavg()[0], 2),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "view_lag_after": lag,
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"best {events / best:,.0f} events/s (target {TARGET_EVENTS_PER_S:,}); "
        f"written to {args.out}"
    )
    return 0 if events / best >= TARGET_EVENTS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
