"""Fraud pipeline at scale: relabel + the 27-fit cross-validation + the balanced retrain, then the
exported tree's throughput against Spark's ``transform`` and against the BentoML endpoint.

    .venv/bin/python bench/fraud_pipeline.py --rows 1000000 [--parallelism 1] [--no-serve]
    .venv/bin/python bench/fraud_pipeline.py --rows 6362620          # the public set's size

In a fresh ``LAKESIDE_HOME`` under the work dir (own MLflow server, embedded tables):

1. ``silver.paysim``: the generator's rows, one partition per day of the month (``step // 24``),
   written as the daily ingest leaves them (not timed: ingest has its own bench);
2. **relabel**: the rules over every row into ``silver.fraud_labels`` (Spark);
3. **train**: the use case's trainer with its exact defaults (maxDepth {5, 10, 15} x maxBins
   {10, 20, 30}, 3 folds: 27 fits + the refit, area under PR), the balanced retrain, both
   variants evaluated, exported, checked row by row against Spark and logged to MLflow;
4. **scoring throughput** on the test-sized sample (``--score-rows``), side by side: the NumPy
   export in this process, Spark's ``PipelineModel.transform`` (written to the ``noop`` sink), and
   (unless ``--no-serve``) the registered model behind ``bentoml serve`` (``dataframe_split``
   bodies of ``--batch-rows`` rows, one client, sequential).

Wall time, CPU seconds and peak RSS of this process and the Spark JVM per step; the load average
before and after each step says how busy the machine was. Target (issue #11): relabel + CV +
balanced retrain within 30 minutes at 6.36M rows on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report as report  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parallelism", type=int, default=1, help="CrossValidator's parallel fits")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--score-rows", type=int, default=200_000)
    parser.add_argument("--batch-rows", type=int, default=1_000)
    parser.add_argument("--serve-seconds", type=float, default=30.0)
    parser.add_argument("--no-serve", action="store_true")
    parser.add_argument("--workdir", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-fraud-"))
    os.environ.update({"LAKESIDE_HOME": str(workdir / "home"), "LAKESIDE_SPARK_DRIVER_MEMORY": args.driver_memory,
                       "LAKESIDE_TABLE_BACKEND": "embedded", "LAKESIDE_SERVE_WATCH_S": "0",
                       "BENTOML_HOME": str(workdir / "bentoml"), "LAKESIDE_MODEL_PREFIX": "bench_"})
    from lakeside import retrain, tracking
    from lakeside.spark import get_spark
    from lakeside.tables import open_lake
    from lakeside.usecases.fraud import relabel, rules

    port = _free_port()
    os.environ["MLFLOW_TRACKING_URI"] = tracking.ensure_server(port=port, home=workdir / "mlflow")
    spark = get_spark("bench-fraud")
    watch = {"python": None, "jvm": int(spark._jvm.java.lang.ProcessHandle.current().pid())}
    lake = open_lake(spark)
    steps, result = [], {"rows": args.rows, "parallelism": args.parallelism, "machine": report.machine()}
    try:
        with report.timed("generate silver.paysim (not part of the target)", watch) as m:
            _write_transactions(lake, args.rows, args.seed)
        steps.append(m)
        with report.timed("relabel", watch) as m:
            labelled = relabel.relabel(lake, rules.load(), "bench-relabel")
        steps.append(m)
        result["relabel"] = labelled.to_dict() | {"days": len(labelled.days)}
        pinned = retrain.take_snapshot("fraud")
        with report.timed("train: 27-fit CV + refit + balanced retrain + evaluation + export + MLflow", watch) as m:
            trained = retrain.train("fraud", pinned, {"spark": True, "parallelism": args.parallelism})
        steps.append(m)
        result["trained"] = {k: trained[k] for k in ("variants", "best_params", "cv", "run_id", "rule_version")}
        result["target_seconds"] = sum(s.seconds for s in steps[1:])
        _print(result, steps)
        try:
            result["throughput"] = _throughput(spark, lake, trained, args, workdir)
        except Exception as error:  # noqa: BLE001 - the training figures stand on their own
            result["throughput"] = {"error": repr(error)}
    finally:
        from lakeside.serving.deploy import stop_local

        stop_local()
        tracking.stop_server(workdir / "mlflow")
    result["steps"] = [s.to_dict() for s in steps]
    _print(result, steps)
    path = report.write_json(f"fraud_pipeline_{args.rows}", result)
    report.log(f"results: {path}")
    return 0


def _write_transactions(lake, rows: int, seed: int, chunk: int = 1_000_000) -> None:
    """The generator's rows in silver's shape, appended a million at a time (bounded memory)."""
    import pyarrow as pa

    from lakeside.datasets import paysim

    table = lake.table("silver.paysim")
    for start in range(0, rows, chunk):
        frame = paysim.generate(min(chunk, rows - start), seed=seed + start)
        frame = frame.assign(
            _ingest_date=[dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in paysim.day_of(frame["step"])],
            _source_file=f"generated-{start // chunk}.csv", _row=range(start, start + len(frame)))
        data = pa.Table.from_pandas(frame, preserve_index=False).cast(pa.schema([
            *[pa.field(c, pa.int32() if k == "int" else pa.float64() if k == "double" else pa.string())
              for c, k in ((c.name, c.kind) for c in paysim.SPEC.columns)],
            pa.field("_ingest_date", pa.date32()), pa.field("_source_file", pa.string()), pa.field("_row", pa.int64())]))
        if start == 0:
            table.overwrite(data, partition_by=["_ingest_date"])
        else:
            table.append(data)


def _throughput(spark, lake, trained: dict, args, workdir: Path) -> dict:
    """Rows per second: the NumPy export, Spark's transform, the BentoML endpoint."""
    import mlflow
    import pandas as pd
    from pyspark.ml import PipelineModel

    from lakeside.usecases.fraud import INPUTS, export
    from lakeside.usecases.fraud.features import with_features, with_spark_features

    sample = lake.table("silver.fraud_labels").read().select(*INPUTS).limit(args.score_rows)
    frame = sample.toPandas()
    run = trained["run_id"]
    tree = mlflow.pyfunc.load_model(f"runs:/{run}/model").unwrap_python_model().tree
    out: dict = {"rows": len(frame)}
    started = time.perf_counter()
    export.answer(tree, with_features(frame))
    out["numpy_export_rows_per_s"] = len(frame) / (time.perf_counter() - started)
    local = mlflow.artifacts.download_artifacts(run_id=run, artifact_path="spark_pipeline", dst_path=str(workdir))
    model = PipelineModel.load(local)
    cached = with_spark_features(spark.createDataFrame(frame)).cache()
    cached.count()
    started = time.perf_counter()
    model.transform(cached).select("prediction", "probability").write.format("noop").mode("overwrite").save()
    out["spark_transform_rows_per_s"] = len(frame) / (time.perf_counter() - started)
    cached.unpersist()
    if not args.no_serve:
        out.update(_endpoint(trained, frame, args))
    if out.get("numpy_export_rows_per_s") and out.get("spark_transform_rows_per_s"):
        out["export_over_spark"] = out["numpy_export_rows_per_s"] / out["spark_transform_rows_per_s"]
    return out


def _endpoint(trained: dict, frame, args) -> dict:
    """Register the chosen variant, serve it with ``bentoml serve`` and post batches for a while."""
    from lakeside.registry import promote, register_challenger
    from lakeside.serving.deploy import deploy

    version = register_challenger(trained["model_uri"], name="bench_fraud_tree", service_kind="pyfunc")
    promote("bench_fraud_tree", version)
    deployment = deploy("bench_fraud_tree", target="local")
    url = deployment.endpoint.rstrip("/") + "/invocations"
    batches = [frame.iloc[i:i + args.batch_rows] for i in range(0, len(frame), args.batch_rows)]
    bodies = [json.dumps({"dataframe_split": json.loads(b.to_json(orient="split", index=False))}).encode()
              for b in batches]
    sent, rows, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < args.serve_seconds:
        body = bodies[sent % len(bodies)]
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 200
        sent += 1
        rows += len(batches[(sent - 1) % len(batches)])
    seconds = time.perf_counter() - started
    return {"bentoml_rows_per_s": rows / seconds, "bentoml_requests": sent, "bentoml_batch_rows": args.batch_rows}


def _print(result: dict, steps) -> None:
    print(report.table(["step", "seconds", "python CPU s", "JVM CPU s", "python peak MiB", "JVM peak MiB", "load before"],
                       [[s.name, s.seconds, s.cpu_s.get("python"), s.cpu_s.get("jvm"), s.peak_mb.get("python"),
                         s.peak_mb.get("jvm"), s.load_before] for s in steps],
                       title=f"fraud pipeline, {result['rows']:,} rows"))
    print(f"relabel + CV + balanced retrain: {result.get('target_seconds', 0):.0f} s (target 1800 s at 6.36M)")
    rows = []
    for name, v in result.get("trained", {}).get("variants", {}).items():
        rows.append([name, v["train_rows"], v["train_area_under_pr"], v["train_area_under_roc"],
                     v["test_area_under_pr"], v["test_area_under_roc"], v["added"], v["missed"], v["export_mismatches"]])
    print(report.table(["variant", "train rows", "train PR", "train ROC", "test PR", "test ROC", "added", "missed",
                        "export != Spark"], rows, title="variants"))
    print(json.dumps(result.get("throughput", {}), indent=2))


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
