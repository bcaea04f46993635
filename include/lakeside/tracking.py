"""The MLflow tracking server and registry.

Production points ``MLFLOW_TRACKING_URI`` at a shared server. The embedded default is an
``mlflow server`` on loopback with a SQLite store and artifacts under ``$LAKESIDE_HOME/mlflow``,
started by :func:`ensure_server` and reused while it answers. ``LAKESIDE_MLFLOW_BACKEND_STORE_URI``
gives it another store (e.g. PostgreSQL: ``postgresql+psycopg2://mlflow:...@127.0.0.1:5432/mlflow``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lakeside import processes
from lakeside.config import settings


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the embedded server's address."""
    config = settings()
    return config.mlflow_tracking_uri or f"http://127.0.0.1:{config.mlflow_port}"


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created if missing, without touching MLflow's global active experiment."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        return client.get_experiment_by_name(name).experiment_id


def is_up(uri: str, timeout: float = 2.0) -> bool:
    return processes.answers(f"{uri.rstrip('/')}/health", timeout)


def ensure_server(port: int | None = None, home: Path | None = None, wait_s: float = 180.0) -> str:
    """The embedded server's URI, started now unless it already answers.

    With ``MLFLOW_TRACKING_URI`` set, nothing is started: that server must answer.
    """
    config = settings()
    if config.mlflow_tracking_uri and port is None:
        if not is_up(config.mlflow_tracking_uri) and config.mlflow_tracking_uri.startswith("http"):
            raise RuntimeError(f"MLFLOW_TRACKING_URI={config.mlflow_tracking_uri} does not answer on /health")
        return config.mlflow_tracking_uri
    port = port or config.mlflow_port
    home = home or config.mlflow_home
    uri = f"http://127.0.0.1:{port}"
    if is_up(uri):
        return uri
    home.mkdir(parents=True, exist_ok=True)
    # The store's URI (it may carry a password) goes in the environment, not in `ps` output.
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": config.mlflow_store_uri(home)}
    # MLflow's job runner (GenAI evaluation jobs, unused here) costs workers, ~2 GB and start time.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    process = processes.start_detached(
        [sys.executable, "-m", "mlflow", "server",
         "--artifacts-destination", str(home / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, log=home / "server.log", pid_file=home / "server.pid",
    )
    try:
        processes.wait_until(lambda: is_up(uri), what="mlflow server", timeout=wait_s,
                             log=home / "server.log", process=process)
    except TimeoutError:
        stop_server(home)
        raise
    return uri


def stop_server(home: Path | None = None) -> None:
    """Stop the embedded server started by :func:`ensure_server`, if it runs."""
    processes.stop((home or settings().mlflow_home) / "server.pid")
