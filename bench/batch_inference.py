"""Batch inference: one registered loans champion scores ``--rows`` rows of ``silver.loans`` (one
logical date) two ways, side by side in one run, each in a process of its own:

- **Spark**: the job, ``jobs/batch_inference.py`` (``mlflow.pyfunc.spark_udf``, Arrow batches per
  partition, ``local[*]``, the Delta Spark connector when ``make setup`` fetched it), into
  ``predictions.<model>``;
- **pandas**: one Python process reads the day's rows with delta-rs, calls ``pyfunc.predict`` on
  them all and writes the same columns with delta-rs.

Each is timed end to end (the process, JVM start included) and on scoring alone (read, predict,
write: timed inside the process); peak RSS is the largest sum of the process tree's resident
memory, sampled every 0.2 s. Both tables must hold the same keys with predictions equal within
1e-9, else the run exits 1. The model is a short search on ``--train-rows`` generated loans in
a registry of this run's own (SQLite in the work dir). Target (issue 18) at 10M rows: Spark
end to end ≥ 0.8× pandas' rows/s with a lower peak RSS.

    .venv/bin/python bench/batch_inference.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import _report as report
from _report import log

NAME = "batch_inference"
MODEL = "bench_loans_int_rate"
TARGET = "int_rate"
LEAKAGE = ("loan_status", "total_pymnt")
DAY = "2024-02-01"
REPO = Path(__file__).resolve().parents[1]

PANDAS_SCORER = r'''
import json, sys, time
import mlflow, pyarrow as pa
from lakeside.tables import Lake
lake_root, model_uri, version, day = sys.argv[1:5]
started = time.perf_counter()
lake = Lake(lake_root, backend="embedded")
source = lake.table("silver.loans")
frame = source.to_arrow().to_pandas()
frame = frame[frame["_ingest_date"].astype(str) == day]
pyfunc = mlflow.pyfunc.load_model(model_uri)
inputs = pyfunc.metadata.get_input_schema().input_names()
predicted = time.perf_counter()
predictions = pyfunc.predict(frame[inputs])
predict_s = time.perf_counter() - predicted
out = frame[["id"]].assign(prediction=predictions, model_version=version)
lake.table("bench.pandas_predictions").overwrite(out)
print(json.dumps({"rows": len(out), "scoring_s": time.perf_counter() - started, "predict_s": predict_s}))
'''


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the scored day")
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--family", default="hist_gradient_boosting")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--chunk-rows", type=int, default=500_000, help="rows generated per append")
    report.add_work_dir_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with report.work_dir(args, "bench-batch-") as workdir:
        lake_root = workdir / "home" / "lake"
        tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
        os.environ.update({"LAKESIDE_HOME": str(workdir / "home"), "MLFLOW_TRACKING_URI": tracking_uri,
                           "LAKESIDE_REGISTRY_REPLAY": "off"})
        version = register(args, workdir, lake_root)
        write_day(args, lake_root)
        spark = run_measured("spark", [sys.executable, str(REPO / "jobs" / "batch_inference.py"), "--model", MODEL,
                                       "--alias", "champion", "--source", "silver.loans", "--key", "id",
                                       "--logical-date", DAY])
        pandas = run_measured("pandas", [sys.executable, "-c", PANDAS_SCORER, str(lake_root),
                                         f"models:/{MODEL}/{version}", version, DAY])
        difference = compare(lake_root)
        print_and_save(args, spark, pandas, difference)
        return 0 if difference["same_keys"] and difference["max_abs_diff"] <= 1e-9 else 1


def register(args: argparse.Namespace, workdir: Path, lake_root: Path) -> str:
    import mlflow

    from lakeside import snapshot
    from lakeside.automl import search
    from lakeside.datasets import loans
    from lakeside.registry import promote, register_challenger
    from lakeside.tables import Lake

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.create_experiment(f"bench-{NAME}", artifact_location=str(workdir / "artifacts"))
    table = Lake(lake_root, backend="embedded").table("silver.loans")
    table.overwrite(loans.generate(args.train_rows, seed=args.seed, first_id=1).assign(_ingest_date="2024-01-01"))
    pinned = snapshot.take(table, ["id"])
    with report.timed(f"search: {args.family}, {args.train_rows:,} rows"):
        found = search(pinned, TARGET, time_budget_s=args.budget, families=[args.family], experiment=f"bench-{NAME}",
                       exclude=LEAKAGE, ordinals={"grade": tuple("ABCDEFG")}, seed=args.seed,
                       max_trials_per_family=3, cv_folds=3)
    version = register_challenger(found.best_model_uri, MODEL)
    promote(MODEL, version)
    return version


def write_day(args: argparse.Namespace, lake_root: Path) -> None:
    """``--rows`` fresh loans appended to silver.loans as the rows ingested on ``DAY``."""
    from lakeside.datasets import loans
    from lakeside.tables import Lake

    table = Lake(lake_root, backend="embedded").table("silver.loans")
    with report.timed(f"silver.loans: {args.rows:,} rows for {DAY}"):
        for first in range(0, args.rows, args.chunk_rows):
            count = min(args.chunk_rows, args.rows - first)
            chunk = loans.generate(count, seed=args.seed + 1 + first, first_id=10_000_000 + first)
            table.append(chunk.assign(_ingest_date=DAY))


def run_measured(engine: str, command: list[str]) -> dict:
    """Run ``command``; its wall time, peak tree RSS and the JSON it printed last."""
    log(f"{engine}: scoring ...")
    out, wall, peak_mib = report.run_with_peak_rss(command, str(REPO), {**os.environ, "PYTHONPATH": str(REPO / "include")})
    text = out[out.index("{"):] if engine == "spark" else out.strip().splitlines()[-1]
    printed = json.loads(text)
    return {"engine": engine, "rows": printed["rows"], "wall_s": wall, "scoring_s": printed.get("scoring_s", printed.get("seconds")),
            "predict_s": printed.get("predict_s"), "peak_rss_mib": peak_mib}


def compare(lake_root: Path) -> dict:
    from lakeside.tables import Lake

    lake = Lake(lake_root, backend="embedded")
    spark = lake.table(f"predictions.{MODEL}").to_arrow().to_pandas().set_index("id")["prediction"]
    pandas = lake.table("bench.pandas_predictions").to_arrow().to_pandas().set_index("id")["prediction"]
    same = set(spark.index) == set(pandas.index)
    diff = float((spark.sort_index() - pandas.sort_index()).abs().max()) if same else float("inf")
    return {"same_keys": same, "rows": len(spark), "max_abs_diff": diff}


def print_and_save(args, spark: dict, pandas: dict, difference: dict) -> None:
    rows = []
    for result in (spark, pandas):
        rows.append([result["engine"], f"{result['rows']:,}", f"{result['wall_s']:.1f}",
                     f"{result['rows'] / result['wall_s']:,.0f}",
                     f"{result['scoring_s']:.1f}" if result["scoring_s"] else "-",
                     f"{result['peak_rss_mib']:,.0f}"])
    report.table(["engine", "rows", "end to end s", "rows/s", "scoring s", "peak RSS MiB"], rows)
    ratio = (spark["rows"] / spark["wall_s"]) / (pandas["rows"] / pandas["wall_s"])
    print(f"Spark / pandas rows/s end to end: {ratio:.2f}x (target at 10M rows: >= 0.8x); peak RSS Spark "
          f"{spark['peak_rss_mib']:,.0f} MiB vs pandas {pandas['peak_rss_mib']:,.0f} MiB; predictions equal: "
          f"{difference['same_keys']} keys, max |diff| {difference['max_abs_diff']:.2e}; load {os.getloadavg()}")
    report.write_json(NAME, {"args": vars(args) | {"workdir": str(args.workdir)}, "spark": spark, "pandas": pandas,
                       "ratio_rows_per_s": ratio, "difference": difference, "load": os.getloadavg()})


if __name__ == "__main__":
    sys.exit(main())
