"""Local UI mode on the embedded default: the Airflow UI, the MLflow UI and the champion's
Bento endpoint, all on loopback, in the background until stopped.

    python -m lakeside.local.ui           # start (or find running) all three and print their URLs
    python -m lakeside.local.ui --stop    # stop all three

Airflow runs as ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer;
LocalExecutor on the SQLite metadata of ``make demo``) with the same DAGs, connections and
``$LAKESIDE_HOME`` as the demo, so runs triggered in the UI write the same tables and MLflow
server. Every loopback user is admin (``simple_auth_manager_all_admins``): the servers listen
on 127.0.0.1 only. Each declared use case's
model gets its own endpoint serving its ``champion`` when there is one; a retrain run
triggered in the UI deploys (or switches) it after a promotion.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from lakeside import processes
from lakeside.config import settings
from lakeside import usecases
from lakeside.local.demo import demo_environment, ensure_migrated
from lakeside.usecases import UseCase

DEFAULT_AIRFLOW_PORT = 8080
AIRFLOW_START_S = 300.0


@dataclass(frozen=True)
class LocalUI:
    airflow: str
    mlflow: str
    endpoints: list[tuple[str | None, str]]
    """(URL or None, note) per declared use case's model."""

    def lines(self) -> list[str]:
        return [
            f"Airflow UI:     {self.airflow}  (log {airflow_dir() / 'standalone.log'})",
            f"MLflow UI:      {self.mlflow}",
            *[f"Bento endpoint: {url or '-'}  {note}" for url, note in self.endpoints],
            "Stop them with: .venv/bin/python -m lakeside.local.ui --stop",
        ]


def airflow_port() -> int:
    return int(os.environ.get("LAKESIDE_UI_AIRFLOW_PORT", DEFAULT_AIRFLOW_PORT))


def airflow_dir() -> Path:
    path = settings().home / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


def airflow_environment(port: int, tracking_uri: str) -> dict[str, str]:
    """The demo's Airflow environment, served on ``127.0.0.1:port`` with a local executor."""
    url = f"http://127.0.0.1:{port}"
    env = demo_environment()
    env.update({
        "MLFLOW_TRACKING_URI": tracking_uri,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "2"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    })
    return env


def airflow_healthy(url: str) -> bool:
    """The api-server answers and reports scheduler, dag-processor and triggerer healthy."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as answer:
            health = json.load(answer)
    except (OSError, ValueError):
        return False
    parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
    return all(health.get(part, {}).get("status") == "healthy" for part in parts)


def start_airflow(tracking_uri: str, timeout: float = AIRFLOW_START_S) -> str:
    port = airflow_port()
    url = f"http://127.0.0.1:{port}"
    folder = airflow_dir()
    pid_file = folder / "airflow.pid"
    if processes.running_pid(pid_file) is not None and airflow_healthy(url):
        return url
    processes.stop(pid_file)
    env = airflow_environment(port, tracking_uri)
    ensure_migrated(env, settings().home / "logs" / "airflow-db-migrate.log")
    process = processes.start_detached([sys.executable, "-m", "airflow", "standalone"], env=env,
                                       log=folder / "standalone.log", pid_file=pid_file)
    processes.wait_until(lambda: airflow_healthy(url), what="airflow standalone", timeout=timeout,
                         log=folder / "standalone.log", process=process)
    return url


def start_endpoint(use_case: UseCase, tracking_uri: str) -> tuple[str | None, str]:
    """Serve a use case's champion, or say why there is nothing to serve yet."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lakeside.retrain import model_name
    from lakeside.serving.deploy import deploy

    mlflow.set_tracking_uri(tracking_uri)
    name = model_name(use_case)
    try:
        MlflowClient(tracking_uri).get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None, (f"(no champion of {name} yet: run `make demo`, or trigger {use_case.retrain_dag_id} "
                      "in the Airflow UI)")
    deployment = deploy(name, "champion", target="local")
    return deployment.endpoint, f"({name} version {deployment.version}, docs {deployment.endpoint}/docs)"


def start() -> LocalUI:
    from lakeside import tracking

    tracking_uri = tracking.ensure_server()
    airflow_url = start_airflow(tracking_uri)
    endpoints = [start_endpoint(case, tracking_uri) for case in usecases.all_use_cases()]
    return LocalUI(airflow_url, tracking_uri, endpoints)


def stop() -> None:
    from lakeside import tracking
    from lakeside.serving.deploy import stop_local

    processes.stop(airflow_dir() / "airflow.pid")
    stop_local()
    tracking.stop_server()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.local.ui", description=__doc__.splitlines()[0])
    parser.add_argument("--stop", action="store_true", help="stop the Airflow, MLflow and Bento servers")
    args = parser.parse_args(argv)
    if args.stop:
        stop()
        print("Stopped the Airflow, MLflow and Bento servers of", settings().home)
        return 0
    print("\n".join(start().lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
