"""What the audit chain costs and how fast it verifies.

    .venv/bin/python bench/chain_bench.py verify            # 1M events, SQLite
    .venv/bin/python bench/chain_bench.py verify --events 100000
    .venv/bin/python bench/chain_bench.py write             # chain on vs off

``verify`` fills a SQLite store through the real ledger (bench/fill_store.py:
keys created, then three changes each), then times the store verifier
(``keyledger audit verify``'s code path) and the offline verifier over a JSONL
export of the same store, and measures each one's peak Python memory with
tracemalloc in a separate pass (tracemalloc slows the code it watches).

``write`` compares the write path with and without the chain in one run: the
code of this checkout against the code of a commit without the chain
(``--baseline``, default the merge base with main), each in a child process
on a fresh store, taking turns for several rounds. It reports sequential
``create_key`` calls (throughput and latency, one transaction per key) and
batched fills (events/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m": os.getloadavg()[0],
    }


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def peak_memory(run: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# verify


def cmd_verify(args: argparse.Namespace) -> dict[str, Any]:
    from fill_store import fill_store, open_store

    from projections.chain_verify import checkpoints_from_body, verify_export
    from projections.queries import AuditFilter
    from service.audit_export import EXPORT_FORMATS, export

    folder = Path(args.folder or tempfile.mkdtemp(prefix="keyledger-chain-"))
    database = folder / f"chain-{args.events}.db"
    os.environ.pop("KEYLEDGER_AUDIT_SIGNING_KEY_FILE", None)  # beside the file
    fresh = not database.exists()
    services = open_store(f"sqlite:///{database}")
    fill_seconds = None
    if fresh:
        _, fill_seconds, _ = timed(
            lambda: fill_store(services, args.events // 4, updates=3, batch=1000)
        )
    recorder = services.ledger.ledger_recorder
    signing = services.ledger.signing_keys
    assert signing is not None
    keys = signing.verification

    verdict, wall, cpu = timed(lambda: recorder.verify_chain(keys))
    assert verdict.verified, verdict
    store_peak = peak_memory(lambda: recorder.verify_chain(keys))

    export_path = folder / f"chain-{args.events}.jsonl"
    with export_path.open("w", encoding="utf-8") as out:
        chunks = export(services.ledger, AuditFilter(), EXPORT_FORMATS["jsonl"]).chunks
        _, export_seconds, _ = timed(lambda: out.writelines(chunks))
    body = {"items": [c.as_item() for c in recorder.chain.all_checkpoints(
        recorder.read_transaction)]}  # fmt: skip

    def offline() -> Any:
        with export_path.open(encoding="utf-8") as lines:
            return verify_export(lines, checkpoints_from_body(body), keys)

    offline_verdict, offline_wall, offline_cpu = timed(offline)
    assert offline_verdict.verified, offline_verdict
    offline_peak = peak_memory(offline)
    services.close()
    events = verdict.events
    return {
        "events": events,
        "checkpoints": len(body["items"]),
        "fill_events_per_s": round(events / fill_seconds) if fill_seconds else None,
        "store": {
            "seconds": round(wall, 2),
            "events_per_s_wall": round(events / wall),
            "events_per_s_cpu": round(events / cpu),
            "tracemalloc_peak_mib": round(store_peak / 2**20, 2),
        },
        "export": {
            "bytes": export_path.stat().st_size,
            "write_seconds": round(export_seconds, 2),
        },
        "offline": {
            "seconds": round(offline_wall, 2),
            "events_per_s_wall": round(events / offline_wall),
            "events_per_s_cpu": round(events / offline_cpu),
            "tracemalloc_peak_mib": round(offline_peak / 2**20, 2),
        },
        "store_file": str(database),
    }


# write


def probe_write(url: str, creates: int, fill_keys: int) -> dict[str, Any]:
    """Runs in a child whose sys.path starts with the tree under test."""
    from fill_store import fill_store, open_store

    from domain import AuditContext, recording_as

    services = open_store(url)
    ledger = services.ledger
    latencies = []
    with recording_as(AuditContext("bench", "127.0.0.1", None)):
        for n in range(50):  # warm-up: caches, prepared statements
            ledger.create_key(permissions=["send"], description=f"warm {n}")
        started = time.perf_counter()
        for n in range(creates):
            before = time.perf_counter()
            ledger.create_key(permissions=["send"], description=f"bench {n}")
            latencies.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - started
    _, fill_seconds, _ = timed(lambda: fill_store(services, fill_keys, updates=3))
    services.close()
    latencies.sort()
    return {
        "creates_per_s": creates / elapsed,
        "create_p50_ms": 1000 * latencies[len(latencies) // 2],
        "create_p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
        "fill_events_per_s": 4 * fill_keys / fill_seconds,
    }


def baseline_tree(ref: str, folder: Path) -> tuple[Path, str]:
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = folder / f"baseline-{commit[:10]}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, commit


def run_probe(tree: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'bench'}"}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "probe", url,
         str(args.creates), str(args.fill_keys), str(tree)],
        env=env, cwd=tree, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


def fresh_url(store: str, folder: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{folder / (uuid.uuid4().hex + '.db')}"
    return f"{POSTGRES_URL}?schema=kl_bench_{uuid.uuid4().hex[:10]}"


def drop_schema(url: str) -> None:
    if "schema=" in url:
        import psycopg

        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def cmd_write(args: argparse.Namespace) -> dict[str, Any]:
    from service.audit_signing import rotate_signing_key

    folder = Path(tempfile.mkdtemp(prefix="keyledger-chain-write-"))
    rotate_signing_key(folder / "signing.pem")  # PostgreSQL needs one
    os.environ["KEYLEDGER_AUDIT_SIGNING_KEY_FILE"] = str(folder / "signing.pem")
    base = args.baseline or subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    baseline, commit = baseline_tree(base, folder)
    trees = {"chain": ROOT, "no_chain": baseline}
    results: dict[str, Any] = {}
    for store in args.stores:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in order:
                url = fresh_url(store, folder)
                try:
                    runs[name].append(run_probe(trees[name], url, args))
                finally:
                    drop_schema(url)
        results[store] = summarise(runs)
    return {"baseline_commit": commit, "stores": results}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    medians = {
        name: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
        for name, rs in runs.items()
    }
    on, off = medians["chain"], medians["no_chain"]
    return {
        "medians": medians,
        "chain_cost_percent": {
            "create_throughput": slower(on["creates_per_s"], off["creates_per_s"]),
            "create_p50_latency": -slower(on["create_p50_ms"], off["create_p50_ms"]),
            "fill_throughput": slower(
                on["fill_events_per_s"], off["fill_events_per_s"]
            ),
        },
        "rounds": runs,
    }


def slower(rate: float, baseline: float) -> float:
    """How many percent ``rate`` is below ``baseline``."""
    return round(100 * (1 - rate / baseline), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify")
    verify.add_argument("--events", type=int, default=1_000_000)
    verify.add_argument("--folder", help="keep (and reuse) the filled store here")
    write = commands.add_parser("write")
    write.add_argument("--baseline", help="commit without the chain")
    write.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    write.add_argument("--rounds", type=int, default=3)
    write.add_argument("--creates", type=int, default=1000)
    write.add_argument("--fill-keys", type=int, default=5000)
    probe = commands.add_parser("probe")  # internal: one child run
    for name in ("url", "creates", "fill_keys", "tree"):
        probe.add_argument(name)
    args = parser.parse_args()
    if args.command == "probe":
        sys.path[:0] = [args.tree, str(Path(args.tree) / "bench")]
        print(json.dumps(probe_write(args.url, int(args.creates), int(args.fill_keys))))
        return
    before = machine()
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    figures = cmd_verify(args) if args.command == "verify" else cmd_write(args)
    report = {
        "measured_at": started,
        "command": " ".join(["bench/chain_bench.py", *sys.argv[1:]]),
        "machine": {**before, "load_average_1m_after": os.getloadavg()[0]},
        **figures,
    }
    RESULTS.mkdir(exist_ok=True)
    name = f"chain_{args.command}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
