"""`make demo`'s module on a fresh LAKESIDE_HOME with a small search budget: every declared use
case with a demo section ends with a champion answering on loopback."""

import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest
from mlflow import MlflowClient

from lakeside.processes import free_port

pytestmark = [pytest.mark.slow(expected_s=520), pytest.mark.timeout(2700)]


def test_the_demo_trains_and_serves_every_demo_use_case(tmp_path):
    from lakeside import tracking, usecases

    env = {**os.environ, "LAKESIDE_HOME": str(tmp_path / "home"), "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "BENTOML_HOME": str(tmp_path / "bentoml"), "LAKESIDE_MLFLOW_PORT": str(free_port()),
           "LAKESIDE_SERVE_PORT": str(free_port()), "LAKESIDE_SERVE_WATCH_S": "0"}
    for name in ("MLFLOW_TRACKING_URI", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "LAKESIDE_MODEL_PREFIX",
                 "LAKESIDE_REGISTRY_REPLAY"):
        env.pop(name, None)
    try:
        done = subprocess.run([sys.executable, "-m", "lakeside.local.demo", "--search-budget", "10"], env=env,
                              capture_output=True, text=True, timeout=2400)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        output = done.stdout
        for case in usecases.all_use_cases():
            if case.demo is None:
                continue
            assert f"Champion: {case.model_name} version 1" in output, output[-3000:]
            served = next(line for line in output.splitlines() if line.startswith(f"Serving {case.model_name} "))
            url = served.split(" at ")[1].split()[0]
            with urllib.request.urlopen(f"{url}/model", timeout=30) as answer:
                assert json.load(answer)["name"] == case.model_name
            registry = MlflowClient(f"http://127.0.0.1:{env['LAKESIDE_MLFLOW_PORT']}")
            assert registry.get_model_version(case.model_name, "1").tags.get("lakeside.replay") == "200", case.name
            for table in case.demo.tables:
                assert re.search(rf"{re.escape(table)} +version +\d+ +rows: delta-rs +[1-9]", output), table
        assert "silver.loans" in output and "answer: " in output and "Demo finished in" in output
        for pipe in usecases.all_pipelines():
            if pipe.demo is None:
                continue
            assert f"== {pipe.name}: " in output and not re.search(r"none of its files", output), output[-3000:]
            for table in pipe.tables:
                if not table.startswith("quarantine."):
                    assert re.search(rf"{re.escape(table)} +version +\d+ +rows: delta-rs +[1-9]", output), table
        # the champion scored every ingested day of silver.loans, and monitoring judged the last one
        silver = re.search(r"silver\.loans +version +\d+ +rows: delta-rs +(\d+)", output)
        scored = re.search(r"predictions\.loans_int_rate +version +\d+ +rows: delta-rs +(\d+)", output)
        assert silver and scored and scored[1] == silver[1], output[-3000:]
        assert re.search(r"monitoring\.drift_metrics +version +\d+ +rows: delta-rs +[1-9]", output), output[-3000:]
        assert re.search(r"monitoring\.table_health +version +\d+ +rows: delta-rs +[1-9]", output), output[-3000:]
        # the weekly export landed on the Monday only: one version, the catalogue less its few bad rows
        weekly = re.search(r"silver\.weekly_sales +version +(\d+) +rows: delta-rs +(\d+)", output)
        assert weekly and weekly[1] == "0" and 780 <= int(weekly[2]) <= 811, output[-3000:]
    finally:
        subprocess.run([sys.executable, "-m", "lakeside.serving.deploy", "--stop"], env=env, timeout=120)
        tracking.stop_server(tmp_path / "home" / "mlflow")
