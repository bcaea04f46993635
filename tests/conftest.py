"""Shared fixtures: one local Spark session for the whole run, and a private LAKESIDE_HOME."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("LAKESIDE_SPARK_SHUFFLE_PARTITIONS", "2")


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
