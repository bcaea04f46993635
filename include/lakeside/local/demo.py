"""The main command's work on the embedded default: every declared use case that has a demo
section runs through Airflow: the backfill of a history it needs, the daily ingest of its
sources for the demo dates, then its retrain DAG (MLflow server started or reused on loopback). Then where the results are: tables
read back with delta-rs and Spark, the MLflow URL, and per use case its champion, holdout
metrics and endpoint answering on loopback (BentoML), with a curl line to call it.

    python -m lakeside.local.demo [--use-cases loans,iris] [--search-budget 60]

Airflow is driven through its CLI: ``airflow db migrate``, then every DAG run as ``airflow dags
test`` in one Airflow process (:mod:`lakeside.local.dag_runs`), so this module imports neither
Airflow nor Spark until it reads the tables at the end. Every step prints its duration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from lakeside import usecases
from lakeside.config import settings
from lakeside.local.dag_runs import DagRunStep, write_steps
from lakeside.usecases import Pipeline, UseCase

REPO = Path(__file__).resolve().parents[3]


def demo_environment() -> dict[str, str]:
    """Airflow on SQLite under $LAKESIDE_HOME, local Spark drivers that start quickly, the embedded
    table backend, demo data generated when missing."""
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
        "LAKESIDE_TABLE_BACKEND": env.get("LAKESIDE_TABLE_BACKEND", "embedded"),
        "LAKESIDE_GENERATE_MISSING_LANDING": env.get("LAKESIDE_GENERATE_MISSING_LANDING", "true"),
        "LAKESIDE_SPARK_QUICK_START": env.get("LAKESIDE_SPARK_QUICK_START", "true"),
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


def ensure_migrated(env: dict[str, str], log: Path) -> bool:
    """``airflow db migrate`` unless this Airflow home's database was already migrated by this
    Airflow version (a marker beside it); True when it ran."""
    from importlib.metadata import version

    marker = Path(env["AIRFLOW_HOME"]) / f".lakeside-migrated-{version('apache-airflow')}"
    database = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite")
    if marker.exists() and marker.read_text() == database:
        return False
    airflow(env, "db", "migrate", log=log)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(database)
    return True


@contextmanager
def step(what: str):
    """Print ``what``, then how long it took."""
    print(f"{what} ...", flush=True)
    started = time.monotonic()
    yield
    print(f"  done in {time.monotonic() - started:.0f}s", flush=True)


def demo_use_cases(names: list[str] | None = None) -> list[UseCase]:
    """The declared use cases that have a demo section (or those named)."""
    chosen = ([usecases.get(name) for name in names if name not in usecases.PIPELINES] if names
              else usecases.all_use_cases())
    return [case for case in chosen if case.demo is not None]


def demo_pipelines(names: list[str] | None = None) -> list[Pipeline]:
    """The declared pipelines that have a demo section (or those named)."""
    chosen = ([usecases.pipeline(name) for name in names if name in usecases.PIPELINES] if names
              else usecases.all_pipelines())
    return [pipe for pipe in chosen if pipe.demo is not None]


def ingest_plan(units: list[UseCase | Pipeline]) -> dict[str, list[str]]:
    """Each demo date, in order, with the sources of the units whose demo ingests that date."""
    plan: dict[str, list[str]] = {}
    for unit in units:
        for day in unit.demo.dates:
            if unit.sources:
                plan.setdefault(day, [])
                plan[day] += [source for source in unit.sources if source not in plan[day]]
    return dict(sorted(plan.items()))


def retrain_day(case: UseCase, ingested: list[str]) -> str:
    """The logical date of a use case's demo retrain: its last demo or backfill date, else the
    last date the demo ingested (a use case on reference tables only), else 2024-01-01."""
    own = [*case.demo.dates, *(backfill.date for backfill in case.demo.backfills)]
    if own:
        return max(own)
    return ingested[-1] if ingested else "2024-01-01"


def run(cases: list[UseCase], search_budget_s: int | None, pipelines: list[Pipeline] = ()) -> str:
    """Ingest the demo dates of every source the use cases and pipelines read, run each pipeline's
    DAG for its dates, then retrain each use case, score and monitor; the MLflow URL.

    The DAG runs happen in :func:`lakeside.config.demo_parallel_runs` Airflow processes
    (:mod:`lakeside.local.dag_runs`), each run once the runs it needs are done."""
    from lakeside import tracking

    env = demo_environment()
    ingested = list(dict.fromkeys(source for sources in ingest_plan([*cases, *pipelines]).values() for source in sources))
    if ingested:  # one shape of daily_ingest for every run; each run names its own sources
        env["LAKESIDE_INGEST_SOURCES"] = ",".join(ingested)
    if cases:  # the first use case keeps the first port whichever deploy finishes first
        env.setdefault("LAKESIDE_SERVE_MODEL", cases[0].model_name)
    logs = settings().home / "logs"
    print(f"Airflow metadata: SQLite under {env['AIRFLOW_HOME']}", flush=True)
    with step("airflow db migrate (once per Airflow home and version)"):
        ensure_migrated(env, logs / "airflow-db-migrate.log")
    with step("MLflow server"):
        uri = tracking.ensure_server()
    env["MLFLOW_TRACKING_URI"] = uri
    run_dags(env, dag_run_steps(cases, pipelines, search_budget_s, uri), logs)
    return uri


def dag_run_steps(cases: list[UseCase], pipelines: list[Pipeline], search_budget_s: int | None,
                  uri: str) -> list[DagRunStep]:
    """Every DAG run of the demo, each with the runs it needs: the daily ingests (and the gold
    built after them) one after the other; a backfill needs nothing; a pipeline or retrain needs
    the last ingest of its sources and its backfills; scoring, monitoring and the dashboards
    come after everything."""
    plan = ingest_plan([*cases, *pipelines])
    steps: list[DagRunStep] = []

    def add(run: DagRunStep, after) -> int:
        steps.append(replace(run, after=tuple(sorted({p for p in after if p is not None}))))
        return len(steps) - 1

    backfilled = {run.conf["source"]: add(run, ()) for run in backfill_steps(cases)}
    latest: dict[str, int] = {}
    previous = None
    for run, sources in ingest_steps([*cases, *pipelines], plan):
        previous = add(run, [previous, *(backfilled.get(source) for source in sources)])
        latest.update({source: previous for source in sources})

    def needs(unit) -> list[int | None]:
        own = [b.source for b in unit.demo.backfills] if isinstance(unit, UseCase) else []
        return [*(latest.get(source) for source in unit.sources), *(backfilled.get(source) for source in own)]

    for pipe in pipelines:
        for run in pipeline_steps([pipe]):
            add(run, needs(pipe))
    for case, run in zip(cases, retrain_steps(cases, plan, search_budget_s, uri)):
        add(run, needs(case))
    everything = range(len(steps))
    for run in score_and_monitor_steps(cases, plan):
        everything = [add(run, everything)]
    if any(unit.gold for unit in [*cases, *pipelines]):
        last = list(plan)[-1] if plan else "2024-01-01"
        add(DagRunStep("refresh_dashboards (gold.duckdb for `make bi`)", "refresh_dashboards", last), everything)
    return steps


def run_dags(env: dict[str, str], steps: list[DagRunStep], logs: Path) -> None:
    """The DAG runs in :func:`lakeside.config.demo_parallel_runs` Airflow processes sharing them out.
    When one process fails (even killed, before it could say so) the others start no other run;
    then the failed run's part of the log is shown."""
    from lakeside.config import demo_parallel_runs
    from lakeside.local.dag_runs import Claims

    plan = write_steps(steps, logs / "airflow-dag-runs.json")
    claims = logs / "airflow-dag-runs.claims"
    shutil.rmtree(claims, ignore_errors=True)
    workers = min(demo_parallel_runs(), max(1, len(steps)))
    processes, failure_files = [], []
    for worker in range(workers):
        log = logs / (f"airflow-dag-runs-{worker + 1}.log" if workers > 1 else "airflow-dag-runs.log")
        log.unlink(missing_ok=True)
        failure_files.append(log.with_suffix(".failure"))
        with failure_files[-1].open("w") as failure:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "lakeside.local.dag_runs", str(plan), "--log", str(log), "--claims", str(claims)],
                env=env, stderr=failure))
    while any(process.poll() is None for process in processes):
        if any(process.returncode for process in processes):
            Claims(claims).take("failed")
        time.sleep(1)
    failed = [(process, failure) for process, failure in zip(processes, failure_files) if process.returncode != 0]
    if failed:
        process, failure = failed[0]
        raise SystemExit(failure.read_text().strip() or f"the DAG runs failed (exit {process.returncode}); logs in {logs}")


def backfill_steps(cases: list[UseCase]) -> list[DagRunStep]:
    """The ``backfill`` DAG for each history a use case's demo needs, before any daily ingest."""
    return [DagRunStep(f"backfill {b.source} up to {b.date} ({json.dumps(dict(b.generator))})", "backfill", b.date,
                       {"source": b.source, "generator": dict(b.generator)})
            for case in cases for b in case.demo.backfills]


def ingest_steps(units: list[UseCase | Pipeline], plan: dict[str, list[str]]) -> list[tuple[DagRunStep, list[str]]]:
    """Per demo date: ``daily_ingest`` of its sources, then the gold tables built after them;
    each run with the sources whose tables it writes or reads."""
    steps = []
    for day, sources in plan.items():
        steps.append((DagRunStep(f"daily_ingest {day} ({', '.join(sources)})", "daily_ingest", day,
                                 {"sources": list(sources)}), list(sources)))
        steps += [(DagRunStep(f"gold_{unit.name} {day}", f"gold_{unit.name}", day, {"day": day}), list(unit.sources))
                  for unit in gold_after_ingest(units, sources)]
    return steps


def pipeline_steps(pipelines: list[Pipeline]) -> list[DagRunStep]:
    return [DagRunStep(f"{pipe.dag_id} {day}", pipe.dag_id, day) for pipe in pipelines for day in pipe.demo.dates]


def retrain_steps(cases: list[UseCase], plan: dict[str, list[str]], search_budget_s: int | None,
                  uri: str) -> list[DagRunStep]:
    steps = []
    for case in cases:
        budget = search_budget_s or case.demo.search_budget_s
        day = retrain_day(case, list(plan))
        conf = ({"time_budget_s": budget, **({"families": list(case.demo.families)} if case.demo.families else {})}
                if case.uses_search else {})
        searched = f"search budget {budget}s, " if case.uses_search else ""
        steps.append(DagRunStep(f"{case.retrain_dag_id} {day} ({searched}MLflow {uri})", case.retrain_dag_id, day, conf))
    return steps


def score_and_monitor_steps(cases: list[UseCase], plan: dict[str, list[str]]) -> list[DagRunStep]:
    """The ``batch_inference`` DAG for every day the demo ingested a scored source (its
    predictions then cover the silver table), then ``monitoring`` for the last day. Both DAGs
    span every use case declaring them, so they run only when the demo trained all of those."""
    scored = [case for case in usecases.all_use_cases() if case.batch_inference]
    trained = {case.name for case in cases}
    if not scored or not {case.name for case in scored} <= trained:
        return []
    sources = {case.silver_source for case in scored}
    days = [day for day, ingested in plan.items() if sources & set(ingested)]
    steps = [DagRunStep(f"batch_inference {day}", "batch_inference", day, {"day": day}) for day in days]
    monitored = {case.name for case in usecases.all_use_cases() if case.service == "tabular"}
    if days and monitored <= trained:
        steps.append(DagRunStep(f"monitoring {days[-1]}", "monitoring", days[-1]))
    return steps


def gold_after_ingest(units: list[UseCase | Pipeline], sources: list[str]) -> list[UseCase | Pipeline]:
    """The units with gold tables built after an ingest of one of ``sources`` (their gold_<name> DAG)."""
    return [unit for unit in units
            if any(t.after == "ingest" for t in unit.gold) and set(unit.sources) & set(sources)]


def champion_summary(case: UseCase, uri: str) -> str:
    """The champion's version, what it is and its holdout metrics, from the registry."""
    from mlflow import MlflowClient

    from lakeside.metrics import TASK_METRICS
    from lakeside.retrain import model_name

    client = MlflowClient(uri)
    name = model_name(case)
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except Exception:  # noqa: BLE001 - the registry answers "not found" in several ways
        return f"No champion for {name} yet: see the gate's decision in {uri}"
    tags = champion.tags
    shown = TASK_METRICS.get(case.task) or gated_metrics(case, tags)
    metrics = ", ".join(f"{m} {float(tags[f'gate.{m}']):.4f}" for m in shown if f"gate.{m}" in tags)
    return (
        f"Champion: {name} version {champion.version} ({tags.get('family', '?')}), trained on "
        f"{tags.get('snapshot_table', '?')} version {tags.get('snapshot_version', '?')}\n"
        f"  holdout: {metrics}\n"
        f"  gate: {tags.get('gate.reason', '?')}\n"
        f"  model: models:/{name}@champion  (run {champion.run_id})"
    )


def gated_metrics(case: UseCase, tags: dict[str, str]) -> tuple[str, ...]:
    """The metrics a gate judged (its metric, then those with a bound): a task without built-in metrics."""
    try:
        thresholds = json.loads(tags.get("gate.thresholds") or "{}")
    except json.JSONDecodeError:
        thresholds = {}
    bounded = [*thresholds.get("max", {}), *thresholds.get("min", {})]
    return tuple(dict.fromkeys([case.metric, *bounded]))


def serve_champion(case: UseCase, uri: str) -> str:
    """Make sure the champion answers on loopback (the retrain deploys after a promotion; this
    also brings the server back after a reboot); the endpoint, a curl line and its answer."""
    import mlflow

    from lakeside.retrain import model_name
    from lakeside.serving.deploy import curl_line, deploy, example_request, post

    mlflow.set_tracking_uri(uri)
    deployment = deploy(model_name(case))
    body = example_request(deployment.model, deployment.version)
    return (
        f"Serving {deployment.model} version {deployment.version} (Bento {deployment.bento}, {deployment.action}) "
        f"at {deployment.endpoint}  docs: {deployment.endpoint}/docs  model: {deployment.endpoint}/model\n"
        f"  {curl_line(deployment.endpoint, body)}\n"
        f"  answer: {json.dumps(post(deployment.endpoint, body))}"
    )


def tables_summary(cases: list[UseCase], pipelines: list[Pipeline] = ()) -> str:
    """Row counts read by delta-rs and by Spark, and the most frequent quarantine reasons."""
    from lakeside.spark import get_spark
    from lakeside.tables import Lake

    config = settings()
    embedded = Lake(config.lake_root, backend="embedded")
    spark = get_spark("lakeside-demo-summary", master="local[1]", quick_start=True)
    through_spark = Lake(config.lake_root, backend="embedded", spark=spark)
    sources = list(dict.fromkeys([*(source for unit in [*cases, *pipelines] for source in unit.sources),
                                  *(b.source for case in cases for b in case.demo.backfills)]))
    names = [f"{layer}.{source}" for source in sources for layer in ("bronze", "silver", "quarantine")]
    names += [name for case in cases for name in case.reference_tables]
    names += [name for pipe in pipelines for name in pipe.tables]
    names += [name for case in cases for name in case.demo.tables]
    names += [f"predictions.{case.model_name}" for case in cases if case.batch_inference]
    names += [f"inference.{case.model_name}" for case in cases]
    names += ["monitoring.table_health", "monitoring.profile_metrics", "monitoring.drift_metrics",
              "monitoring.alerts"]
    lines = [f"Tables under {config.lake_root}:"]
    for name in dict.fromkeys(names):
        table = embedded.table(name)
        if not table.exists():
            continue
        rows_rs = table.to_arrow().num_rows
        rows_spark = through_spark.table(name).read().count()
        lines.append(f"  {name:<32} version {table.version():>3}  rows: delta-rs {rows_rs:>6}, Spark {rows_spark:>6}  "
                     f"{table.uri}")
    for source in sources:
        quarantine = through_spark.table(f"quarantine.{source}")
        if quarantine.exists():
            lines.append(f"Most frequent quarantine reasons ({source}):")
            reasons = quarantine.read().groupBy("_reason").count().orderBy("count", ascending=False).limit(5)
            lines += [f"  {row['count']:>4}  {row['_reason']}" for row in reasons.collect()]
    lines.append(f"Airflow logs: {config.home / 'logs'} and {config.airflow_home / 'logs'}")
    spark.stop()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--use-cases", default=os.environ.get("LAKESIDE_DEMO_USE_CASES", ""),
                        help="comma-separated use cases (default: every one with a demo section)")
    budget = os.environ.get("LAKESIDE_DEMO_SEARCH_BUDGET")
    parser.add_argument("--search-budget", type=int, default=int(budget) if budget else None,
                        help="seconds per model search (default: each use case's demo budget)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    names = [n.strip() for n in args.use_cases.split(",") if n.strip()]
    cases, pipelines = demo_use_cases(names), demo_pipelines(names)
    uri = run(cases, args.search_budget, pipelines)
    with step("reading the tables back with delta-rs and Spark"):
        summary = tables_summary(cases, pipelines)
    print(summary)
    print(f"MLflow: {uri}")
    for pipe in pipelines:
        print(f"\n== {pipe.name}: {pipe.description}")
        files = [path for pattern in pipe.files for path in sorted(settings().lake_root.glob(pattern))]
        print("\n".join(f"  {path}" for path in files) or f"  none of its files ({', '.join(pipe.files)}) was written")
    for case in cases:
        print(f"\n== {case.name}: {case.description}")
        print(champion_summary(case, uri))
        with step(f"serving {case.name}"):
            print(serve_champion(case, uri))
        if case.demo.summary:
            print(usecases.resolve_function(case.demo.summary)(case))
    print("\nStop the prediction servers with: .venv/bin/python -m lakeside.serving.deploy --stop")
    print(f"Demo finished in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
