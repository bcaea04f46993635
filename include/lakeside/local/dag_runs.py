"""Several DAG runs, one after the other, in one process: what ``airflow dags test`` does for
each, without paying Airflow's start each time.

    python -m lakeside.local.dag_runs steps.json --log dag-runs.log

A separate ``airflow dags test`` per run starts the CLI, parses the DAG folder and builds the
in-process execution API before its first task: about 14 s on 2 cores, most of a small DAG's
run. Here the API is built once; the DAG folder is still parsed for each run, so DAGs shaped by
the environment at parse time see each step's ``env``.

``steps.json`` holds a list of :class:`DagRunStep` fields. Airflow's output (and its tasks',
Spark jobs included) goes to ``--log``, each step headed by its title; each step's title and
duration go to standard output. The first failed run stops the sequence: exit status 1, its
part of the log on standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

STEP_MARK = "=== lakeside.local.dag_runs step: "


@dataclass(frozen=True)
class DagRunStep:
    title: str
    dag_id: str
    logical_date: str
    conf: dict | None = None
    env: dict[str, str] = field(default_factory=dict)  # for the DAG files, set before they are parsed

    def cli_args(self) -> list[str]:
        conf = ["-c", json.dumps(self.conf)] if self.conf is not None else []
        return ["dags", "test", self.dag_id, self.logical_date, *conf]


def write_steps(steps: list[DagRunStep], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(step) for step in steps], indent=2))
    return path


def read_steps(path: Path) -> list[DagRunStep]:
    return [DagRunStep(**fields) for fields in json.loads(path.read_text())]


def failed_part(log: Path) -> str:
    """The log from the last step's heading on (its last 60 lines)."""
    text = log.read_text(errors="replace")
    part = text[text.rfind(STEP_MARK):] if STEP_MARK in text else text
    return "".join(part.splitlines(keepends=True)[-60:])


def run_step(step: DagRunStep) -> None:
    """One ``airflow dags test``, through Airflow's own CLI parser, in this process."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(step.cli_args())
    args.func(args)


def tasks_that_ran(step: DagRunStep) -> int:
    """How many tasks of the step's newest run have an outcome: none means the run did nothing
    (a logical date before the DAG's ``start_date`` gets no task instances and still succeeds)."""
    import pendulum
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        runs = DagRun.find(dag_id=step.dag_id, logical_date=pendulum.parse(step.logical_date), session=session)
        if not runs:
            return 0
        newest = max(runs, key=lambda run: run.id)
        return session.scalar(select(func.count()).select_from(TaskInstance).where(
            TaskInstance.dag_id == step.dag_id, TaskInstance.run_id == newest.run_id,
            TaskInstance.state.in_(["success", "skipped", "failed", "upstream_failed"])))


def _output_to(log: Path) -> TextIO:
    """Send this process's output (file descriptors 1 and 2, so child processes' too) to ``log``;
    a stream on the former standard output for progress lines."""
    progress = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    handle = log.open("a")
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    return progress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.local.dag_runs", description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=Path, help="JSON list of steps")
    parser.add_argument("--log", type=Path, required=True, help="where Airflow's output goes")
    args = parser.parse_args(argv)
    steps = read_steps(args.steps)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    failure_stream = os.fdopen(os.dup(2), "w", buffering=1)
    progress = _output_to(args.log)
    for step in steps:
        print(f"{step.title} ...", file=progress)
        print(f"\n{STEP_MARK}{step.title}: airflow {' '.join(step.cli_args())}", flush=True)
        os.environ.update(step.env)  # this process is the program: the next parse reads them
        started = time.monotonic()
        try:
            run_step(step)
            if not tasks_that_ran(step):
                raise RuntimeError(f"no task of {step.dag_id} ran for {step.logical_date}: is the logical date "
                                   f"before the DAG's start_date?")
        except (Exception, SystemExit) as error:  # noqa: BLE001 - any failure ends the sequence
            print(f"{type(error).__name__}: {error}", flush=True)
            print(f"{step.title}: failed after {time.monotonic() - started:.0f}s, `airflow {' '.join(step.cli_args())}`; "
                  f"log {args.log}:\n{failed_part(args.log)}", file=failure_stream)
            return 1
        print(f"  done in {time.monotonic() - started:.0f}s", file=progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
