"""Peak driver memory of an embedded (delta-rs) write of a Spark result: collect vs stream.

    .venv/bin/python bench/table_write_memory.py                     # 5,000,000 rows x 15 columns
    .venv/bin/python bench/table_write_memory.py --rows 500000       # quick mode

Two peers write the same generated Spark DataFrame (``--rows`` rows, 15 columns: ids, numbers,
text, a date, a timestamp, a flag) into an empty embedded Delta table, each in its own child
process with its own local Spark driver (``--driver-memory``, Lakeside's default 2g), so each
peak belongs to one peer:

- ``collect``: what the embedded backend did before: ``DataFrame.toArrow()`` on the driver,
  then ``write_deltalake`` of that table;
- ``stream``: ``Table.overwrite`` today: Spark writes Parquet to a staging folder, delta-rs
  writes from a stream of Arrow batches.

Peak RSS of the Python driver and of the Spark JVM (``VmHWM``), wall and CPU seconds; the
written table's row count is checked (a peer that fails, e.g. out of memory, is reported as
failed). Results: a table on stdout and ``bench/results/table_write_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _report as report
from _report import log, timed

NAME = "table_write_memory"
PEERS = ("collect", "stream")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, default=8, help="partitions of the generated frame")
    parser.add_argument("--driver-memory", default="2g", help="spark.driver.memory (default 2g, Lakeside's default)")
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def generated(spark, rows: int, partitions: int):
    return spark.range(0, rows, numPartitions=partitions).selectExpr(
        "id",
        "CAST(id % 1000003 AS INT) AS customer",
        "CAST(id % 97 AS INT) AS shop",
        "CAST(id % 12 AS INT) AS month",
        "CAST(id % 7 AS INT) AS weekday",
        "id * 0.5 AS amount",
        "id / 3.0 AS fee",
        "sqrt(id) AS score",
        "CAST(id % 1000 AS DOUBLE) / 10 AS rate",
        "concat('customer-', id % 1000003) AS name",
        "concat('city-', id % 5003) AS city",
        "sha2(CAST(id % 100003 AS STRING), 256) AS token",
        "date_add(DATE'2024-01-01', CAST(id % 365 AS INT)) AS day",
        "timestamp_seconds(1704067200 + id) AS at",
        "id % 2 = 0 AS flag",
    )


def run_peer(args: argparse.Namespace) -> dict:
    """In the child: build the session, time the write, print one JSON line."""
    os.environ["LAKESIDE_SPARK_DRIVER_MEMORY"] = args.driver_memory
    from deltalake import DeltaTable, write_deltalake

    from lakeside.spark import get_spark
    from lakeside.tables import Lake

    spark = get_spark(f"{NAME}-{args.peer}")
    jvm = _java_child()
    frame = generated(spark, args.rows, args.partitions)
    table = Lake(args.workdir / "lake", backend="embedded", spark=spark).table("bench.wide")
    with timed(args.peer, {"python": None, "jvm": jvm}) as measure:
        if args.peer == "collect":
            write_deltalake(table.uri, frame.toArrow(), mode="overwrite")
        else:
            table.overwrite(frame)
    rows = DeltaTable(table.uri).to_pyarrow_dataset().count_rows()
    spark.stop()
    return {**measure.to_dict(), "rows_written": rows}


def _java_child() -> int | None:
    me = os.getpid()
    for task in Path(f"/proc/{me}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if "java" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                return int(pid)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.peer:
        print("RESULT " + json.dumps(run_peer(args)), flush=True)
        return 0
    results = {}
    with tempfile.TemporaryDirectory(prefix=f"{NAME}-") as work:
        for peer in ("stream", "collect"):
            log(f"{peer}: {args.rows:,} rows x 15 columns, driver memory {args.driver_memory}")
            done = subprocess.run(
                [sys.executable, __file__, "--peer", peer, "--rows", str(args.rows),
                 "--partitions", str(args.partitions), "--driver-memory", args.driver_memory,
                 "--workdir", str(Path(work, peer))],
                capture_output=True, text=True,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                error = (done.stderr.strip().splitlines() or ["?"])[-1]
                log(f"{peer} FAILED (exit {done.returncode}): {error}")
                results[peer] = {"failed": error}
            else:
                results[peer] = json.loads(lines[-1][len("RESULT "):])
    ok = all("failed" not in r and r["rows_written"] == args.rows for r in results.values() if "failed" not in r)
    rows = []
    for peer in ("collect", "stream"):
        r = results[peer]
        if "failed" in r:
            rows.append([peer, None, None, None, None, f"FAILED: {r['failed'][:80]}"])
            continue
        rows.append([peer, r["seconds"], sum(v or 0 for v in r["cpu_seconds"].values()),
                     r["peak_rss_mb"]["python"], r["peak_rss_mb"]["jvm"], f"{r['rows_written']:,} rows"])
    report.table(["peer", "wall s", "CPU s", "peak RSS python MiB", "peak RSS JVM MiB", "result"], rows,
                 title=f"{args.rows:,} rows x 15 columns, driver memory {args.driver_memory}")
    if all("failed" not in r for r in results.values()):
        c, s = results["collect"]["peak_rss_mb"], results["stream"]["peak_rss_mb"]
        print(f"stream / collect peak RSS: python {s['python'] / c['python']:.2f}, JVM {s['jvm'] / c['jvm']:.2f}")
    report.write_json(NAME, {"args": {k: str(v) for k, v in vars(args).items()}, "results": results})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
