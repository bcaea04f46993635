"""The main command's work on the embedded default: the daily ingest DAG for a few logical
dates, then the weekly retrain on the last one (MLflow server started or reused on loopback);
then where the results are: tables read back with delta-rs and Spark, the MLflow URL, the
champion and its holdout metrics; and the champion answering on loopback (BentoML), with a
curl line to call it.

    python -m lakeside.demo [--dates 2024-01-01,2024-01-02,2024-01-03] [--search-budget 120]

Airflow is driven through its CLI (``airflow db migrate``, ``airflow dags test``), so this
module imports neither Airflow nor Spark until it reads the tables at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from lakeside.config import settings

DEFAULT_DATES = "2024-01-01,2024-01-02,2024-01-03"
REPO = Path(__file__).resolve().parents[2]


def demo_environment() -> dict[str, str]:
    """Airflow on SQLite under $LAKESIDE_HOME, local Spark, demo data generated when missing."""
    config = settings()
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update({
        "LAKESIDE_HOME": str(config.home),
        "AIRFLOW_HOME": env.get("AIRFLOW_HOME", str(config.airflow_home)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "BENTOML_HOME": env.get("BENTOML_HOME", str(config.home / "bentoml")),
        "LAKESIDE_GENERATE_MISSING_LANDING": env.get("LAKESIDE_GENERATE_MISSING_LANDING", "true"),
        "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", sys.executable),
        "PATH": os.pathsep.join([venv_bin, env.get("PATH", os.defpath)]),
    })
    env.setdefault("AIRFLOW_CONN_SPARK_DEFAULT", '{"conn_type": "spark", "host": "local[*]"}')
    return env


def airflow(env: dict[str, str], *args: str, log: Path) -> None:
    """Run an Airflow CLI command, its output to ``log``; fail with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        done = subprocess.run(["airflow", *args], env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"`airflow {' '.join(args)}` failed (exit {done.returncode}); log {log}:\n{tail}")


def run_dates(dates: list[str], search_budget_s: int) -> str:
    """Ingest each date, then retrain on the last; returns the MLflow URL."""
    from lakeside import tracking

    env = demo_environment()
    logs = settings().home / "logs"
    print(f"Airflow metadata: SQLite under {env['AIRFLOW_HOME']}", flush=True)
    airflow(env, "db", "migrate", log=logs / "airflow-db-migrate.log")
    for day in dates:
        print(f"daily_ingest {day} ...", flush=True)
        airflow(env, "dags", "test", "daily_ingest", day, log=logs / f"daily_ingest-{day}.log")
    uri = tracking.ensure_server()
    env["MLFLOW_TRACKING_URI"] = uri
    print(f"weekly_retrain {dates[-1]} (search budget {search_budget_s}s, MLflow {uri}) ...", flush=True)
    conf = json.dumps({"time_budget_s": search_budget_s})
    airflow(env, "dags", "test", "weekly_retrain", dates[-1], "-c", conf, log=logs / f"weekly_retrain-{dates[-1]}.log")
    return uri


def champion_summary(uri: str) -> str:
    """The champion's version, what it is and its holdout metrics, from the registry."""
    from mlflow import MlflowClient

    from lakeside.retrain import model_name

    client = MlflowClient(uri)
    name = model_name()
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except Exception:  # noqa: BLE001 - the registry answers "not found" in several ways
        return f"No champion for {name} yet: see the gate's decision in {uri}"
    tags = champion.tags
    metrics = ", ".join(f"{m} {float(tags[f'gate.{m}']):.4f}" for m in ("rmse", "mae", "r2") if f"gate.{m}" in tags)
    return (
        f"MLflow: {uri}\n"
        f"Champion: {name} version {champion.version} ({tags.get('family', '?')}), trained on "
        f"{tags.get('snapshot_table', '?')} version {tags.get('snapshot_version', '?')}\n"
        f"  holdout: {metrics}\n"
        f"  model: models:/{name}@champion  (run {champion.run_id})"
    )


def serve_champion(uri: str) -> str:
    """Make sure the champion answers on loopback (the retrain deploys after a promotion; this
    also brings the server back after a reboot); the endpoint, a curl line and its answer."""
    import mlflow

    from lakeside.retrain import model_name
    from lakeside.serving.deploy import curl_line, deploy, example_request, post

    mlflow.set_tracking_uri(uri)
    deployment = deploy(model_name())
    body = example_request(deployment.model, deployment.version)
    return (
        f"Serving {deployment.model} version {deployment.version} (Bento {deployment.bento}, {deployment.action}) "
        f"at {deployment.endpoint}  docs: {deployment.endpoint}/docs  model: {deployment.endpoint}/model\n"
        f"  {curl_line(deployment.endpoint, body)}\n"
        f"  answer: {json.dumps(post(deployment.endpoint, body))}\n"
        f"  stop it with: .venv/bin/python -m lakeside.serving.deploy --stop"
    )


def summary() -> str:
    """Row counts read by delta-rs and by Spark, and the newest quarantine reasons."""
    from lakeside.spark import get_spark
    from lakeside.tables import Lake

    config = settings()
    embedded = Lake(config.lake_root, backend="embedded")
    spark = get_spark("lakeside-demo-summary", master="local[1]")
    through_spark = Lake(config.lake_root, backend="embedded", spark=spark)
    lines = [f"Tables under {config.lake_root}:"]
    for name in ("bronze.loans", "silver.loans", "quarantine.loans"):
        table = embedded.table(name)
        rows_rs = table.to_arrow().num_rows
        rows_spark = through_spark.table(name).read().count()
        lines.append(f"  {name:<18} version {table.version():>3}  rows: delta-rs {rows_rs:>6}, Spark {rows_spark:>6}  {table.uri}")
    reasons = through_spark.table("quarantine.loans").read().groupBy("_reason").count()
    lines.append("Most frequent quarantine reasons:")
    for row in reasons.orderBy("count", ascending=False).limit(5).collect():
        lines.append(f"  {row['count']:>4}  {row['_reason']}")
    lines.append(f"Airflow logs: {config.home / 'logs'} and {config.airflow_home / 'logs'}")
    spark.stop()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dates", default=os.environ.get("LAKESIDE_DEMO_DATES", DEFAULT_DATES))
    parser.add_argument("--search-budget", type=int, default=int(os.environ.get("LAKESIDE_DEMO_SEARCH_BUDGET", "120")))
    args = parser.parse_args(argv)
    uri = run_dates([d.strip() for d in args.dates.split(",") if d.strip()], args.search_budget)
    print(summary())
    print(champion_summary(uri))
    print(serve_champion(uri))
    return 0


if __name__ == "__main__":
    sys.exit(main())
