"""daily_ingest on a Spark standalone cluster: a master and a worker on 127.0.0.1 started with
pyspark's own scripts, the DAG's SparkSubmitOperator submitting to spark://127.0.0.1:<port>
through AIRFLOW_CONN_SPARK_DEFAULT, the Delta tables checked, then both daemons stopped."""

import contextlib
import datetime as dt
import json
import os

import psutil
import pytest

from lakeside.local.cluster import ClusterError, process_running, start_standalone
from lakeside.processes import free_port
from lakeside.tables import Lake

pytestmark = pytest.mark.slow(expected_s=90)

DAY = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
APP_NAME = "lakeside-daily_ingest"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # a port of its own: with 7077 (the default) another test's master could take it right
    # after this one stops, and "nothing answers after stop" would see that one
    running = start_standalone("127.0.0.1", free_port(), cores=1, memory="1g",
                               state_dir=tmp_path_factory.mktemp("spark-cluster"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def cluster_env(cluster, tmp_path_factory):
    home = tmp_path_factory.mktemp("lakeside-cluster")
    saved = dict(os.environ)
    os.environ.update({
        "LAKESIDE_HOME": str(home),
        "LAKESIDE_GENERATE_MISSING_LANDING": "true",
        "LAKESIDE_INGEST_SOURCES": "loans",  # the cluster is proven by one source; the others are tested as jobs
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({
            "conn_type": "spark", "host": cluster.master_url, "extra": {"deploy-mode": "client"},
        }),
        # Only sessions made outside spark-submit read it: the connection's master must win.
        "LAKESIDE_SPARK_MASTER": "local[1]",
    })
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def dag(airflow_db, cluster_env):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["daily_ingest"]


def test_daily_ingest_runs_on_the_standalone_cluster(cluster, cluster_env, dag):
    run = dag.test(logical_date=DAY)
    assert run.state == "success", f"daily_ingest {DAY:%Y-%m-%d} on {cluster.master_url} ended {run.state}"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"land_loans": "success", "ingest_loans": "success"}

    lake = Lake(cluster_env / "lake", backend="embedded")
    bronze, silver, quarantine = (lake.table(f"{layer}.loans").to_pandas() for layer in ("bronze", "silver", "quarantine"))
    assert len(bronze) > 1000 and len(quarantine) > 0
    assert len(bronze) == len(silver) + len(quarantine), f"{len(bronze)} in, {len(silver)} silver + {len(quarantine)} quarantine"
    assert set(bronze["_ingest_date"]) == set(silver["_ingest_date"]) == {DAY.date()}
    assert silver["id"].is_unique

    apps = [app for app in cluster.status()["completedapps"] if app["name"] == APP_NAME]
    assert [app["state"] for app in apps] == ["FINISHED"], cluster.status()["completedapps"]
    executor_logs = list((cluster.work_dir / apps[0]["id"]).glob("*/stderr"))
    assert executor_logs, f"no executor of {apps[0]['id']} ran under {cluster.work_dir}"
    assert any("Finished task" in log.read_text() for log in executor_logs), "the executor ran no task"


def test_stop_ends_both_daemons(cluster):
    pids = cluster.pids()
    assert len(pids) == 2, pids
    with pytest.raises(ClusterError, match="still running"):
        start_standalone(state_dir=cluster.state_dir)
    assert spark_daemons_listening_on(cluster.port) and spark_daemons_listening_on(cluster.webui_port)

    cluster.stop()

    assert not any(process_running(pid) for pid in pids.values())
    assert cluster.pids() == {}
    for port in (cluster.port, cluster.webui_port):
        assert not spark_daemons_listening_on(port), f"a Spark daemon still listens on {cluster.host}:{port}"


def spark_daemons_listening_on(port: int) -> list[str]:
    """The command lines of Spark daemons listening on ``port``. (Whether anything answers there
    says nothing: a freed port in the ephemeral range is soon some other process's, e.g. another
    test's Spark driver.)"""
    found = []
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            with contextlib.suppress(psutil.Error):
                command = " ".join(psutil.Process(connection.pid).cmdline())
                if "org.apache.spark.deploy" in command:
                    found.append(command)
    return found
