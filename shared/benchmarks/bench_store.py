"""Store benchmark: bulk insert vs single adds, and reading one package's records back.

Run from the workspace root::

    .venv/bin/python shared/benchmarks/bench_store.py [--n 10000] [--metrics 10] [--url URL]
        [--single-n 1000] [--repeat 3] [--record-store URL]

Without ``--url`` it uses fresh SQLite files in a temporary directory. With ``--url`` the store
must be empty (the benchmark empties it again when done). Timings are printed, never asserted;
``--record-store`` also saves them as an ``ExperimentRecord`` (analysis ``core.bench-store``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from interplab.core.records import Environment, ExperimentRecord, Metric
from interplab.core.store import Store

PACKAGES = ("core", "robustness", "mips")
TARGET_N, TARGET_METRICS, TARGET_S = 10_000, 10, 3.0
TARGET = "bulk insert 10,000 × 10 metrics: target < 3 s on SQLite on 2 cores"


def build_records(n: int, n_metrics: int, prefix: str) -> list[ExperimentRecord]:
    """``n`` records spread over three packages, each with ``n_metrics`` metrics."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    records = []
    for i in range(n):
        package = PACKAGES[i % len(PACKAGES)]
        records.append(
            ExperimentRecord(
                id=f"{prefix}-{i:07d}",
                run_id=f"{prefix}-run-{i // 10}",
                package=package,
                analysis=f"{package}.bench",
                created_at=t0 + timedelta(seconds=i),
                started_at=t0 + timedelta(seconds=i - 1),
                finished_at=t0 + timedelta(seconds=i),
                params={"i": i, "model": {"name": f"m{i % 7}", "layers": i % 12}, "lr": 1e-3},
                metrics={
                    f"{package}.m{k:02d}": Metric(
                        value=(i * 31 + k) % 1000 / 7.0, unit="nats", higher_is_better=k % 2 == 0
                    )
                    for k in range(n_metrics)
                },
                tags=("bench", f"group-{i % 5}"),
            )
        )
    return records


def best_of(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs of ``action`` in seconds, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=TARGET_N, help="records for the bulk insert")
    parser.add_argument("--metrics", type=int, default=TARGET_METRICS, help="metrics per record")
    parser.add_argument("--single-n", type=int, default=1000, help="records added one at a time")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each read; best is kept")
    parser.add_argument("--url", help="store URL to benchmark (must be empty); default: SQLite")
    parser.add_argument("--record-store", help="store URL to save the measurements into")
    args = parser.parse_args(argv)
    if args.n < 1 or args.metrics < 0 or args.single_n < 1 or args.repeat < 1:
        parser.error("--n, --single-n and --repeat must be positive, --metrics non-negative")
    console = Console()

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        bulk_url = args.url or f"sqlite:///{Path(tmp) / 'bulk.db'}"
        single_url = args.url or f"sqlite:///{Path(tmp) / 'single.db'}"
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        records = build_records(args.n, args.metrics, prefix)
        single_records = build_records(min(args.single_n, args.n), args.metrics, prefix)
        single_n = len(single_records)
        one_package = PACKAGES[1]
        expected_in_package = sum(r.package == one_package for r in records)

        with Store(single_url) as store:
            if store.count():
                console.print(f"[red]{store!r} is not empty; the benchmark needs an empty store.")
                return 2
            dialect = store.dialect
            start = time.perf_counter()
            for record in single_records:
                store.add(record)
            single_s = time.perf_counter() - start
            if store.count() != single_n:
                raise SystemExit(f"single adds stored {store.count()} records, not {single_n}")
            if args.url:
                store.delete_all()

        with Store(bulk_url) as store:
            start = time.perf_counter()
            store.add_many(records)
            bulk_s = time.perf_counter() - start
            if store.count() != args.n:
                raise SystemExit(f"bulk insert stored {store.count()} records, not {args.n}")
            long_s, long = best_of(args.repeat, lambda: store.to_frame(package=one_package))
            wide_s, wide = best_of(
                args.repeat, lambda: store.to_frame(package=one_package, wide=True)
            )
            query_s, found = best_of(args.repeat, lambda: store.query(package=one_package))
            if len(found) != expected_in_package or len(wide) != expected_in_package:
                raise SystemExit("reading one package gave the wrong number of records")
            if len(long) != expected_in_package * args.metrics:
                raise SystemExit("the long frame has the wrong number of rows")
            if args.url:
                store.delete_all()

    single_per_record_s = single_s / single_n
    single_extrapolated_s = single_per_record_s * args.n
    ratio = single_extrapolated_s / bulk_s
    cores = os.cpu_count() or 0

    table = Table(
        title=f"Store benchmark: {dialect}, {args.n:,} records × {args.metrics} metrics, "
        f"{cores} CPU cores"
    )
    table.add_column("measurement")
    table.add_column("records", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("µs / record", justify="right")
    table.add_column("note")
    table.add_row(
        "add_many (bulk insert)", f"{args.n:,}", f"{bulk_s:.3f}",
        f"{bulk_s / args.n * 1e6:,.1f}", "one transaction",
    )  # fmt: skip
    table.add_row(
        "add() one at a time", f"{single_n:,}", f"{single_s:.3f}",
        f"{single_per_record_s * 1e6:,.1f}", "one transaction each",
    )  # fmt: skip
    table.add_row(
        f"add() extrapolated to {args.n:,}", f"{args.n:,}", f"{single_extrapolated_s:.3f}",
        f"{single_per_record_s * 1e6:,.1f}", f"{ratio:,.1f}× slower than add_many",
    )  # fmt: skip
    for label, seconds, rows in (
        (f"to_frame(package={one_package!r}) long", long_s, len(long)),
        (f"to_frame(package={one_package!r}, wide=True)", wide_s, len(wide)),
        (f"query(package={one_package!r})", query_s, len(found)),
    ):
        table.add_row(
            label, f"{expected_in_package:,}", f"{seconds:.3f}",
            f"{seconds / expected_in_package * 1e6:,.1f}",
            f"{rows:,} rows of {len(PACKAGES)} packages' {args.n:,}; best of {args.repeat}",
        )  # fmt: skip
    console.print(table)

    comparable = (args.n, args.metrics, dialect) == (TARGET_N, TARGET_METRICS, "sqlite")
    if comparable:
        verdict = "[green]met[/]" if bulk_s < TARGET_S else "[red]missed[/]"
        console.print(f"{TARGET}: {bulk_s:.2f} s on {cores} cores → {verdict}")
    else:
        console.print(
            f"{TARGET} (not comparable: this run is {args.n:,} × {args.metrics}, {dialect})"
        )

    if args.record_store:
        record = measurement_record(args, dialect, cores, {
            "core.bulk_insert_s": (bulk_s, "s", False, f"add_many of {args.n} records"),
            "core.single_add_s": (single_s, "s", False, f"{single_n} add() calls"),
            "core.single_add_extrapolated_s": (
                single_extrapolated_s, "s", False, f"add() per record × {args.n}"
            ),
            "core.single_vs_bulk_ratio": (ratio, "", None, "extrapolated add() / add_many"),
            "core.to_frame_long_s": (long_s, "s", False, "one package, long frame"),
            "core.to_frame_wide_s": (wide_s, "s", False, "one package, wide frame"),
            "core.query_s": (query_s, "s", False, "one package, query()"),
        })  # fmt: skip
        with Store(args.record_store) as results:
            results.add(record)
        console.print(f"saved as record {record.id} in {results!r}")
    return 0


def measurement_record(
    args: argparse.Namespace,
    dialect: str,
    cores: int,
    values: dict[str, tuple[float, str, bool | None, str]],
) -> ExperimentRecord:
    """The measurements as a ``core.bench-store`` record."""
    versions = {}
    for dist in ("interplab-core", "sqlalchemy", "pandas", "pyarrow", "psycopg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    now = datetime.now(UTC)
    return ExperimentRecord(
        id=f"bench-store-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        run_id=f"bench-store-{dialect}-{args.n}x{args.metrics}",
        package="core",
        analysis="core.bench-store",
        created_at=now,
        params={
            "n": args.n,
            "metrics": args.metrics,
            "single_n": min(args.single_n, args.n),
            "repeat": args.repeat,
            "backend": dialect,
            "cpu_count": cores,
        },
        metrics={
            key: Metric(value=value, unit=unit, higher_is_better=better, description=text)
            for key, (value, unit, better, text) in values.items()
        },
        env=Environment(
            python=sys.version.split()[0],
            platform=platform.platform(),
            hostname=socket.gethostname(),
            packages=versions,
        ),
        tags=("benchmark",),
    )


if __name__ == "__main__":
    sys.exit(main())
