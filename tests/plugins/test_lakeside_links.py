"""The Airflow UI links to the MLflow server the tasks use."""

import json
import os
import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

PROBE = """
import json
from airflow import plugins_manager
views = [v for v in plugins_manager.get_plugin_info() if v["name"] == "lakeside"]
print(json.dumps(views[0]["external_views"] if views else None))
"""


def test_airflow_loads_the_plugin_and_links_the_configured_mlflow(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
           "MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    views = json.loads(done.stdout.strip().splitlines()[-1])
    assert views and views[0]["href"] == "http://mlflow.internal:5000" and views[0]["category"] == "Lakeside"
