"""The daily_ingest DAG end to end, once per table backend: Airflow on SQLite runs the real
tasks, the Spark job is spark-submitted to local Spark and writes through that backend, and the
Delta tables are checked afterwards through the embedded one (delta-rs)."""

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from lakeside.tables import Lake, delta_connector_available

pytestmark = pytest.mark.slow(expected_s=210)

DAY1 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAY2 = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module", params=["embedded", "spark-delta"])
def backend(request, spark):
    if request.param == "spark-delta" and not delta_connector_available(spark):
        pytest.skip("spark-delta: the Delta Lake Spark jars are not here (`make setup` fetches them with mvn)")
    return request.param


@pytest.fixture(scope="module")
def ingest_env(tmp_path_factory, backend):
    home = tmp_path_factory.mktemp(f"lakeside-e2e-{backend}")
    saved = dict(os.environ)
    os.environ.update({
        "LAKESIDE_HOME": str(home),
        "LAKESIDE_TABLE_BACKEND": backend,
        "LAKESIDE_GENERATE_MISSING_LANDING": "true",
        "LAKESIDE_INGEST_SOURCES": "loans",  # the other daily sources' ingest is tested at the job level
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
    })
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def dag(airflow_db, ingest_env):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["daily_ingest"]


def tables(home, spark):
    lake = Lake(home / "lake", backend="embedded", spark=spark)
    return {layer: lake.table(f"{layer}.loans") for layer in ("bronze", "silver", "quarantine")}


def frame(table, drop=()):
    data = table.to_pandas().drop(columns=list(drop))
    return data.sort_values(list(data.columns[:1]) + ["_ingest_date", "_row"]).reset_index(drop=True)


def test_two_days_then_a_rerun_of_the_first(dag, ingest_env, backend, spark):
    for day in (DAY1, DAY2):
        run = dag.test(logical_date=day)
        assert run.state == "success", f"daily_ingest {day:%Y-%m-%d} ended {run.state}"

    layers = tables(ingest_env, spark)
    assert all(written_by(table) == backend for table in layers.values())
    bronze, silver, quarantine = (frame(layers[n]) for n in ("bronze", "silver", "quarantine"))
    for day in (DAY1.date(), DAY2.date()):
        arrived = (bronze["_ingest_date"] == day).sum()
        kept = (silver["_ingest_date"] == day).sum()
        refused = (quarantine["_ingest_date"] == day).sum()
        assert arrived > 1000 and refused > 0
        assert arrived == kept + refused, f"{day}: {arrived} in, {kept} silver + {refused} quarantine"
    assert silver["id"].is_unique
    assert dict(spark_types(layers["silver"]))["issue_d"] == "date"

    silver_version = layers["silver"].version()
    run = dag.test(logical_date=DAY1)
    assert run.state == "success"

    assert layers["silver"].version() == silver_version, "a rerun must not rewrite silver"
    assert frame(layers["silver"]).equals(silver)
    assert frame(layers["bronze"], drop=["_run_id"]).equals(bronze.drop(columns=["_run_id"]))
    assert frame(layers["quarantine"], drop=["_run_id"]).equals(quarantine.drop(columns=["_run_id"]))


def spark_types(table):
    return table.read().dtypes


def written_by(table) -> str:
    """The engine of the table's first commit, from its Delta log."""
    first = Path(table.uri, "_delta_log", f"{0:020d}.json").read_text().splitlines()
    info = next(json.loads(line)["commitInfo"] for line in first if "commitInfo" in line)
    return "spark-delta" if "Delta-Lake" in str(info.get("engineInfo")) else "embedded"
