"""The spine on PostgreSQL, as in production: a local server with one database per metadata
store (airflow, mlflow), Airflow's CLI ingesting two days and retraining against them, then the
state read back with SQL from both databases, and no SQLite file anywhere."""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakeside import tracking
from lakeside.local import postgres
from lakeside.local.demo import airflow, demo_environment
from lakeside.tables import Lake

pytestmark = [pytest.mark.slow(expected_s=160), pytest.mark.postgres]

DAYS = ["2024-01-01", "2024-01-02"]
MODEL = "loans_int_rate"
RETRAIN_CONF = {"time_budget_s": 30, "families": ["linear", "hist_gradient_boosting"]}


@dataclass(frozen=True)
class Spine:
    home: Path
    airflow_home: Path
    mlflow_home: Path
    server: postgres.LocalPostgres


@pytest.fixture(scope="module")
def postgres_server():
    # Not under pytest's tmp dirs: the server runs as OS user postgres when we are root.
    try:
        postgres.ensure_binaries()
    except postgres.PostgresError as error:
        pytest.skip(f"no PostgreSQL server can be installed on this machine: {error}")
    directory = Path(tempfile.mkdtemp(prefix="lakeside-tests-postgres-"))
    directory.chmod(0o755)
    try:
        server = postgres.start(directory / "server")
        try:
            server.create_database("airflow")
            server.create_database("mlflow")
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def spine(postgres_server, tmp_path_factory):
    """Ingest two days, then retrain on the second, Airflow and MLflow on PostgreSQL."""
    home = tmp_path_factory.mktemp("lakeside-postgres-spine")
    mlflow_home = home / "mlflow"
    env = demo_environment()
    env.update({
        "LAKESIDE_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_server.url("airflow"),
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        # Build the champion's Bento but start no server: serving is tested on its own.
        "LAKESIDE_DEPLOY_TARGET": "bento",
        "LAKESIDE_INGEST_SOURCES": "loans",  # PostgreSQL is proven by one source; the others are tested as jobs
    })
    env.pop("LAKESIDE_GATES_DIR", None)
    logs = home / "logs"
    try:
        # MLflow starts (imports, tables: minutes on a busy machine) while Airflow ingests:
        # only the retrain needs it.
        with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(max_workers=1) as background:
            patch.setenv("LAKESIDE_MLFLOW_BACKEND_STORE_URI", postgres_server.url("mlflow"))
            mlflow_started = background.submit(tracking.ensure_server, port=postgres.free_port(), home=mlflow_home,
                                               wait_s=600)
            airflow(env, "db", "migrate", log=logs / "db-migrate.log")
            for day in DAYS:
                airflow(env, "dags", "test", "daily_ingest", day, log=logs / f"daily_ingest-{day}.log")
            env["MLFLOW_TRACKING_URI"] = mlflow_started.result()
        airflow(env, "dags", "test", "weekly_retrain", DAYS[-1], "-c", json.dumps(RETRAIN_CONF),
                log=logs / f"weekly_retrain-{DAYS[-1]}.log")
        yield Spine(home, home / "airflow", mlflow_home, postgres_server)
    finally:
        tracking.stop_server(mlflow_home)


def query(server: postgres.LocalPostgres, database: str, sql: str, *args) -> list[tuple]:
    """Rows of ``sql`` in ``database``, connected as its owner role."""
    connection = server.connect(database, user=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()


def test_airflow_recorded_every_run_and_task_in_its_database(spine):
    runs = query(spine.server, "airflow",
                 "SELECT dag_id, to_char(logical_date AT TIME ZONE 'UTC', 'YYYY-MM-DD'), state FROM dag_run")
    assert sorted(runs) == [
        ("daily_ingest", DAYS[0], "success"),
        ("daily_ingest", DAYS[1], "success"),
        ("weekly_retrain", DAYS[1], "success"),
    ]
    tasks = query(spine.server, "airflow",
                  "SELECT dag_id, task_id, state, count(*) FROM task_instance GROUP BY dag_id, task_id, state")
    assert {(dag, task) for dag, task, _, _ in tasks} >= {
        ("daily_ingest", "land_loans"), ("daily_ingest", "ingest_loans"),
        ("weekly_retrain", "snapshot"), ("weekly_retrain", "train"),
        ("weekly_retrain", "register"), ("weekly_retrain", "gate"),
    }
    states = {(dag, task): state for dag, task, state, _ in tasks}
    assert states.pop(("weekly_retrain", "approve_drift")) == "skipped", "a first champion has no drift to approve"
    assert set(states.values()) == {"success"}, tasks
    assert {count for dag, _, _, count in tasks if dag == "daily_ingest"} == {2}
    assert {count for dag, _, _, count in tasks if dag == "weekly_retrain"} == {1}


def test_mlflow_registry_and_runs_are_in_its_database(spine):
    def mlflow_rows(sql: str) -> list[tuple]:
        return query(spine.server, "mlflow", sql, MODEL)

    assert query(spine.server, "mlflow", "SELECT name FROM registered_models") == [(MODEL,)]
    versions = mlflow_rows("SELECT version, status, run_id FROM model_versions WHERE name = %s")
    assert [(v, status) for v, status, _ in versions] == [(1, "READY")]
    aliases = mlflow_rows("SELECT alias, version FROM registered_model_aliases WHERE name = %s")
    assert sorted(aliases) == [("challenger", 1), ("champion", 1)]
    decision = mlflow_rows("SELECT value FROM model_version_tags "
                           "WHERE name = %s AND version = 1 AND key = 'gate.decision'")
    assert decision == [("promoted",)]

    runs = dict(mlflow_rows("SELECT r.run_uuid, r.status FROM runs r JOIN experiments e USING (experiment_id) "
                            "WHERE e.name = %s"))
    champion_run = versions[0][2]
    assert runs[champion_run] == "FINISHED"
    assert len(runs) >= 3, "the search run and at least one trial per family"
    assert "FAILED" not in runs.values(), "a trial failed (a budget stop is KILLED, not FAILED)"
    assert set(runs.values()) <= {"FINISHED", "KILLED"}


def test_the_lake_has_both_days_and_no_sqlite_was_used(spine):
    lake = Lake(spine.home / "lake", backend="embedded")
    bronze_days = lake.table("bronze.loans").to_arrow().column("_ingest_date").unique().to_pylist()
    assert sorted(str(day) for day in bronze_days) == DAYS
    assert lake.table("silver.loans").to_arrow().num_rows > 1000

    assert (spine.airflow_home / "airflow.cfg").exists(), "Airflow ran with this home"
    assert any((spine.mlflow_home / "artifacts").rglob("MLmodel")), "the server stored the models' artifacts"
    assert sorted(spine.home.rglob("*.db")) == [], "a SQLite file was created"
