"""The main command's work: run the daily ingest DAG for a few logical dates on the embedded
default, then show where the results are and read them back with delta-rs and with Spark.

    python -m lakeside.demo [--dates 2024-01-01,2024-01-02,2024-01-03]

Airflow is driven through its CLI (``airflow db migrate``, ``airflow dags test``), so this
module imports neither Airflow nor Spark until it reads the tables at the end.
"""

from __future__ import annotations

import argparse
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


def run_dates(dates: list[str]) -> None:
    env = demo_environment()
    logs = settings().home / "logs"
    print(f"Airflow metadata: SQLite under {env['AIRFLOW_HOME']}", flush=True)
    airflow(env, "db", "migrate", log=logs / "airflow-db-migrate.log")
    for day in dates:
        print(f"daily_ingest {day} ...", flush=True)
        airflow(env, "dags", "test", "daily_ingest", day, log=logs / f"daily_ingest-{day}.log")


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
    args = parser.parse_args(argv)
    run_dates([d.strip() for d in args.dates.split(",") if d.strip()])
    print(summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
