"""Shared fixtures: one local Spark session for the whole run, and a private LAKESIDE_HOME."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Before anything imports Airflow: a private, empty Airflow home on SQLite for this run.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="lakeside-tests-airflow-")
os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="lakeside-tests-bentoml-")
# A private Lakeside home too (make exports the checkout's .lakeside): served requests, for one,
# land in its inference tables.
os.environ["LAKESIDE_HOME"] = tempfile.mkdtemp(prefix="lakeside-tests-home-")
os.environ["LAKESIDE_SERVE_WATCH_S"] = "0"
# Replaying each registered version against its Bento costs ~30 s (a build and a `bentoml serve`):
# tests/lakeside/serving/test_replay.py and the demo's end-to-end test replay; the rest of the
# registrations skip it.
os.environ["LAKESIDE_REGISTRY_REPLAY"] = "off"
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("LAKESIDE_SPARK_SHUFFLE_PARTITIONS", "2")
# The spark-submitted jobs of the end-to-end tests are the demo's: seconds each, on small data.
os.environ.setdefault("LAKESIDE_SPARK_QUICK_START", "true")
logging.getLogger("py4j").setLevel(logging.WARNING)
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.fixture(scope="session")
def spark():
    from lakeside.spark import get_spark

    session = get_spark("lakeside-tests", master="local[1]")
    yield session
    session.stop()


@pytest.fixture()
def lakeside_home(tmp_path, monkeypatch):
    home = tmp_path / "lakeside"
    monkeypatch.setenv("LAKESIDE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server with registry on a free loopback port (SQLite store)."""
    import socket

    from lakeside import tracking

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path_factory.mktemp("mlflow")
    uri = tracking.ensure_server(port=port, home=home)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    tracking.stop_server(home)
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def pytest_collection_modifyitems(config, items):
    """Slow end-to-end tests run last: a failure in the quick tiers shows first. Among them the
    longest (``@pytest.mark.slow(expected_s=...)``, measured in CI) start first, so that with
    ``--dist loadfile --no-loadscope-reorder`` no worker is left with a long file at the end."""
    def order(item):
        slow = item.get_closest_marker("slow")
        return (slow is not None, -(slow.kwargs.get("expected_s", 0) if slow else 0))

    items.sort(key=order)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """Wall time per test file, largest first: where the suite's time goes, next to its result line."""
    per_file: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if hasattr(report, "duration") and hasattr(report, "nodeid"):
                path = report.nodeid.split("::")[0]
                per_file[path] = per_file.get(path, 0.0) + report.duration
    if not per_file:
        return
    ranked = sorted(per_file.items(), key=lambda item: -item[1])
    terminalreporter.write_sep("=", f"time per test file (top 20 of {len(ranked)}, {sum(per_file.values()):.0f}s in all)")
    for path, seconds in ranked[:20]:
        terminalreporter.write_line(f"{seconds:8.1f}s  {path}")
