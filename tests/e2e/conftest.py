import subprocess

import pytest


@pytest.fixture(scope="session")
def airflow_db():
    """The test run's Airflow metadata database (SQLite under its private AIRFLOW_HOME), migrated once."""
    done = subprocess.run(["airflow", "db", "migrate"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
