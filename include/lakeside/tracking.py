"""The MLflow tracking server and registry.

Production points ``MLFLOW_TRACKING_URI`` at a shared server. The embedded default is an
``mlflow server`` on loopback with a SQLite store and artifacts under ``$LAKESIDE_HOME/mlflow``,
started by :func:`ensure_server` and reused while it answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from lakeside.config import settings


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the embedded server's address."""
    config = settings()
    return config.mlflow_tracking_uri or f"http://127.0.0.1:{config.mlflow_port}"


def is_up(uri: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


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
    log = (home / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server",
         "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
         "--artifacts-destination", str(home / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    (home / "server.pid").write_text(str(process.pid))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if is_up(uri):
            return uri
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}; see {home / 'server.log'}")
        time.sleep(0.5)
    stop_server(home)
    raise TimeoutError(f"mlflow server did not answer on {uri} within {wait_s:.0f}s; see {home / 'server.log'}")


def stop_server(home: Path | None = None) -> None:
    """Stop the embedded server started by :func:`ensure_server`, if it runs."""
    pid_file = (home or settings().mlflow_home) / "server.pid"
    if not pid_file.exists():
        return
    try:
        os.killpg(int(pid_file.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)
