"""Deploy's bookkeeping of several local servers, without starting one: ports, records, the CLI."""

import json
import os
import socket
import subprocess
import sys

import pytest

from lakeside.serving import deploy


@pytest.fixture()
def base_port(lakeside_home, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LAKESIDE_SERVE_PORT", str(port))
    monkeypatch.delenv("LAKESIDE_SERVE_MODEL", raising=False)
    return port


def test_the_default_model_gets_the_serve_port_and_others_the_next_free_one(base_port, monkeypatch):
    monkeypatch.setenv("LAKESIDE_SERVE_MODEL", "sales")

    assert deploy.choose_port("sales", []) == base_port
    assert deploy.choose_port("fraud", []) > base_port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base_port + 1))
        assert deploy.choose_port("fraud", []) not in (base_port, base_port + 1)
    assert deploy.choose_port("fraud", [base_port + 1, base_port + 2]) > base_port + 2


def test_without_a_default_the_first_model_gets_the_serve_port(base_port):
    assert deploy.choose_port("first", []) == base_port
    assert deploy.choose_port("second", [base_port]) > base_port


def test_endpoints_lists_running_servers_only(base_port, lakeside_home):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        for model, pid, port in (("Sales Forecast", alive.pid, base_port), ("gone", 2 ** 22 + 7, base_port + 1)):
            folder = deploy.server_dir(model)
            (folder / "server.pid").write_text(str(pid))
            (folder / "server.json").write_text(json.dumps(
                {"model": model, "alias": "champion", "host": "127.0.0.1", "port": port, "bento": "b:v1",
                 "kind": "tabular"}))

        assert deploy.endpoints() == {"Sales Forecast": f"http://127.0.0.1:{base_port}"}
        assert deploy.server_dir("Sales Forecast") == lakeside_home / "serving" / "sales_forecast"
        assert deploy.stop_local("Sales Forecast") == ["Sales Forecast"]
        assert alive.wait(timeout=30) is not None
        assert deploy.endpoints() == {}
    finally:
        if alive.poll() is None:
            os.killpg(alive.pid, 9)


def test_the_cli_without_a_model_says_how_to_name_one(base_port):
    with pytest.raises(SystemExit) as exit_info:
        deploy.main([])

    assert exit_info.value.code == 2


def test_deploy_without_a_model_is_refused():
    with pytest.raises(ValueError, match="LAKESIDE_SERVE_MODEL"):
        deploy.deploy("", target="bento")


def test_the_example_request_keeps_the_shape_of_the_logged_input_example():
    from lakeside.serving.deploy import request_from_example

    frame = {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [5, 6]]}
    assert request_from_example(frame) == {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}
    assert request_from_example([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], rows=1) == {"inputs": [[1.0, 2.0]]}
    assert request_from_example({"inputs": [{"store": 1}, {"store": 2}, {"store": 3}]}) == \
        {"inputs": [{"store": 1}, {"store": 2}]}
