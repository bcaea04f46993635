"""Starting the standalone cluster fails early and clearly, and leaves nothing running."""

import socket
import time

import pytest

from lakeside.local.cluster import ClusterError, start_standalone
from lakeside.processes import free_port


@pytest.fixture()
def held_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_an_explicit_port_that_is_taken_is_refused(held_port, tmp_path):
    with pytest.raises(ClusterError, match=f"port {held_port} on 127.0.0.1 is already in use"):
        start_standalone("127.0.0.1", held_port, state_dir=tmp_path)
    assert not (tmp_path / "pids").exists(), "nothing may be started"


def test_a_host_of_another_machine_is_refused(tmp_path):
    with pytest.raises(ClusterError, match="cannot listen on 192.0.2.1"):
        start_standalone("192.0.2.1", state_dir=tmp_path)


@pytest.mark.slow
def test_a_worker_that_cannot_start_names_its_log_and_stops_the_master(tmp_path):
    with pytest.raises(ClusterError) as failure:
        start_standalone("127.0.0.1", free_port(), memory="a lot", state_dir=tmp_path, timeout=90)

    message = str(failure.value)
    assert "org.apache.spark.deploy.worker.Worker" in message
    worker_log = next((tmp_path / "logs").glob("*Worker*.out"))
    assert str(worker_log) in message
    master_log = next((tmp_path / "logs").glob("*Master*.out")).read_text()
    master_port = int(master_log.split("Starting Spark master at spark://127.0.0.1:", 1)[1].split()[0])
    deadline = time.monotonic() + 30
    while _answers(master_port):
        assert time.monotonic() < deadline, f"the master still listens on port {master_port}"
        time.sleep(0.5)
    assert not list((tmp_path / "pids").glob("*.pid")), "no daemon may be left running"


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True
