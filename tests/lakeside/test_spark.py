"""The session factory: the workers' Python and the Delta connector's jars, without touching os.environ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakeside import config
from lakeside.spark import delta_conf, session_conf

PROBE = """
import json, os, sys
from lakeside.spark import get_spark
spark = get_spark("probe", master="local[1]")
workers = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).collect()
print(json.dumps({"workers": workers, "pyspark_python_set": "PYSPARK_PYTHON" in os.environ}))
spark.stop()
"""


@pytest.mark.slow
def test_workers_run_the_drivers_python_without_pyspark_python_set():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_")}
    env["PATH"] = "/usr/bin:/bin"  # a python3 on PATH that is not this venv's
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"workers": [sys.executable], "pyspark_python_set": False}


def test_delta_jars_default_to_the_folder_make_setup_fills(monkeypatch, tmp_path):
    folder = tmp_path / "delta-jars"
    folder.mkdir()
    for name in ("delta-storage-4.4.0.jar", "delta-spark_4.2_2.13-4.4.0.jar", "COORDINATE"):
        (folder / name).write_text("")
    monkeypatch.setattr(config, "DELTA_JARS_FOLDER", folder)
    monkeypatch.delenv("LAKESIDE_DELTA_JARS", raising=False)
    monkeypatch.delenv("LAKESIDE_DELTA_PACKAGES", raising=False)
    expected = [str(folder / "delta-spark_4.2_2.13-4.4.0.jar"), str(folder / "delta-storage-4.4.0.jar")]
    assert config.delta_jars() == expected
    conf = delta_conf()
    assert conf["spark.jars"] == ",".join(expected)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"

    monkeypatch.setenv("LAKESIDE_DELTA_JARS", "")
    assert config.delta_jars() == [] and delta_conf() == {}

    monkeypatch.setenv("LAKESIDE_DELTA_JARS", f"{folder}, /opt/x.jar")
    assert config.delta_jars() == [*expected, "/opt/x.jar"]


def test_no_default_jars_outside_a_checkout(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "DELTA_JARS_FOLDER", Path(tmp_path / "absent"))
    monkeypatch.delenv("LAKESIDE_DELTA_JARS", raising=False)
    assert config.delta_jars() == []


def test_drivers_start_from_the_class_archive_and_quick_start_adds_c1_only(monkeypatch, tmp_path):
    archive = tmp_path / "spark classes.jsa"
    monkeypatch.setenv("LAKESIDE_SPARK_CLASS_ARCHIVE", str(archive))
    monkeypatch.setenv("LAKESIDE_SPARK_QUICK_START", "false")
    assert "spark.driver.extraJavaOptions" not in session_conf()

    archive.write_bytes(b"")
    assert session_conf()["spark.driver.extraJavaOptions"] == f'"-XX:SharedArchiveFile={archive}"'
    monkeypatch.setenv("LAKESIDE_SPARK_QUICK_START", "true")
    assert session_conf()["spark.driver.extraJavaOptions"] == f'"-XX:SharedArchiveFile={archive}" -XX:TieredStopAtLevel=1'

    monkeypatch.setenv("LAKESIDE_SPARK_CLASS_ARCHIVE", "")
    assert session_conf()["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"


@pytest.mark.skipif(config.spark_class_archive() is None or not config.spark_class_archive().is_file(),
                    reason="no class archive: `make setup` writes it (python -m lakeside.local.spark_classes)")
def test_a_driver_maps_the_archive_make_setup_wrote(tmp_path):
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"-Xlog:cds=info:file={tmp_path}/cds-%p.log"}
    env.pop("LAKESIDE_SPARK_CLASS_ARCHIVE", None)
    probe = 'from lakeside.spark import get_spark; print(get_spark("probe", master="local[1]").range(3).count())'
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "3"
    logs = [log.read_text() for log in tmp_path.glob("cds-*.log")]
    assert any("Mapped dynamic region" in log for log in logs), logs
