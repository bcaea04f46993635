"""Ingest throughput: one day of raw loans through extract -> transform -> load, Spark + Delta.

    .venv/bin/python bench/ingest_throughput.py                 # 1,000,000 rows (several minutes)
    .venv/bin/python bench/ingest_throughput.py --rows 100000   # quick mode (< ~2 minutes)
    .venv/bin/python bench/ingest_throughput.py --rows 10000000 --skip-rerun   # memory: 10M rows in 2 GB

The raw CSV (``--rows`` generated loans plus ``--bad-share`` faulty rows; duplicate-key faults
add rows) is written once, untimed, under ``--workdir`` (default: a temporary folder). Then, in
this one process, with one local Spark session and an empty embedded (delta-rs) lake:

- ``duckdb``: the single-node baseline (``bench/_duckdb_ingest.py``): DuckDB reads the same
  file and applies the same rules (typing by kind, missing / unreadable / allowed / range /
  pattern, duplicate keys by record number) in SQL generated from the spec, and delta-rs writes
  silver and quarantine (no bronze, no merge), with ``--baseline-threads`` threads (2);
- ``engine first`` / ``engine rerun``: the DuckDB engine (``lakeside.ingest_duckdb``, what the
  ingest jobs run on the embedded backend): the day into empty tables of its own lake, then the
  same day again; no JVM;
- ``first``: the Spark engine's first ingest of the day into empty tables (``lakeside.ingest``
  extract + transform + load, ``max_rejected_share=1.0``);
- ``rerun``: the same day again, same files and run id (what an Airflow retry costs).

Afterwards (untimed) the two engines' bronze, silver and quarantine are compared row for row.

Rates are input records per second. The session (JVM) start is timed but not part of any
rate. The target of issue #10.2 is 100,000 records/s for the first ingest at 1M rows on 2 cores.
``--skip-spark`` leaves the Spark engine out (the 10M memory run of the DuckDB engine).
Results: a table on stdout and ``bench/results/ingest_throughput.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _report as report
from _report import log, timed

NAME = "ingest_throughput"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated loans (default 1,000,000)")
    parser.add_argument("--bad-share", type=float, default=0.01, help="share of rows given a fault (default 0.01)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2024, 1, 15), help="logical date")
    parser.add_argument("--workdir", type=Path, default=None, help="where the CSV and the lake go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the CSV and the lake afterwards")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default=os.environ.get("LAKESIDE_SPARK_DRIVER_MEMORY", "2g"),
                        help="spark.driver.memory (default: $LAKESIDE_SPARK_DRIVER_MEMORY or Lakeside's 2g)")
    parser.add_argument("--skip-baseline", action="store_true", help="leave out the DuckDB baseline")
    parser.add_argument("--baseline-threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument("--skip-rerun", action="store_true", help="leave out the rerun of the day")
    parser.add_argument("--skip-spark", action="store_true", help="leave out the Spark engine")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-")) if own_workdir else args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    lake_root = Path(tempfile.mkdtemp(prefix="lake-", dir=workdir))

    # Before anything reads the settings or starts the JVM: driver memory only applies at JVM start.
    os.environ["LAKESIDE_SPARK_DRIVER_MEMORY"] = args.driver_memory
    os.environ["LAKESIDE_HOME"] = str(workdir / "home")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    from lakeside import ingest
    from lakeside.config import settings
    from lakeside.datasets import loans

    spec = loans.SPEC
    run_id = f"bench__{args.day.isoformat()}T00:00:00+00:00"
    log(f"{NAME}: {args.rows:,} rows, bad share {args.bad_share}, workdir {workdir}")
    try:
        # --- the raw file, untimed ---------------------------------------------------------
        csv_path, records, gen_seconds = write_raw_csv(args, workdir)
        size_mb = csv_path.stat().st_size / 2**20
        log(f"raw CSV: {records:,} records, {size_mb:,.1f} MiB, generated in {gen_seconds:.1f}s -> {csv_path}")
        files = [str(csv_path)]
        steps: dict[str, report.Measure] = {}
        result: dict = {}

        # --- (c) DuckDB baseline (before the JVM exists, so it has the machine to itself) -
        if not args.skip_baseline:
            import _duckdb_ingest

            baseline_dir = Path(tempfile.mkdtemp(prefix="duckdb-", dir=workdir))
            with timed(f"DuckDB baseline: same rules, silver + quarantine ({args.baseline_threads} threads)") \
                    as steps["duckdb"]:
                result["duckdb"] = _duckdb_ingest.ingest(str(csv_path), spec, baseline_dir, args.baseline_threads)
            log(f"duckdb: {result['duckdb']}")
            shutil.rmtree(baseline_dir, ignore_errors=True)
            gc.collect()

        # --- the DuckDB engine (the embedded backend's ingest), before the JVM exists ------
        from lakeside import ingest_duckdb
        from lakeside.tables import Lake

        engine_lake = Lake(Path(tempfile.mkdtemp(prefix="lake-duckdb-", dir=workdir)), backend="embedded")
        with timed("DuckDB engine: first ingest (extract + transform + load)", {"python": None}) as steps["engine"]:
            engine_first = ingest_duckdb.run(engine_lake, files, spec, args.day, run_id, max_rejected_share=1.0)
        result["engine"] = describe(engine_first, engine_lake)
        if not args.skip_rerun:
            with timed("DuckDB engine: rerun of the same day", {"python": None}) as steps["engine_rerun"]:
                engine_rerun = ingest_duckdb.run(engine_lake, files, spec, args.day, run_id, max_rejected_share=1.0)
            result["engine_rerun"] = describe(engine_rerun, engine_lake)
        gc.collect()
        if args.skip_spark:
            result["checks"] = engine_checks(records, result)
            result["csv"] = {"path": str(csv_path), "records": records, "mib": round(size_mb, 1)}
            print_and_save(args, records, steps, result)
            return 0 if all(ok for _, ok, _ in result["checks"]) else 1

        # --- Spark session (timed, not part of any rate) ----------------------------------
        from lakeside.spark import get_spark

        with timed("Spark session start") as steps["session"]:
            spark = get_spark(f"bench:{NAME}", master=args.master)
            jvm_pid = _jvm_pid(spark)
        watch = {"python": None, "jvm": jvm_pid}
        conf = spark.sparkContext.getConf()
        result["spark"] = {
            "master": spark.sparkContext.master,
            "default_parallelism": spark.sparkContext.defaultParallelism,
            "driver_memory": conf.get("spark.driver.memory", None),
            "jvm_max_heap_mb": round(spark._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20),
            "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
            "lakeside_shuffle_partitions_setting": settings().spark_shuffle_partitions,
        }
        log(f"Spark {spark.version}: {result['spark']}")
        lake = Lake(lake_root, backend="embedded", spark=spark)

        def run_ingest():
            raw = ingest.extract(spark, files, spec)
            batch = ingest.transform(raw, spec, args.day, run_id)
            return ingest.load(lake, batch, spec, args.day, run_id, files, max_rejected_share=1.0)

        # --- (a) first ingest of the day into empty tables --------------------------------
        with timed("first ingest (extract + transform + load)", watch) as steps["first"]:
            first = run_ingest()
        result["first"] = describe(first, lake)
        log(f"first: {first.rows_in:,} in = {first.rows_valid:,} silver + {first.rows_rejected:,} quarantine; "
            f"versions {result['first']['versions']}")

        # --- (b) idempotent rerun: same files, same run id --------------------------------
        if not args.skip_rerun:
            with timed("rerun of the same day (same files, same run id)", watch) as steps["rerun"]:
                rerun = run_ingest()
            result["rerun"] = describe(rerun, lake)
            log(f"rerun: inserted {rerun.silver_inserted:,}, updated {rerun.silver_updated:,}; "
                f"versions {result['rerun']['versions']}")

        spark.stop()
        result["checks"] = checks(records, result) + engine_checks(records, result, same_as=(lake, engine_lake))
        result["csv"] = {"path": str(csv_path), "records": records, "mib": round(size_mb, 1),
                         "generate_seconds": round(gen_seconds, 1)}
        print_and_save(args, records, steps, result)
        return 0 if all(ok for _, ok, _ in result["checks"]) else 1
    finally:
        if args.keep:
            log(f"kept {workdir}")
        elif own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            shutil.rmtree(lake_root, ignore_errors=True)
            shutil.rmtree(workdir / "home", ignore_errors=True)


def write_raw_csv(args: argparse.Namespace, workdir: Path) -> tuple[Path, int, float]:
    from lakeside.datasets import faults, loans

    start = time.perf_counter()
    log("generating the raw CSV (not timed) ...")
    typed = loans.generate(args.rows, seed=args.seed, issue_month=args.day, first_id=1)
    raw = faults.inject(loans.to_raw(typed), loans.SPEC, args.bad_share, seed=args.seed)
    del typed
    path = workdir / "landing" / "loans" / args.day.isoformat() / f"loans-{args.day.isoformat()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw.to_csv(path, index=False)
    records = len(raw)
    del raw
    gc.collect()
    return path, records, time.perf_counter() - start


def describe(ingest_report, lake) -> dict:
    """The ingest report plus what the tables hold afterwards (read with delta-rs, untimed)."""
    from deltalake import DeltaTable

    tables = {}
    for layer in ("bronze", "quarantine", "silver"):
        table = lake.table(f"{layer}.loans")
        delta = DeltaTable(table.uri)
        last = delta.history(1)[0]
        tables[layer] = {
            "version": delta.version(),
            "rows": delta.to_pyarrow_dataset().count_rows(),
            "files": len(delta.file_uris()),
            "last_operation": last.get("operation"),
        }
    return {
        "rows_in": ingest_report.rows_in,
        "rows_valid": ingest_report.rows_valid,
        "rows_rejected": ingest_report.rows_rejected,
        "silver_inserted": ingest_report.silver_inserted,
        "silver_updated": ingest_report.silver_updated,
        "reasons": ingest_report.reasons,
        "versions": {layer: t["version"] for layer, t in tables.items()},
        "tables": tables,
    }


def checks(records: int, result: dict) -> list[tuple[str, bool, str]]:
    first, rerun = result["first"], result.get("rerun")
    out = []
    for label, r in (("first", first), ("rerun", rerun)):
        if r is None:
            continue
        total = r["rows_valid"] + r["rows_rejected"]
        out.append((f"{label}: rows_in == silver + quarantine", r["rows_in"] == total,
                    f"{r['rows_in']:,} vs {r['rows_valid']:,} + {r['rows_rejected']:,} = {total:,}"))
    out.append(("rows_in == records in the CSV", first["rows_in"] == records, f"{first['rows_in']:,} vs {records:,}"))
    if "duckdb" in result:
        d = result["duckdb"]
        out.append(("DuckDB: rows_in == records, same silver / quarantine counts as Spark",
                    (d["rows_in"], d["silver"], d["quarantine"]) == (records, first["rows_valid"], first["rows_rejected"]),
                    f"{d['rows_in']:,} = {d['silver']:,} + {d['quarantine']:,} (Spark {first['rows_valid']:,} + "
                    f"{first['rows_rejected']:,})"))
    last = rerun or first
    t = last["tables"]
    out.append(("tables hold the day once (bronze, silver, quarantine rows)",
                (t["bronze"]["rows"], t["silver"]["rows"], t["quarantine"]["rows"])
                == (last["rows_in"], last["rows_valid"], last["rows_rejected"]),
                f"bronze {t['bronze']['rows']:,}, silver {t['silver']['rows']:,}, quarantine {t['quarantine']['rows']:,}"))
    if rerun is not None:
        out.append(("rerun changes no silver row", rerun["silver_inserted"] == 0 and rerun["silver_updated"] == 0,
                    f"inserted {rerun['silver_inserted']:,}, updated {rerun['silver_updated']:,}"))
        out.append(("rerun adds no silver version", rerun["versions"]["silver"] == first["versions"]["silver"],
                    (f"silver v{first['versions']['silver']} -> v{rerun['versions']['silver']} "
                     f"(last commit: {t['silver']['last_operation']})")))
    return out


def engine_checks(records: int, result: dict, same_as=None) -> list[tuple[str, bool, str]]:
    """The DuckDB engine's counts, its rerun, and (given both lakes) the same tables as Spark's."""
    first, rerun = result["engine"], result.get("engine_rerun")
    out = [("DuckDB engine: rows_in == records == silver + quarantine",
            first["rows_in"] == records == first["rows_valid"] + first["rows_rejected"],
            f"{first['rows_in']:,} = {first['rows_valid']:,} + {first['rows_rejected']:,}")]
    if rerun is not None:
        out.append(("DuckDB engine: rerun changes no silver row and adds no version",
                    (rerun["silver_inserted"], rerun["silver_updated"]) == (0, 0)
                    and rerun["versions"]["silver"] == first["versions"]["silver"],
                    f"inserted {rerun['silver_inserted']:,}, updated {rerun['silver_updated']:,}"))
    if same_as is not None:
        spark_lake, engine_lake = same_as
        for layer in ("bronze", "silver", "quarantine"):
            mine, theirs = (_sorted_rows(lake, f"{layer}.loans") for lake in (engine_lake, spark_lake))
            same = mine.column_names == theirs.column_names and all(
                mine.column(c).equals(theirs.column(c)) for c in mine.column_names)  # nullability aside
            out.append((f"DuckDB engine: {layer} equals the Spark engine's, row for row", same,
                        f"{mine.num_rows:,} vs {theirs.num_rows:,} rows"))
    return out


def _sorted_rows(lake, name: str):
    table = lake.table(name).to_arrow()
    return table.drop_columns(["_run_id"] if "_run_id" in table.column_names else []).sort_by(
        [("_source_file", "ascending"), ("_row", "ascending")])


TARGET_RECORDS_PER_S = 100_000


def print_and_save(args, records: int, steps: dict, result: dict) -> None:
    def rate(step: str) -> float | None:
        return records / steps[step].seconds if step in steps else None

    def peak(step: str, proc: str) -> float | None:
        return steps[step].peak_mb.get(proc) if step in steps else None

    def cpu(step: str, proc: str) -> float | None:
        return steps[step].cpu_s.get(proc) if step in steps else None

    def load(step: str) -> float | None:
        return steps[step].load_before[0] if step in steps and steps[step].load_before else None

    first, rerun = result.get("first"), result.get("rerun")
    rows = [
        ["DuckDB baseline (c)", records, _s(steps, "duckdb"), rate("duckdb"), cpu("duckdb", "python"), None,
         peak("duckdb", "python"), None, load("duckdb"), "-"],
        ["DuckDB engine: first ingest", records, _s(steps, "engine"), rate("engine"), cpu("engine", "python"), None,
         peak("engine", "python"), None, load("engine"), _versions(result["engine"])],
    ]
    if "engine_rerun" in steps:
        rows.append(["DuckDB engine: rerun, same day", records, _s(steps, "engine_rerun"), rate("engine_rerun"),
                     cpu("engine_rerun", "python"), None, peak("engine_rerun", "python"), None, load("engine_rerun"),
                     _versions(result["engine_rerun"])])
    if first is not None:
        rows += _spark_rows(steps, records, first, rerun, rate, cpu, peak, load)
    print(flush=True)
    report.table(["step", "records", "wall s", "records/s", "CPU py s", "CPU JVM s", "peak py MiB", "peak JVM MiB",
                  "load", "versions b/q/s"],
                 rows, title=f"{NAME}: {args.rows:,} generated loans, {records:,} CSV records, bad share {args.bad_share}")
    busy = [k for k, m in steps.items() if m.load_before and m.load_before[0] > (os.cpu_count() or 1)]
    if busy:
        print(f"WARNING: the machine was busy (1-minute load average above {os.cpu_count()} CPUs) before "
              f"{', '.join(busy)}: wall times are stretched; compare CPU seconds.", flush=True)
    cpu_first = (cpu("first", "python") or 0) + (cpu("first", "jvm") or 0)
    ratios = {
        "DuckDB engine first ingest records/s / target 100,000": (rate("engine") or 0) / TARGET_RECORDS_PER_S,
        "DuckDB engine first ingest / DuckDB baseline (time)": _ratio(steps, "engine", "duckdb"),
        "DuckDB engine first ingest / Spark first ingest (time)": _ratio(steps, "engine", "first"),
        "Spark first ingest records/s / target 100,000": (rate("first") or 0) / TARGET_RECORDS_PER_S,
        "Spark first ingest records per CPU s (py + JVM)": records / cpu_first if cpu_first else None,
        "Spark rerun / first (time)": _ratio(steps, "rerun", "first"),
        "Spark first ingest / DuckDB baseline (time)": _ratio(steps, "first", "duckdb"),
        "Spark first ingest / DuckDB baseline (CPU s)": cpu_first / cpu("duckdb", "python")
        if cpu_first and cpu("duckdb", "python") else None,
    }
    print(flush=True)
    report.table(["ratio", "value"], [[k, v] for k, v in ratios.items()])
    print(flush=True)
    runs = [("DuckDB engine first", result["engine"]), ("DuckDB engine rerun", result.get("engine_rerun")),
            ("Spark first", first), ("Spark rerun", rerun)]
    runs = [(label, r) for label, r in runs if r is not None]
    report.table(["count", *[label for label, _ in runs]], [
        [label, *[r[key] for _, r in runs]] for label, key in (
            ("rows_in", "rows_in"), ("silver (valid)", "rows_valid"), ("quarantine (refused)", "rows_rejected"),
            ("silver inserted", "silver_inserted"), ("silver updated", "silver_updated"))
    ])
    print(flush=True)
    report.table(["check", "ok", "detail"], [list(c) for c in result["checks"]])
    print(flush=True)
    report.write_json(NAME, {
        "args": {k: str(v) if isinstance(v, (Path, dt.date)) else v for k, v in vars(args).items()},
        "records": records,
        "steps": {k: {**m.to_dict(), "records_per_s": round(rate(k), 1) if k != "session" else None}
                  for k, m in steps.items()},
        "ratios": {k: None if v is None else round(v, 3) for k, v in ratios.items()},
        **{k: v for k, v in result.items() if k != "checks"},
        "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in result["checks"]],
    })


def _spark_rows(steps, records, first, rerun, rate, cpu, peak, load) -> list[list]:
    rows = [
        ["Spark session start (JVM)", None, _s(steps, "session"), None, cpu("session", "python"), None,
         peak("session", "python"), None, load("session"), "-"],
        ["Spark first ingest (a)", records, _s(steps, "first"), rate("first"), cpu("first", "python"), cpu("first", "jvm"),
         peak("first", "python"), peak("first", "jvm"), load("first"), _versions(first)],
    ]
    if rerun is not None:
        rows.append(["Spark rerun, same day (b)", records, _s(steps, "rerun"), rate("rerun"), cpu("rerun", "python"),
                     cpu("rerun", "jvm"), peak("rerun", "python"), peak("rerun", "jvm"), load("rerun"), _versions(rerun)])
    return rows


def _s(steps: dict, step: str) -> float | None:
    return round(steps[step].seconds, 1) if step in steps else None


def _ratio(steps: dict, a: str, b: str) -> float | None:
    return steps[a].seconds / steps[b].seconds if a in steps and b in steps else None


def _versions(r: dict) -> str:
    v = r["versions"]
    return f"{v['bronze']}/{v['quarantine']}/{v['silver']}"


def _jvm_pid(spark) -> int | None:
    try:
        return int(spark._jvm.java.lang.ProcessHandle.current().pid())
    except Exception:  # noqa: BLE001 - memory of the JVM is a nice-to-have
        proc = getattr(spark.sparkContext._gateway, "proc", None)
        return getattr(proc, "pid", None)


if __name__ == "__main__":
    sys.exit(main())
