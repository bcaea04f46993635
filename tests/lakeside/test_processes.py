import os
import sys
import time
from pathlib import Path

import pytest

from lakeside import processes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"]


def _start(tmp_path, command):
    return processes.start_detached(command, env={}, log=tmp_path / "server.log", pid_file=tmp_path / "server.pid")


def test_a_started_server_is_found_by_its_pid_file_and_stopped(tmp_path):
    process = _start(tmp_path, SLEEPER)
    assert processes.running_pid(tmp_path / "server.pid") == process.pid

    processes.stop(tmp_path / "server.pid", wait_s=10)

    assert process.poll() is not None
    assert not (tmp_path / "server.pid").exists()
    assert processes.running_pid(tmp_path / "server.pid") is None


def test_a_server_ignoring_sigterm_is_killed_after_the_wait(tmp_path):
    process = _start(tmp_path, STUBBORN)
    time.sleep(1)

    processes.stop(tmp_path / "server.pid", wait_s=1)

    assert process.wait(timeout=10) == -9


def test_a_finished_child_is_not_taken_for_a_running_server(tmp_path):
    process = _start(tmp_path, [sys.executable, "-c", "pass"])
    time.sleep(1)  # it has exited and nobody has reaped it yet: a zombie, whose group still "exists"

    assert (tmp_path / "server.pid").exists()
    assert processes.running_pid(tmp_path / "server.pid") is None
    assert process.pid not in _children()


def _children() -> set[int]:
    """This process's children that have not been reaped (zombies included)."""
    pid = os.getpid()
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_waiting_for_a_server_that_exits_names_its_log(tmp_path):
    process = _start(tmp_path, [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"])

    with pytest.raises(RuntimeError, match=r"exited with 3; see .*server\.log"):
        processes.wait_until(lambda: False, what="the server", timeout=30, log=tmp_path / "server.log", process=process)
    assert "bad config" in (tmp_path / "server.log").read_text()


def test_waiting_gives_up_after_the_timeout(tmp_path):
    with pytest.raises(TimeoutError, match="the server was not ready within 1s"):
        processes.wait_until(lambda: False, what="the server", timeout=1, log=tmp_path / "server.log")


def test_a_pid_reused_by_another_process_is_not_taken_for_the_server_nor_stopped(tmp_path):
    """A server that died leaves its pid file; the kernel may give its pid to a later process
    (another user's server): that one must not be found, nor killed by ``stop``."""
    process = _start(tmp_path, SLEEPER)
    pid, started = (tmp_path / "server.pid").read_text().split()
    (tmp_path / "server.pid").write_text(f"{pid} {int(started) - 1}")  # the same number, another start

    assert processes.running_pid(tmp_path / "server.pid") is None
    processes.stop(tmp_path / "server.pid", wait_s=1)
    assert process.poll() is None, "stop killed a process the pid file does not describe"
    process.kill()
    process.wait()
