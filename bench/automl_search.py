"""Model search rate and quality: trials per minute and best holdout RMSE per family and row count.

    .venv/bin/python bench/automl_search.py            # 10k and 100k rows, 30 s per family (~40 minutes)
    .venv/bin/python bench/automl_search.py --rows 2000 --budget-per-family 10 --overrun-limit 60   # quick

For each ``--rows`` count, generated loans (``lakeside.datasets.loans.generate``, seeded) are
written as ``silver.loans`` into an embedded (delta-rs) lake and pinned as a snapshot. Each
family then runs ``lakeside.automl.search`` alone, as the weekly retrain runs it (same leakage
excludes, ``--cv-folds`` folds, its own MLflow experiment on a real MLflow server this script
starts and stops), with ``--budget-per-family`` seconds. Spark families get a local session.

Each family runs in a child process: the search never interrupts a running trial, and one
trial of kNN, SVR or a forest on 100k rows can outlast any budget. A child still running
``--overrun-limit`` seconds after its budget is killed; the trials that had finished by then
are read back from MLflow and the family is reported as stopped, never silently dropped.

Per family and row count: trials completed, trials per minute of the whole ``search()`` call
(data load and split, trials, the best model's logging, plots and notebook), the median trial
(MLflow run start to its metrics) and its fit time (the search's ``duration_s``: CV + final
fit), best CV RMSE, the holdout RMSE of that best trial, CPU seconds (Python + Spark JVM) and
peak RSS. The baseline predicts each holdout row's grade with the training rows' mean
``int_rate`` of that grade, on the search's own train/holdout split (``automl.data.prepare``).
Results: tables on stdout and ``bench/results/automl_search.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import _report as report
from _report import log, timed

NAME = "automl_search"
TARGET = "int_rate"
POLL_S = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=_int_list, default=[10_000, 100_000],
                        help="comma-separated row counts (default 10000,100000)")
    parser.add_argument("--families", type=lambda text: [f for f in text.split(",") if f], default=None,
                        help="comma-separated families (default: every regression family, lakeside.automl.families_for('regression'))")
    parser.add_argument("--budget-per-family", type=float, default=30.0,
                        help="search time budget of each family, seconds (default 30)")
    parser.add_argument("--overrun-limit", type=float, default=120.0,
                        help="seconds a family's search may run past its budget before it is killed (default 120)")
    parser.add_argument("--cv-folds", type=int, default=5, help="cross-validation folds (default 5, as in production)")
    parser.add_argument("--seed", type=int, default=0, help="data and search seed")
    parser.add_argument("--master", default="local[*]", help="Spark master of the Spark families")
    parser.add_argument("--workdir", type=Path, default=None, help="lake, MLflow store and logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (lake, MLflow store, child logs)")
    parser.add_argument("--run-family", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run_family:
        return run_family(json.loads(args.run_family.read_text()))
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="bench-automl-")) if own_workdir else args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["LAKESIDE_HOME"] = str(workdir / "home")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    from lakeside import tracking
    from lakeside.automl import FAMILIES, families_for

    families = args.families or families_for("regression")
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise SystemExit(f"unknown families {unknown}: choose from {', '.join(FAMILIES)}")
    mlflow_home = workdir / "mlflow"
    log(f"{NAME}: rows {args.rows}, families {families}, budget {args.budget_per_family:.0f}s per family, "
        f"overrun limit {args.overrun_limit:.0f}s, {args.cv_folds} folds, workdir {workdir}")
    try:
        with timed("MLflow server start") as server_start:
            uri = tracking.ensure_server(port=_free_port(), home=mlflow_home)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        datasets, runs = {}, {}
        for rows in args.rows:
            datasets[rows] = prepare_dataset(rows, args, workdir)
            for family in families:
                runs[(rows, family)] = run_child(rows, family, datasets[rows], args, workdir, uri)
        tracking.stop_server(mlflow_home)
        result_checks = checks(families, datasets, runs, args.budget_per_family)
        print_and_save(args, families, datasets, runs, result_checks, server_start)
        return 0 if all(ok for _, ok, _ in result_checks) else 1
    finally:
        tracking.stop_server(mlflow_home)
        if args.keep:
            log(f"kept {workdir}")
        elif own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the data and its baseline ---------------------------------------------------------------

def prepare_dataset(rows: int, args: argparse.Namespace, workdir: Path) -> dict:
    """Generate, write and pin ``rows`` loans; the baselines on the search's own split."""
    import numpy as np
    from lakeside import snapshot
    from lakeside.automl.data import prepare
    from lakeside.datasets import loans
    from lakeside.tables import Lake
    from lakeside.usecases import get

    with timed(f"{rows:,} rows: generate and write silver.loans") as written:
        frame = loans.generate(rows, seed=args.seed).assign(_ingest_date="2024-01-01")
        table = Lake(workdir / f"lake-{rows}", backend="embedded").table("silver.loans")
        table.overwrite(frame, metadata={"run_id": f"bench-{NAME}"})
        pinned = snapshot.take(table, loans.SPEC.key)
    data = prepare(pinned, TARGET, get("loans").exclude, args.cv_folds, args.seed, ordinals=dict(get("loans").ordinals))
    y_train, y_holdout = data.y_train, data.y_holdout
    by_grade = data.train.groupby("grade")[TARGET].mean()
    grade_mean = data.holdout["grade"].map(by_grade).fillna(y_train.mean()).to_numpy(dtype="float64")
    baseline = {
        "grade_mean_rmse": float(np.sqrt(np.mean((grade_mean - y_holdout) ** 2))),
        "overall_mean_rmse": float(np.sqrt(np.mean((y_train.mean() - y_holdout) ** 2))),
    }
    log(f"{rows:,} rows: {len(data.train):,} train + {len(data.holdout):,} holdout; baseline holdout RMSE "
        f"grade mean {baseline['grade_mean_rmse']:.4f}, overall mean {baseline['overall_mean_rmse']:.4f}")
    return {"rows": rows, "snapshot": pinned.to_dict(), "n_train": len(data.train), "n_holdout": len(data.holdout),
            "feature_columns": data.feature_columns, "baseline": baseline, "write": written.to_dict()}


# --- one family's search, in a child process -------------------------------------------------

def run_child(rows: int, family: str, dataset: dict, args: argparse.Namespace, workdir: Path, uri: str) -> dict:
    """Run one family's search in a child; kill it once it overruns its budget by the limit."""
    folder = workdir / "runs" / f"{rows}-{family}"
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "family": family, "rows": rows, "snapshot": dataset["snapshot"], "budget_s": args.budget_per_family,
        "cv_folds": args.cv_folds, "seed": args.seed, "master": args.master, "tracking_uri": uri,
        "experiment": f"bench-{rows}-{family}", "started_file": str(folder / "started"),
        "result_file": str(folder / "result.json"),
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    log(f"{rows:,} rows, {family}: search with a {args.budget_per_family:.0f}s budget (log: {folder / 'child.log'})")
    with (folder / "child.log").open("wb") as child_log:
        child = subprocess.Popen([sys.executable, __file__, "--run-family", str(folder / "spec.json")],
                                 stdout=child_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            watched = _watch(child, Path(spec["started_file"]), args.budget_per_family + args.overrun_limit)
        finally:  # interrupted: the child and its JVM have their own session, so end them here
            if child.poll() is None:
                _kill_group(child)
    outcome = {"family": family, "rows": rows, "experiment": spec["experiment"], "exit_code": child.returncode,
               "log": str(folder / "child.log"), **watched}
    if Path(spec["result_file"]).exists():
        outcome.update(json.loads(Path(spec["result_file"]).read_text()))
    outcome.update(trials_in_mlflow(uri, spec["experiment"]))
    outcome["status"] = _status(outcome)
    if outcome["status"] == "failed":
        tail = (folder / "child.log").read_text(errors="replace").splitlines()[-25:]
        log(f"{rows:,} rows, {family}: FAILED (exit {child.returncode}); log tail:\n  " + "\n  ".join(tail))
    else:
        log(f"{rows:,} rows, {family}: {outcome['status']}, {outcome['trials_finished']} trials in "
            f"{outcome['search_s']:.1f}s")
    return outcome


def _watch(child: subprocess.Popen, started_file: Path, limit_s: float) -> dict:
    """Wait for the child; once its search started, kill it after ``limit_s`` seconds.

    Keeps the CPU seconds of the child's process tree (Python + Spark JVM) at the search's
    start and its peak RSS, for a child that gets killed and cannot report them itself.
    """
    started_at = cpu_at_start = load_at_start = None
    while child.poll() is None:
        time.sleep(POLL_S)
        if started_at is None and started_file.exists():
            started_at, cpu_at_start = float(started_file.read_text()), _tree_cpu(child.pid)
            load_at_start = report.load_average()
        if started_at is not None and time.time() - started_at > limit_s:
            cpu, peak = _tree_cpu(child.pid) - cpu_at_start, _tree_peak_rss_mb(child.pid)
            stopped_at = time.time()
            _kill_group(child)
            return {"killed": True, "search_s": stopped_at - started_at, "search_started": started_at,
                    "load_at_start": load_at_start, "cpu_s_tree": cpu, "peak_rss_mb_tree": peak}
    return {"killed": False, "search_started": started_at, "load_at_start": load_at_start}


def _kill_group(child: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (the child and its Spark JVM), SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _status(outcome: dict) -> str:
    if outcome["killed"]:
        return "stopped at limit" + (", in a trial" if outcome["trials_running"] else ", before a trial")
    if outcome["exit_code"] != 0 or "trials" not in outcome:
        return "failed"
    return "ok"


def run_family(spec: dict) -> int:
    """The child: one family's search, as the weekly retrain runs it; writes its result file."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("lakeside").setLevel(logging.INFO)
    import mlflow
    from lakeside import usecases
    from lakeside.automl import FAMILIES, search
    from lakeside.snapshot import Snapshot

    loans = usecases.get("loans")

    mlflow.set_tracking_uri(spec["tracking_uri"])
    family = FAMILIES[spec["family"]]
    spark, watch, session = None, {"python": None}, None
    if family.engine == "spark":
        from lakeside.spark import get_spark

        with timed("Spark session start") as session:
            spark = get_spark(f"bench:{NAME}:{family.name}", master=spec["master"])
        watch["jvm"] = _jvm_pid(spark)
    Path(spec["started_file"]).write_text(repr(time.time()))
    with timed(f"search {family.name} on {spec['rows']:,} rows", watch) as measure:
        found = search(Snapshot.from_dict(spec["snapshot"]), TARGET, time_budget_s=spec["budget_s"],
                       families=[family.name], experiment=spec["experiment"], exclude=loans.exclude,
                       ordinals=dict(loans.ordinals), seed=spec["seed"], spark=spark, cv_folds=spec["cv_folds"])
    board = found.leaderboard
    best = board.iloc[0]
    Path(spec["result_file"]).write_text(json.dumps({
        "search_s": measure.seconds,
        "trials": len(board),
        "best_cv_rmse": float(best["cv_rmse"]),
        "best_holdout_rmse": float(found.best_holdout["rmse"]),
        "best_params": json.loads(best["params"]),
        "best_run_id": found.best_run_id,
        "parent_run_id": found.parent_run_id,
        "skipped": found.skipped,
        "measure": measure.to_dict(),
        "spark_session_s": None if session is None else session.seconds,
    }))
    if spark is not None:
        spark.stop()
    return 0


def _jvm_pid(spark) -> int | None:
    try:
        return int(spark._jvm.java.lang.ProcessHandle.current().pid())
    except Exception:  # noqa: BLE001 - the JVM's CPU and memory are a nice-to-have
        return None


def trials_in_mlflow(uri: str, experiment: str) -> dict:
    """The family's finished trial runs as the MLflow server holds them.

    A trial's wall time runs from its run's start to its metrics being logged (the search
    logs them last), so the best trial's later model logging is not counted in it.
    """
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    ids = [] if found is None else [found.experiment_id]
    runs = client.search_runs(ids, "tags.`automl.role` = 'trial'", max_results=5000) if ids else []
    parents = client.search_runs(ids, "tags.`automl.role` = 'search'") if ids else []
    first_trial = min((run.info.start_time for run in runs), default=None)
    setup_s = (first_trial - parents[0].info.start_time) / 1000 if parents and first_trial else None
    finished = []
    for run in runs:
        if run.info.status != "FINISHED" or "cv_rmse" not in run.data.metrics:
            continue
        logged = client.get_metric_history(run.info.run_id, "duration_s")[-1].timestamp
        finished.append({
            "run_id": run.info.run_id, "trial": int(run.data.tags["trial"]),
            "cv_rmse": run.data.metrics["cv_rmse"], "holdout_rmse": run.data.metrics["holdout_rmse"],
            "fit_s": run.data.metrics["duration_s"], "trial_s": (logged - run.info.start_time) / 1000,
        })
    finished.sort(key=lambda trial: trial["trial"])
    best = min(finished, key=lambda trial: trial["cv_rmse"]) if finished else None
    return {
        "trials_finished": len(finished),
        "trials_running": sum(run.info.status == "RUNNING" for run in runs),
        "trials_failed": sum(run.info.status == "FAILED" for run in runs),
        "setup_s": setup_s,
        "median_trial_s": median(t["trial_s"] for t in finished) if finished else None,
        "median_fit_s": median(t["fit_s"] for t in finished) if finished else None,
        "mlflow_best_cv_rmse": best and best["cv_rmse"],
        "mlflow_best_holdout_rmse": best and best["holdout_rmse"],
        "trial_runs": finished,
    }


# --- /proc: a process tree's CPU and memory ---------------------------------------------------

def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def _tree_cpu(pid: int) -> float:
    return sum(report.cpu_seconds(p) or 0.0 for p in _tree(pid))


def _tree_peak_rss_mb(pid: int) -> float:
    return sum(report.peak_rss_mb(p) or 0.0 for p in _tree(pid))


# --- checks and output -------------------------------------------------------------------------

def rate(run: dict) -> float | None:
    """Finished trials per minute of the whole search call (or of the search until it was killed)."""
    seconds = run.get("search_s")
    return None if not seconds else 60.0 * run["trials_finished"] / seconds


def best_holdout(run: dict) -> float | None:
    return run.get("best_holdout_rmse", run.get("mlflow_best_holdout_rmse"))


def best_cv(run: dict) -> float | None:
    return run.get("best_cv_rmse", run.get("mlflow_best_cv_rmse"))


def cpu(run: dict) -> float | None:
    if "measure" in run:
        return sum(v or 0.0 for v in run["measure"]["cpu_seconds"].values())
    return run.get("cpu_s_tree")


def peak_mb(run: dict) -> float | None:
    if "measure" in run:
        return sum(v or 0.0 for v in run["measure"]["peak_rss_mb"].values())
    return run.get("peak_rss_mb_tree")


def checks(families: list[str], datasets: dict, runs: dict, args_budget: float) -> list[tuple[str, bool, str]]:
    out = []
    for rows, dataset in datasets.items():
        out.append((f"{rows:,}: train + holdout == rows", dataset["n_train"] + dataset["n_holdout"] == rows,
                    f"{dataset['n_train']:,} + {dataset['n_holdout']:,}"))
        mine = [runs[(rows, family)] for family in families]
        failed = [r["family"] for r in mine if r["status"] == "failed"]
        out.append((f"{rows:,}: no family failed (stopped at the limit is reported, not failed)", not failed,
                    ", ".join(failed) or "-"))
        done = [r for r in mine if r["status"] == "ok"]
        short = [r["family"] for r in done if r["trials"] < 1 or r["trials"] != r["trials_finished"]]
        out.append((f"{rows:,}: each finished search has >= 1 trial, all FINISHED in MLflow", not short,
                    ", ".join(f"{r['family']} {r['trials']}/{r['trials_finished']}" for r in done)))
        failed_trials = {r["family"]: r["trials_failed"] for r in mine if r["trials_failed"]}
        out.append((f"{rows:,}: no trial failed", not failed_trials,
                    ", ".join(f"{f} {n}" for f, n in failed_trials.items()) or "-"))
        over = {r["family"]: r["search_s"] / args_budget for r in mine
                if r.get("search_s") is not None and r["search_s"] > 1.1 * args_budget}
        out.append((f"{rows:,}: every family within 110% of its budget (search() wall time)", not over,
                    ", ".join(f"{f} {v:.0%}" for f, v in over.items()) or "-"))
        stopped = [r["family"] for r in mine if r["killed"]]
        if stopped:
            log(f"{rows:,} rows: stopped at the limit: {', '.join(stopped)}")
        scored = {r["family"]: best_holdout(r) for r in mine if best_holdout(r) is not None}
        baseline = dataset["baseline"]["grade_mean_rmse"]
        overall = min(scored.values()) if scored else None
        out.append((f"{rows:,}: best holdout RMSE < grade-mean baseline", overall is not None and overall < baseline,
                    f"{overall:.4f} vs {baseline:.4f}" if overall is not None else "no trial"))
    return out


def print_and_save(args, families: list[str], datasets: dict, runs: dict, result_checks: list,
                   server_start: report.Measure) -> None:
    print(flush=True)
    for rows, dataset in datasets.items():
        baseline = dataset["baseline"]["grade_mean_rmse"]
        report.table(
            ["family", "status", "trials", "search s", "budget used", "setup s", "trials/min", "trial s (median)",
             "fit s (median)",
             "best CV RMSE", "best holdout RMSE", "/ baseline", "CPU s", "peak RSS MiB", "load"],
            [[family, r["status"], r["trials_finished"], r.get("search_s"),
              None if r.get("search_s") is None else f"{r['search_s'] / args.budget_per_family:.0%}", r.get("setup_s"),
              _marked(rate(r), r), r["median_trial_s"],
              r["median_fit_s"], best_cv(r), best_holdout(r), _ratio(best_holdout(r), baseline), cpu(r),
              peak_mb(r), _load(r)] for family in families for r in [runs[(rows, family)]]],
            title=(f"{rows:,} rows ({dataset['n_train']:,} train, {dataset['n_holdout']:,} holdout), "
                   f"{args.budget_per_family:.0f}s per family; baseline (grade mean) holdout RMSE {baseline:.4f}, "
                   f"overall mean {dataset['baseline']['overall_mean_rmse']:.4f}"))
        print(flush=True)
    counts = list(datasets)
    headers = ["family"] + [f"trials/min {n:,}" for n in counts]
    if len(counts) > 1:
        headers.append(f"rate {counts[-1]:,} / {counts[0]:,}")
    headers += [h for n in counts for h in (f"holdout {n:,}", f"/ baseline {n:,}")]
    rows = []
    for family in families:
        mine = [runs[(n, family)] for n in counts]
        rates = [rate(r) for r in mine]
        row = [family] + [_marked(value, r) for value, r in zip(rates, mine)]
        if len(counts) > 1:
            measured = mine[0]["status"] == mine[-1]["status"] == "ok"
            row.append(_ratio(rates[-1], rates[0]) if measured else None)
        row += [v for n, r in zip(counts, mine)
                for v in (best_holdout(r), _ratio(best_holdout(r), datasets[n]["baseline"]["grade_mean_rmse"]))]
        rows.append(row)
    rows.append(["baseline (grade mean)"] + [None] * len(counts) + ([None] if len(counts) > 1 else [])
                + [v for n in counts for v in (datasets[n]["baseline"]["grade_mean_rmse"], 1.0)])
    report.table(headers, rows, title=f"side by side: {args.budget_per_family:.0f}s per family "
                                      "(* = stopped at the overrun limit: rate of the trials finished by then; < = none finished)")
    busy = sorted({f"{r['rows']:,}/{r['family']}" for r in runs.values()
                   if (_load(r) or 0) > (os.cpu_count() or 1)})
    if busy:
        print(f"WARNING: the machine was busy (1-minute load average above {os.cpu_count()} CPUs) at the start "
              f"of {', '.join(busy)}: wall times and rates are stretched; compare CPU seconds.", flush=True)
    print(flush=True)
    report.table(["check", "ok", "detail"], [list(c) for c in result_checks])
    print(flush=True)
    report.write_json(NAME, {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "run_family"},
        "mlflow_server_start": server_start.to_dict(),
        "datasets": {str(n): d for n, d in datasets.items()},
        "families": {str(n): {f: {**runs[(n, f)], "trials_per_min": rate(runs[(n, f)]),
                                  "best_over_baseline": _ratio(best_holdout(runs[(n, f)]),
                                                               datasets[n]["baseline"]["grade_mean_rmse"]),
                                  "cpu_s": cpu(runs[(n, f)]), "peak_rss_mb": peak_mb(runs[(n, f)])}
                              for f in families} for n in counts},
        "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in result_checks],
    })


def _marked(value: float | None, run: dict) -> str | float | None:
    """A stopped family's rate: ``0.71*`` counts the trials finished by then; ``<0.33`` when none
    finished (one trial takes longer than the search was given)."""
    if run["status"] == "failed":
        return "failed"
    if value is None or not run["killed"]:
        return value
    return f"{value:.2f}*" if run["trials_finished"] else f"<{60.0 / run['search_s']:.2f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _load(run: dict) -> float | None:
    before = run.get("measure", {}).get("load_average_before") or run.get("load_at_start")
    return before[0] if before else None


if __name__ == "__main__":
    sys.exit(main())
