"""Servers that outlive the command that started them (MLflow, ``bentoml serve``, Airflow
standalone): each runs detached in its own process group, with a pid file and a log, and is
found and stopped again through that pid file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def start_detached(command: list[str], *, env: dict[str, str], log: Path, pid_file: Path) -> subprocess.Popen:
    """Start ``command`` in a new session, output appended to ``log``, its pid in ``pid_file``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(f"{process.pid} {_started(process.pid) or ''}".strip())
    return process


def running_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process group still has a live member, and the pid is still
    the process that was started (not a later process given the same number)."""
    try:
        pid_text, _, started = pid_file.read_text().strip().partition(" ")
        pid = int(pid_text)
        _reap(pid)
        os.killpg(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    if started and _started(pid) not in (None, started):
        return None
    return pid


def _started(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc; None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def stop(pid_file: Path, wait_s: float = 30.0) -> None:
    """SIGTERM the process group in ``pid_file``, SIGKILL it after ``wait_s``; forget the pid."""
    pid = running_pid(pid_file)
    try:
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                _reap(pid)
                os.killpg(pid, 0)
                time.sleep(0.3)
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)


def wait_until(ready: Callable[[], bool], *, what: str, timeout: float, log: Path,
               process: subprocess.Popen | None = None) -> None:
    """Poll ``ready`` until it holds; fail early, naming the log, when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}")
        time.sleep(0.5)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f}s; see {log}")


def answers(url: str, timeout: float = 3.0) -> bool:
    """Whether ``url`` answers 200 to a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _reap(pid: int) -> None:
    """Collect the process if this one started it, so a finished server is not a zombie that looks alive."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick), for a server about to start."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
