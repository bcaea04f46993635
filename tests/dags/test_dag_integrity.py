"""Every DAG file imports cleanly, cheaply, without touching a database or the network, and
carries what operators rely on: schedule, tags, retries, docs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
HEAVY = ["pyspark", "pandas", "mlflow", "sklearn", "numpy", "deltalake", "pyarrow", "bentoml", "prophet"]

PROBE = """
import importlib.util, json, socket, sys
def refuse(*args, **kwargs):
    raise RuntimeError("a DAG file touched the network or a database while being parsed")
socket.socket.connect = refuse
socket.create_connection = refuse
import sqlalchemy.engine
sqlalchemy.engine.Engine.connect = refuse
from airflow.sdk import BaseHook
BaseHook.get_connection = classmethod(refuse)
from airflow.sdk import DAG
dags = []
original_init = DAG.__attrs_post_init__
def record(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    dags.append(self)
DAG.__attrs_post_init__ = record
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"dags": [d.dag_id for d in dags], "heavy": heavy}))
"""


def test_there_are_dag_files():
    assert DAG_FILES, f"no DAG files in {DAGS}"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_without_db_network_or_heavy_imports(path, tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/absent/never.db"}
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), json.dumps(HEAVY)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dags"], f"{path.name} defines no DAG"
    assert result["heavy"] == [], f"{path.name} imports {result['heavy']} at parse time"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "daily_ingest" in dagbag.dag_ids


def test_every_dag_is_documented_tagged_scheduled_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and dag.doc_md.strip().startswith("###"), dag_id
        assert "lakeside" in dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert "schedule=" in Path(dag.fileloc).read_text(), f"{dag_id} has no explicit schedule"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_daily_ingest_lands_then_ingests_each_source_and_publishes_silver(dagbag):
    from lakeside.datasets import INGEST_SOURCES

    dag = dagbag.dags["daily_ingest"]
    assert dag.schedule == "@daily"
    for source in INGEST_SOURCES:
        ingest = dag.get_task(f"ingest_{source}")
        assert ingest.upstream_task_ids == {f"land_{source}"}
        assert [o.name for o in ingest.outlets] == [f"silver.{source}"]
        assert ingest.application_args[:2] == ["--source", source]
        assert "{{ ds }}" in ingest.application_args and "{{ run_id }}" in ingest.application_args


def test_weekly_retrain_runs_weekly_or_on_fresh_loans_and_chains_the_gate(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.dags["weekly_retrain"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 3 * * 1"
    assert "silver.loans" in str(dag.timetable.asset_condition)
    assert set(dag.params.keys()) == {"time_budget_s", "families"}
    assert dag.get_task("train").upstream_task_ids == {"snapshot"}
    assert dag.get_task("register").upstream_task_ids == {"train", "snapshot"}
    assert dag.get_task("gate").upstream_task_ids == {"register", "snapshot", "drift_check", "approve_drift"}
    assert dag.get_task("gate").trigger_rule == "none_failed_min_one_success", "runs when no approval was needed"
    assert dag.get_task("drift_check").upstream_task_ids == {"snapshot"}
    assert dag.get_task("approve_drift").upstream_task_ids == {"drifted"}
    assert dag.get_task("approve_drift").defaults == ["Reject"], "no answer keeps the champion"
    assert dag.get_task("promoted").upstream_task_ids == {"gate"}
    assert dag.get_task("deploy").upstream_task_ids == {"promoted"}
    assert "refresh_reference" not in dag.task_ids


def test_every_declared_use_case_has_its_retrain_dag(dagbag):
    from lakeside.usecases import all_use_cases

    for use_case in all_use_cases():
        dag = dagbag.dags[use_case.retrain_dag_id]
        assert use_case.name in dag.tags and use_case.model_name in dag.doc_md
        assert ("refresh_reference" in dag.task_ids) == bool(use_case.reference_tables)
    iris = dagbag.dags["retrain_iris"]
    assert iris.get_task("snapshot").upstream_task_ids == {"refresh_reference"}
    assert iris.timetable.expression == "0 4 * * 1"


def test_every_declared_pipeline_has_its_dag_following_its_sources(dagbag):
    from lakeside.usecases import all_pipelines

    for pipe in all_pipelines():
        dag = dagbag.dags[pipe.dag_id]
        assert all(f"silver.{source}" in str(dag.timetable.asset_condition) for source in pipe.sources), pipe.dag_id


def test_deploy_model_is_manual_and_takes_model_alias_and_target(dagbag):
    dag = dagbag.dags["deploy_model"]
    assert dag.schedule is None
    assert {k: dag.params[k] for k in dag.params.keys()} == {"model": None, "alias": "champion",
                                                             "target": None}
    assert [t.task_id for t in dag.tasks] == ["deploy"]


def test_retrain_dags_offer_exactly_the_library_s_model_families(dagbag):
    from lakeside.automl import families_for
    from lakeside.usecases import get

    families = dagbag.dags["weekly_retrain"].params.get_param("families")
    assert families.value == families_for("regression")
    assert families.schema["items"]["enum"] == families_for("regression")
    assert dagbag.dags["retrain_iris"].params.get_param("families").value == list(get("iris").search.families)


def test_geospatial_enrichment_runs_on_fresh_trips_and_chains_zones_enrich_map(dagbag):
    dag = dagbag.dags["geospatial_enrichment"]
    assert "silver.taxi_trips" in str(dag.timetable.asset_condition)
    assert dag.get_task("enrich").upstream_task_ids == {"day", "refresh_zones"}
    assert dag.get_task("publish_map").upstream_task_ids == {"enrich", "day"}
    assert dag.get_task("enrich").application_args[0] == "--logical-date"


def test_asset_events_carry_the_logical_date_an_asset_triggered_run_reads():
    from types import SimpleNamespace

    from lakeside.airflow import event_logical_date, silver_asset, stamp_outlet_events

    trips = silver_asset("taxi_trips")
    events = {trips: SimpleNamespace(extra={})}
    stamp_outlet_events([trips], {"ds": "2015-01-15", "outlet_events": events})
    assert events[trips].extra == {"logical_date": "2015-01-15"}
    triggering = {"triggering_asset_events": {trips: [SimpleNamespace(extra={"logical_date": "2015-01-14"}),
                                                      SimpleNamespace(extra={"logical_date": "2015-01-15"}),
                                                      SimpleNamespace(extra={})]}}
    assert event_logical_date(triggering, trips) == "2015-01-15"
    assert event_logical_date({}, trips) is None


def test_the_backfill_dag_passes_its_params_to_the_chosen_sources_job(dagbag):
    import importlib.util

    from lakeside.datasets import INGEST_SOURCES

    dag = dagbag.dags["backfill"]
    assert dag.schedule is None
    assert dag.get_task("choose_source").downstream_task_ids == {f"backfill_{s}" for s in INGEST_SOURCES}
    task = dag.get_task("backfill_store_item")
    assert [o.name for o in task.outlets] == ["silver.store_item"]
    spec = importlib.util.spec_from_file_location("backfill_job", DAGS.parent / "jobs" / "backfill.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    params = {"source": "store_item", "files": [], "seed": 3, "generator": {"stores": 2, "start": "2016-01-01"},
              "max_rejected_share": None}
    context = {"ds": "2017-12-31", "run_id": "manual__1", "params": params}
    parsed = job.parse_args(task.render_template(task.application_args, context))
    assert (parsed.source, parsed.logical_date.isoformat(), parsed.run_id) == ("store_item", "2017-12-31", "manual__1")
    assert (parsed.seed, parsed.generator, parsed.max_rejected_share) == (3, params["generator"], None)
    assert parsed.files == [""]
    given = {**params, "files": ["/data/train.csv", "/data/more.csv"], "max_rejected_share": 0.1}
    parsed = job.parse_args(task.render_template(task.application_args, {**context, "params": given}))
    assert parsed.files == ["/data/train.csv,/data/more.csv"] and parsed.max_rejected_share == 0.1
