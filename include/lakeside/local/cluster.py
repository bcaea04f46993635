"""A Spark standalone cluster on this machine (one master, one worker), from pyspark's own scripts.

    with start_standalone(cores=1, memory="1g") as cluster:
        cluster.master_url          # spark://127.0.0.1:7077 (another free port when 7077 is taken)
        cluster.status()            # the master's JSON: workers, active and completed applications

The pip package of pyspark ships ``sbin/spark-daemon.sh`` but not ``start-master.sh``: the
master and the worker are started as daemons through it, with their pid files and logs under
``state_dir`` (default ``$LAKESIDE_HOME/spark-cluster``), so one process can start a cluster
and another stop it (:func:`stop_standalone`). :func:`start_standalone` returns once the
master lists the worker as ALIVE, or stops whatever it started and raises :class:`ClusterError`
naming the log to read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from lakeside.config import settings

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DEFAULT_MASTER_PORT = 7077
INSTANCE = "1"  # spark-daemon.sh's instance number: one master and one worker per state_dir
IDENT = "lakeside"  # names the pid files and logs
LAUNCH_CHAIN = ("nohup", "nice", "spark-class", "bash", "java")  # what a daemon's pid runs, in turn


class ClusterError(RuntimeError):
    """The standalone cluster did not start (or stop); the message names the log to read."""


@dataclass(frozen=True)
class StandaloneCluster:
    host: str
    port: int
    webui_port: int
    state_dir: Path
    work_dir: Path

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def webui_url(self) -> str:
        return f"http://{self.host}:{self.webui_port}"

    def status(self) -> dict[str, Any]:
        """The master's status page as JSON (``workers``, ``activeapps``, ``completedapps``...)."""
        return master_status(self.host, self.webui_port)

    def pids(self) -> dict[str, int]:
        """The running daemons' process ids, by class name."""
        return _running_pids(self.state_dir)

    def log(self, daemon_class: str = MASTER_CLASS) -> Path:
        return _log_path(self.state_dir, daemon_class)

    def stop(self, timeout: float = 60) -> None:
        stop_standalone(self.state_dir, timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_standalone(host: str = "127.0.0.1", port: int | None = None, *, webui_port: int | None = None,
                     cores: int = 1, memory: str = "1g", work_dir: str | Path | None = None,
                     state_dir: str | Path | None = None, timeout: float = 120) -> StandaloneCluster:
    """Start a master and one worker, and wait until the worker is registered and ALIVE.

    ``port`` None means 7077 when it is free, else any free port; an explicit port that is
    taken is an error (Spark itself would silently move to the next port).
    """
    state = Path(state_dir) if state_dir else settings().home / "spark-cluster"
    work = Path(work_dir) if work_dir else state / "work"
    work.mkdir(parents=True, exist_ok=True)
    if running := _running_pids(state):
        raise ClusterError(f"a cluster started from {state} is still running ({running}): "
                           f"stop it first with lakeside.local.cluster.stop_standalone({str(state)!r})")
    port = _master_port(host, port)
    webui_port = _require_free(host, webui_port) if webui_port else _free_port(host)
    cluster = StandaloneCluster(host, port, webui_port, state, work)
    try:
        _daemon(state, "start", MASTER_CLASS, "--host", host, "--port", str(port), "--webui-port", str(webui_port))
        _wait(cluster, MASTER_CLASS, lambda s: s.get("status") == "ALIVE", "the master to be ALIVE", timeout)
        _daemon(state, "start", WORKER_CLASS, cluster.master_url, "--host", host, "--cores", str(cores),
                "--memory", memory, "--work-dir", str(work), "--webui-port", str(_free_port(host)))
        _wait(cluster, WORKER_CLASS, lambda s: _alive_workers(s) >= 1, "the worker to register", timeout)
    except BaseException:
        stop_standalone(state)
        raise
    return cluster


def stop_standalone(state_dir: str | Path, timeout: float = 60) -> None:
    """Stop the worker, then the master, started from ``state_dir``; wait until both are gone."""
    state = Path(state_dir)
    for daemon_class in (WORKER_CLASS, MASTER_CLASS):
        pid = _running_pids(state).get(daemon_class)
        if pid is None:
            _pid_file(state, daemon_class).unlink(missing_ok=True)  # left by a daemon that died
            continue
        _daemon(state, "stop", daemon_class)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10):
                raise ClusterError(f"{daemon_class} (pid {pid}) did not stop; see {_log_path(state, daemon_class)}")


def master_status(host: str, webui_port: int, timeout: float = 5) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{host}:{webui_port}/json/", timeout=timeout) as answer:
        return json.load(answer)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def process_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return not Path("/proc").is_dir()


def spark_home() -> Path:
    """The pip-installed pyspark: its ``bin/`` and ``sbin/`` are Spark's launch scripts."""
    found = importlib.util.find_spec("pyspark")
    if found is None or not found.submodule_search_locations:
        raise ClusterError("pyspark is not installed in this Python")
    return Path(found.submodule_search_locations[0])


def _master_port(host: str, port: int | None) -> int:
    if port is not None:
        return _require_free(host, port)
    return DEFAULT_MASTER_PORT if not port_in_use(host, DEFAULT_MASTER_PORT) else _free_port(host)


def _require_free(host: str, port: int) -> int:
    if port_in_use(host, port):
        raise ClusterError(f"port {port} on {host} is already in use: stop what holds it, "
                           f"or leave the port unset to get a free one")
    return port


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        try:
            probe.bind((host, 0))
        except OSError as error:
            raise ClusterError(f"cannot listen on {host}: {error.strerror} (is it an address of this machine?)") from None
        return probe.getsockname()[1]


def _daemon(state: Path, action: str, daemon_class: str, *args: str) -> None:
    """``sbin/spark-daemon.sh <action> <class> 1 <args>`` with pid files and logs under ``state``.

    Its "failed to launch" (no java process after ~7 s) is not trusted: on a loaded machine
    the launcher can take longer; :func:`_wait` watches the process instead.
    """
    home = spark_home()
    command = ["bash", str(home / "sbin" / "spark-daemon.sh"), action, daemon_class, INSTANCE, *args]
    done = subprocess.run(command, env=_daemon_env(state, home), capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise ClusterError(f"spark-daemon.sh {action} {daemon_class} failed: {done.stdout}{done.stderr}"
                           f"\nlog: {_log_path(state, daemon_class)}")


def _daemon_env(state: Path, home: Path) -> dict[str, str]:
    # One try per port (Spark would move to the next one and the master URL would be wrong);
    # no REST submission server (Python jobs are submitted in client mode; it would hold 6066).
    exact_ports = "-Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false"
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(state / "logs"),
        "SPARK_PID_DIR": str(state / "pids"),
        "SPARK_IDENT_STRING": IDENT,
        "SPARK_MASTER_OPTS": f"{exact_ports} {env.get('SPARK_MASTER_OPTS', '')}".strip(),
    })
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    return env


def _wait(cluster: StandaloneCluster, daemon_class: str, ready, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_class not in cluster.pids():
            raise ClusterError(f"{daemon_class} exited while waiting for {what}:\n"
                               f"{_tail(cluster.log(daemon_class))}\nlog: {cluster.log(daemon_class)}")
        try:
            if ready(cluster.status()):
                return
        except (OSError, ValueError):
            pass  # the web UI is not up yet
        time.sleep(0.5)
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what} at {cluster.webui_url}; "
                       f"see {cluster.log(daemon_class)}")


def _alive_workers(status: dict[str, Any]) -> int:
    return sum(1 for worker in status.get("workers", []) if worker.get("state") == "ALIVE")


def _running_pids(state: Path) -> dict[str, int]:
    running = {}
    for daemon_class in (MASTER_CLASS, WORKER_CLASS):
        try:
            pid = int(_pid_file(state, daemon_class).read_text().strip())
        except (OSError, ValueError):
            continue
        if process_running(pid) and _command_name(pid) in (*LAUNCH_CHAIN, None):
            running[daemon_class] = pid
    return running


def _command_name(pid: int) -> str | None:
    """A stale pid file may name a pid reused by an unrelated process (spark-daemon.sh checks too)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _pid_file(state: Path, daemon_class: str) -> Path:
    return state / "pids" / f"spark-{IDENT}-{daemon_class}-{INSTANCE}.pid"


def _log_path(state: Path, daemon_class: str) -> Path:
    logs = sorted((state / "logs").glob(f"spark-{IDENT}-{daemon_class}-{INSTANCE}-*.out"))
    return logs[-1] if logs else state / "logs"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"
