"""Evidently's HTML data-drift report of a served model, for a person to look at beside the
monitoring tables:

    python -m lakeside.monitoring.report --model M [--date 2024-01-03] [--window-days 1]

The samples are the monitoring DAG's (:func:`lakeside.monitoring.models.samples`): the
champion's training snapshot with its predictions against the requests it answered and the
batch predictions of the window ending on the date. Evidently 0.7.23 compares them in its own
venv (:func:`lakeside.config.evidently_venv`), and the report (``report.html``, Evidently's
``report.json``, our ``drift.json``) is logged to MLflow, experiment ``lakeside-monitoring``,
in one run per model, version and date (a rerun replaces its artifacts). The date defaults to
the last date of the model's inference table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lakeside.config import evidently_venv
from lakeside.landing import as_date
from lakeside.tables import Lake

log = logging.getLogger(__name__)

EXPERIMENT = "lakeside-monitoring"
RUNNER = Path(__file__).with_name("evidently_run.py")


@dataclass(frozen=True)
class DriftReport:
    run_id: str
    html_uri: str
    drift: dict[str, dict]

    @property
    def drifted(self) -> list[str]:
        return sorted(column for column, found in self.drift.items() if found["drifted"])


def report(model: str, day: dt.date | str, lake: Lake, window_days: int = 1) -> DriftReport:
    """Build the report of ``model`` for the window ending on ``day`` and log it to MLflow."""
    from lakeside.monitoring.models import samples

    day = as_date(day)
    found = samples(model, lake, day, window_days)
    if found.recent.empty:
        raise ValueError(f"{model} answered no request and scored no batch between "
                         f"{found.facts['window_start']} and {day}: nothing to compare")
    with tempfile.TemporaryDirectory(prefix="lakeside-evidently-") as folder:
        found.baseline[found.columns].to_parquet(Path(folder) / "baseline.parquet")
        found.recent[found.columns].to_parquet(Path(folder) / "recent.parquet")
        run_evidently(Path(folder))
        drift = json.loads((Path(folder) / "drift.json").read_text())
        run_id = _log(model, day, window_days, found.facts, Path(folder), drift)
    log.info("%s %s: Evidently report in run %s; drifted: %s", model, day, run_id,
             [c for c, f in drift.items() if f["drifted"]])
    return DriftReport(run_id, f"runs:/{run_id}/report.html", drift)


def run_evidently(folder: Path) -> None:
    python = evidently_venv() / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"no Evidently venv at {python.parent.parent}: `make setup` creates it "
                                "(or set LAKESIDE_EVIDENTLY_VENV)")
    done = subprocess.run([str(python), str(RUNNER), str(folder)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"Evidently's report failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def _log(model: str, day: dt.date, window_days: int, facts: dict, folder: Path, drift: dict) -> str:
    import mlflow
    from mlflow import MlflowClient

    from lakeside.tracking import experiment_id

    experiment = experiment_id(EXPERIMENT)
    tags = {"model": model, "model_version": str(facts["version"]), "date": day.isoformat(),
            "window_days": str(window_days), "kind": "evidently"}
    query = " AND ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
    earlier = MlflowClient().search_runs([experiment], query, max_results=1)
    run_id = earlier[0].info.run_id if earlier else None
    name = None if run_id else f"evidently-{model}-{day}"
    with mlflow.start_run(run_id=run_id, experiment_id=experiment, run_name=name, tags=tags) as run:
        for artifact in ("report.html", "report.json", "drift.json"):
            mlflow.log_artifact(str(folder / artifact))
        mlflow.log_metrics({"drifted_columns": sum(f["drifted"] for f in drift.values()),
                            "request_rows": int(facts["request_rows"]), "batch_rows": int(facts["batch_rows"])})
        mlflow.set_tags({"snapshot_table": facts["snapshot_table"], "snapshot_version": facts["snapshot_version"]})
        return run.info.run_id


def last_inference_date(model: str, lake: Lake) -> dt.date:
    table = lake.table(f"inference.{model}")
    if not table.exists():
        raise ValueError(f"inference.{model} does not exist: give --date")
    return max(table.to_arrow().column("date").to_pylist())


def main(argv: list[str] | None = None) -> int:
    from lakeside import tracking
    from lakeside.tables import open_lake

    parser = argparse.ArgumentParser(prog="python -m lakeside.monitoring.report", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--date", default=None, help="the window's last day (default: the inference table's last)")
    parser.add_argument("--window-days", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import mlflow

    mlflow.set_tracking_uri(tracking.tracking_uri())
    lake = open_lake()
    day = as_date(args.date) if args.date else last_inference_date(args.model, lake)
    made = report(args.model, day, lake, args.window_days)
    print(f"Evidently report of {args.model} for {day}: {tracking.tracking_uri()} run {made.run_id} "
          f"({made.html_uri}); drifted: {', '.join(made.drifted) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
