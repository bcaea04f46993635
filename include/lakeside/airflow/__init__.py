"""The only library code that imports Airflow: default arguments, assets and the Spark job
operator that DAG files share.

Importing this module is cheap (no pyspark, pandas or mlflow) and touches no connection: DAG
files import it at their top.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "lakeside",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

PASSED_TO_JOBS = ("LAKESIDE_", "AIRFLOW_CONN_", "PYSPARK_", "JAVA_HOME", "PATH", "MLFLOW_")


def silver_asset(source: str) -> Asset:
    """The asset a DAG schedules on when it needs a source's silver table."""
    return Asset(name=f"silver.{source}", uri=f"lakeside://silver/{source}", group="lakeside")


def jobs_dir() -> Path:
    """``LAKESIDE_JOBS_DIR``, or the ``jobs/`` folder beside the library's checkout."""
    configured = os.environ.get("LAKESIDE_JOBS_DIR")
    if configured:
        return Path(configured)
    import lakeside

    return Path(lakeside.__file__).resolve().parents[2] / "jobs"


class SparkJobOperator(SparkSubmitOperator):
    """``spark-submit jobs/<job>.py`` through the ``spark_default`` connection.

    The Spark configuration and the job's environment (``LAKESIDE_*`` and friends) are read
    from the worker's environment when the task runs, never when the DAG is parsed.
    """

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        kwargs.setdefault("conn_id", os.environ.get("LAKESIDE_SPARK_CONN_ID", "spark_default"))
        kwargs.setdefault("name", f"lakeside-{job}")
        super().__init__(application=f"{job}.py", **kwargs)
        self.job = job

    def execute(self, context: Any) -> None:
        from lakeside.spark import session_conf

        self.application = str(jobs_dir() / f"{self.job}.py")
        submitted = {k: v for k, v in session_conf(self.name).items() if k != "spark.app.name"}
        self.conf = {**submitted, **(self.conf or {})}
        self.env_vars = {**job_environment(), **(self.env_vars or {})}
        self.py_files = self.py_files or os.environ.get("LAKESIDE_PY_FILES") or None
        return super().execute(context)


def job_environment() -> dict[str, str]:
    """What a spark-submitted job inherits: Lakeside's settings and the Python that has the library."""
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_TO_JOBS)}
    python_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", os.defpath)])
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return env
