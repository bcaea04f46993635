"""Several DAG runs in one Airflow process: each run sees its step's conf and environment, and
the first failed run stops the sequence and shows its part of the log. Two processes share the
runs out, each run once its needs are done."""

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
    import time
    from datetime import datetime
    from pathlib import Path

    from airflow.sdk import dag, task

    SHAPE = os.environ.get("TOY_SHAPE", "plain")


    @dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["test"], doc_md=__doc__)
    def toy_steps():
        @task(task_id=f"record_{SHAPE}")
        def record(ds=None, dag_run=None):
            conf = dict(dag_run.conf or {})
            started = time.time()
            time.sleep(conf.get("sleep", 0))
            Path(os.environ["TOY_OUT"], ds).write_text(json.dumps(
                {"shape": SHAPE, "conf": conf, "started": started, "ended": time.time()}))
            if conf.get("fail"):
                raise RuntimeError("the toy task was asked to fail")

        record()


    toy_steps()
''')


def toy_airflow(tmp_path):
    """A migrated Airflow home on SQLite with the toy DAG; the environment and the output folder."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "toy_steps.py").write_text(TOY_DAG)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "TOY_OUT": str(out),
           "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    migrated = subprocess.run(["airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    return env, out


def recorded_runs(out):
    return {path.name: json.loads(path.read_text()) for path in out.iterdir()}


def test_runs_in_order_with_their_conf_and_env_and_stop_at_the_first_failure(tmp_path):
    env, out = toy_airflow(tmp_path)
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
    recorded = {day: {"shape": run["shape"], "conf": run["conf"]} for day, run in recorded_runs(out).items()}
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


def test_two_processes_share_the_runs_each_once_and_after_what_it_needs(tmp_path):
    env, out = toy_airflow(tmp_path)
    steps = write_steps([
        DagRunStep("slow day", "toy_steps", "2024-01-01", {"sleep": 12}),
        DagRunStep("independent day", "toy_steps", "2024-01-02"),
        DagRunStep("needs the slow day", "toy_steps", "2024-01-03", after=(0,)),
    ], tmp_path / "steps.json")
    claims = tmp_path / "claims"
    command = [sys.executable, "-m", "lakeside.local.dag_runs", str(steps), "--claims", str(claims)]
    workers = [subprocess.Popen([*command, "--log", str(tmp_path / f"runs-{n}.log")], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in (1, 2)]
    answers = [worker.communicate(timeout=500) for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], answers
    runs = recorded_runs(out)
    assert sorted(runs) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert runs["2024-01-03"]["started"] >= runs["2024-01-01"]["ended"]
    progress = "".join(stdout for stdout, _ in answers)
    assert progress.count("done in") == 3, progress
    assert all("done in" in stdout for stdout, _ in answers), answers  # both processes ran a DAG run
    assert runs["2024-01-02"]["started"] < runs["2024-01-01"]["ended"]  # side by side
