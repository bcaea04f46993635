from lakeside.local import ui


def test_the_airflow_of_ui_mode_serves_and_executes_on_its_loopback_port(lakeside_home):
    env = ui.airflow_environment(18080, "http://127.0.0.1:5999")

    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert env["LAKESIDE_HOME"] == str(lakeside_home)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")


def test_the_port_comes_from_the_environment(monkeypatch):
    assert ui.airflow_port() == 8080
    monkeypatch.setenv("LAKESIDE_UI_AIRFLOW_PORT", "18081")
    assert ui.airflow_port() == 18081


def test_nothing_answering_is_not_a_healthy_airflow():
    assert not ui.airflow_healthy("http://127.0.0.1:9")


def test_the_printed_lines_name_every_url_and_the_stop_command(lakeside_home):
    endpoints = [(None, "(no champion yet)"), ("http://127.0.0.1:3001", "(iris version 2)")]
    lines = ui.LocalUI("http://127.0.0.1:8080", "http://127.0.0.1:5000", endpoints).lines()

    assert lines[0].startswith("Airflow UI:     http://127.0.0.1:8080")
    assert lines[1] == "MLflow UI:      http://127.0.0.1:5000"
    assert lines[2] == "Bento endpoint: -  (no champion yet)"
    assert lines[3] == "Bento endpoint: http://127.0.0.1:3001  (iris version 2)"
    assert lines[4].endswith("python -m lakeside.local.ui --stop")
