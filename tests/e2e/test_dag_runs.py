"""Several DAG runs in one Airflow process: each run sees its step's conf and environment, and
the first failed run stops the sequence and shows its part of the log."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from lakeside.local.dag_runs import DagRunStep, write_steps

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TOY_DAG = textwrap.dedent('''
    """A DAG whose one task records its date, conf and the environment it was parsed in."""
    import json
    import os
    from datetime import datetime
    from pathlib import Path

    from airflow.sdk import dag, task

    SHAPE = os.environ.get("TOY_SHAPE", "plain")


    @dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["test"], doc_md=__doc__)
    def toy_steps():
        @task(task_id=f"record_{SHAPE}")
        def record(ds=None, dag_run=None):
            conf = dict(dag_run.conf or {})
            Path(os.environ["TOY_OUT"], ds).write_text(json.dumps({"shape": SHAPE, "conf": conf}))
            if conf.get("fail"):
                raise RuntimeError("the toy task was asked to fail")

        record()


    toy_steps()
''')


def test_runs_in_order_with_their_conf_and_env_and_stop_at_the_first_failure(tmp_path):
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "toy_steps.py").write_text(TOY_DAG)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "TOY_OUT": str(out),
           "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    migrated = subprocess.run(["airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    steps = write_steps([
        DagRunStep("first day, shaped", "toy_steps", "2024-01-01", env={"TOY_SHAPE": "wide"}),
        DagRunStep("second day, with conf", "toy_steps", "2024-01-02", {"rows": 3}, env={"TOY_SHAPE": "narrow"}),
        DagRunStep("third day fails", "toy_steps", "2024-01-03", {"fail": True}),
        DagRunStep("never reached", "toy_steps", "2024-01-04"),
    ], tmp_path / "steps.json")

    log = tmp_path / "runs.log"
    done = subprocess.run([sys.executable, "-m", "lakeside.local.dag_runs", str(steps), "--log", str(log)],
                          env=env, capture_output=True, text=True, timeout=500)

    assert done.returncode == 1, done.stdout + done.stderr
    recorded = {path.name: json.loads(path.read_text()) for path in out.iterdir()}
    assert recorded == {
        "2024-01-01": {"shape": "wide", "conf": {}},
        "2024-01-02": {"shape": "narrow", "conf": {"rows": 3}},
        "2024-01-03": {"shape": "narrow", "conf": {"fail": True}},
    }
    assert done.stdout.count("done in") == 2 and "never reached" not in done.stdout, done.stdout
    assert "third day fails" in done.stderr and "the toy task was asked to fail" in done.stderr, done.stderr[-3000:]
    assert "airflow dags test toy_steps 2024-01-03" in done.stderr
    assert "record_wide" in log.read_text() and "record_narrow" in log.read_text()

    before_start = write_steps([DagRunStep("before the DAG's start", "toy_steps", "2023-12-31")],
                               tmp_path / "before.json")
    done = subprocess.run([sys.executable, "-m", "lakeside.local.dag_runs", str(before_start), "--log", str(log)],
                          env=env, capture_output=True, text=True, timeout=500)
    assert done.returncode == 1 and "no task of toy_steps ran for 2023-12-31" in done.stderr, done.stderr[-3000:]
    assert "2023-12-31" not in {path.name for path in out.iterdir()}
