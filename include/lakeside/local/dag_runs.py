"""Several DAG runs, one after the other, in one process: what ``airflow dags test`` does for
each, without paying Airflow's start each time.

    python -m lakeside.local.dag_runs steps.json --log dag-runs.log

A separate ``airflow dags test`` per run starts the CLI, parses the DAG folder and builds the
in-process execution API before its first task: about 14 s on 2 cores, most of a small DAG's
run. Here the API is built once; the DAG folder is still parsed for each run, so DAGs shaped by
the environment at parse time see each step's ``env``.

``steps.json`` holds a list of :class:`DagRunStep` fields; a step's ``after`` names the earlier
steps (by position) it needs. One process runs them in order. Several processes given the same
steps and ``--claims`` folder share them out: each takes the first step not yet taken whose
``after`` steps are done (``make demo`` runs two: on 2 cores one DAG run leaves much of a core
idle while it starts JVMs and servers). Airflow's output (and its tasks', Spark jobs included)
goes to ``--log``, each step headed by its title; each step's title and duration go to standard
output. The first failed run stops its process and keeps the others from starting another step:
exit status 1, the failed run's part of the log on standard error.
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
    after: tuple[int, ...] = ()  # positions of the earlier steps this one needs

    def cli_args(self) -> list[str]:
        conf = ["-c", json.dumps(self.conf)] if self.conf is not None else []
        return ["dags", "test", self.dag_id, self.logical_date, *conf]


def write_steps(steps: list[DagRunStep], path: Path) -> Path:
    for position, step in enumerate(steps):
        if any(not 0 <= needed < position for needed in step.after):
            raise ValueError(f"step {position} ({step.title}) needs {list(step.after)}: only earlier steps can be needed")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(step) for step in steps], indent=2))
    return path


def read_steps(path: Path) -> list[DagRunStep]:
    return [DagRunStep(**{**fields, "after": tuple(fields.get("after", ()))}) for fields in json.loads(path.read_text())]


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


class Claims:
    """What the processes sharing a folder have taken and finished: files created with O_EXCL,
    so exactly one process takes each step. Without a folder, this process takes everything."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.done: set[int] = set()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str) -> bool:
        if self.folder is None:
            return True
        try:
            os.close(os.open(self.folder / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def taken(self, name: str) -> bool:
        return self.folder is not None and (self.folder / name).exists()

    def finished(self, position: int) -> None:
        self.done.add(position)
        self.take(f"done-{position}")

    def is_done(self, position: int) -> bool:
        return position in self.done or self.taken(f"done-{position}")

    def failed(self) -> bool:
        return self.taken("failed")


def run_steps(steps: list[DagRunStep], log: Path, progress: TextIO, failures: TextIO, claims: Claims) -> bool:
    """Take and run steps until every one is taken; False (the failed step's log part on
    ``failures``) at this process's first failed run or once another process's run failed."""
    left = list(range(len(steps)))
    while left:
        if claims.failed():
            return False
        ready = [p for p in left if all(claims.is_done(needed) for needed in steps[p].after)]
        position = next((p for p in ready if claims.take(f"step-{p}")), None)
        if position is None:
            left = [p for p in left if not claims.taken(f"step-{p}")]
            time.sleep(0.5)
            continue
        left.remove(position)
        if not run_one(steps[position], log, progress, failures):
            claims.take("failed")
            return False
        claims.finished(position)
    return True


def run_one(step: DagRunStep, log: Path, progress: TextIO, failures: TextIO) -> bool:
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
              f"log {log}:\n{failed_part(log)}", file=failures)
        return False
    print(f"  {step.title}: done in {time.monotonic() - started:.0f}s", file=progress)
    return True


def write_dags_once(claims: Path) -> None:
    """``airflow dags reserialize``, one process at a time: each run writes the DAG folder to the
    metadata database first, and two processes inserting the same new DAGs at once collide."""
    import fcntl

    from airflow.cli import cli_parser

    claims.mkdir(parents=True, exist_ok=True)
    with (claims / "reserialize.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        args = cli_parser.get_parser().parse_args(["dags", "reserialize"])
        args.func(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.local.dag_runs", description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=Path, help="JSON list of steps")
    parser.add_argument("--log", type=Path, required=True, help="where Airflow's output goes")
    parser.add_argument("--claims", type=Path, default=None,
                        help="a folder shared by the processes running the same steps side by side (new for each run)")
    args = parser.parse_args(argv)
    steps = read_steps(args.steps)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    failures = os.fdopen(os.dup(2), "w", buffering=1)
    progress = _output_to(args.log)
    if args.claims is not None:
        write_dags_once(args.claims)
    return 0 if run_steps(steps, args.log, progress, failures, Claims(args.claims)) else 1


if __name__ == "__main__":
    sys.exit(main())
