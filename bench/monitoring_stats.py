"""Monitoring statistics at scale: the profiles of both samples and the drift (PSI, KS, JS) of
every column, for a 50,000-row baseline against ``--rows`` recent rows of generated loans, two
ways side by side in one run, each in a process of its own:

- **Spark**: ``lakeside.monitoring.spark_stats`` on the Delta table read by Spark (``local[*]``,
  the recent rows cached once), what the monitoring DAG uses from
  ``LAKESIDE_MONITORING_SPARK_ROWS`` (1M) recent rows on;
- **pandas**: ``lakeside.monitoring.profile`` and ``drift`` on the table read with delta-rs.

Each is timed end to end (the process, JVM start included) with the peak RSS of its process
tree. Every profile figure and drift value must be equal within 1e-9 (relative), else the run
exits 1.

    .venv/bin/python bench/monitoring_stats.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import _report as report
from _report import log

NAME = "monitoring_stats"
REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["loan_amnt", "int_rate", "annual_inc", "dti", "term", "grade", "verification_status", "addr_state",
           "emp_length", "issue_d"]
MARK = "RESULT "

ENGINE = r'''
import json, sys, time
from lakeside.tables import Lake
engine, lake_root, columns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
started = time.perf_counter()
if engine == "spark":
    from lakeside.monitoring import spark_stats
    from lakeside.spark import get_spark
    lake = Lake(lake_root, backend="embedded", spark=get_spark("bench-monitoring", master="local[*]"))
    baseline, recent = lake.table("bench.baseline").read(), lake.table("bench.recent").read().cache()
    profiles, drifts = spark_stats.profiles, spark_stats.drifts
else:
    from lakeside.monitoring import drift, profile
    lake = Lake(lake_root, backend="embedded")
    baseline, recent = (lake.table(f"bench.{n}").to_arrow().to_pandas() for n in ("baseline", "recent"))
    profiles, drifts = profile.profiles, drift.drifts
found = {"profiles": profiles(baseline, columns) + profiles(recent, columns),
         "drifts": [vars(d) for d in drifts(baseline, recent, columns)]}
print("RESULT " + json.dumps({"seconds": time.perf_counter() - started, **found}, default=str))
'''


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="recent rows")
    parser.add_argument("--baseline-rows", type=int, default=50_000)
    parser.add_argument("--chunk-rows", type=int, default=500_000, help="rows generated per append")
    report.add_work_dir_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with report.work_dir(args, "bench-monitoring-") as workdir:
        lake_root = workdir / "lake"
        write_samples(args, lake_root)
        results = {engine: run(engine, lake_root) for engine in ("spark", "pandas")}
        difference = compare(results["spark"], results["pandas"])
        print_and_save(args, results, difference)
        return 0 if difference["equal"] else 1


def write_samples(args: argparse.Namespace, lake_root: Path) -> None:
    """A baseline of generated loans and ``--rows`` recent ones, their interest rates 1 point up."""
    from lakeside.datasets import loans
    from lakeside.tables import Lake

    lake = Lake(lake_root, backend="embedded")
    lake.table("bench.baseline").overwrite(loans.generate(args.baseline_rows, seed=args.seed)[COLUMNS])
    recent = lake.table("bench.recent")
    with report.timed(f"bench.recent: {args.rows:,} rows"):
        for first in range(0, args.rows, args.chunk_rows):
            chunk = loans.generate(min(args.chunk_rows, args.rows - first), seed=args.seed + 1 + first)[COLUMNS]
            chunk["int_rate"] = chunk["int_rate"] + 1.0
            (recent.overwrite if first == 0 else recent.append)(chunk)


def run(engine: str, lake_root: Path) -> dict:
    log(f"{engine}: profiles and drift ...")
    out, wall, peak_mib = report.run_with_peak_rss(
        [sys.executable, "-c", ENGINE, engine, str(lake_root), ",".join(COLUMNS)], str(REPO),
        {**os.environ, "PYTHONPATH": str(REPO / "include")})
    printed = json.loads(next(line for line in out.splitlines() if line.startswith(MARK))[len(MARK):])
    log(f"{engine}: {wall:.1f} s, peak RSS {peak_mib:,.0f} MiB")
    return {"engine": engine, "wall_s": wall, "inside_s": printed["seconds"], "peak_rss_mib": peak_mib,
            "profiles": printed["profiles"], "drifts": printed["drifts"]}


def compare(spark: dict, pandas: dict) -> dict:
    """Every figure of both engines, paired: equal within 1e-9 relative (text exactly)."""
    worst, unequal = 0.0, []
    pairs = [*zip(spark["profiles"], pandas["profiles"]), *zip(spark["drifts"], pandas["drifts"])]
    for mine, theirs in pairs:
        for key, value in theirs.items():
            other = mine.get(key)
            if isinstance(value, float) and isinstance(other, float):
                gap = abs(other - value) / max(abs(value), 1e-300) if not (math.isnan(value) and math.isnan(other)) else 0
                worst = max(worst, gap)
                if gap > 1e-9:
                    unequal.append(f"{theirs['column']}.{key}: {other} vs {value}")
            elif other != value:
                unequal.append(f"{theirs['column']}.{key}: {other!r} vs {value!r}")
    same_shape = len(spark["profiles"]) == len(pandas["profiles"]) and len(spark["drifts"]) == len(pandas["drifts"])
    return {"equal": same_shape and not unequal, "max_relative_gap": worst, "unequal": unequal[:10],
            "figures": sum(len(theirs) for _, theirs in pairs)}


def print_and_save(args: argparse.Namespace, results: dict, difference: dict) -> None:
    rows = [[r["engine"], f"{args.rows:,}", f"{r['wall_s']:.1f}", f"{r['inside_s']:.1f}",
             f"{args.rows / r['wall_s']:,.0f}", f"{r['peak_rss_mib']:,.0f}"] for r in results.values()]
    report.table(["engine", "recent rows", "end to end s", "statistics s", "rows/s", "peak RSS MiB"], rows)
    spark, pandas = results["spark"], results["pandas"]
    drifted = {d["column"]: round(d["psi"], 3) for d in pandas["drifts"] if d["psi"] > 0.1}
    print(f"Spark / pandas end to end: {pandas['wall_s'] / spark['wall_s']:.2f}x faster; peak RSS Spark "
          f"{spark['peak_rss_mib']:,.0f} MiB vs pandas {pandas['peak_rss_mib']:,.0f} MiB; "
          f"{difference['figures']} figures equal: {difference['equal']} (largest relative gap "
          f"{difference['max_relative_gap']:.1e}) {difference['unequal']}; PSI > 0.1: {drifted}; load {os.getloadavg()}")
    summary = {name: {k: v for k, v in r.items() if k not in ("profiles", "drifts")} for name, r in results.items()}
    report.write_json(NAME, {"args": vars(args) | {"workdir": str(args.workdir)}, **summary, "difference": difference,
                             "load": os.getloadavg()})


if __name__ == "__main__":
    sys.exit(main())
