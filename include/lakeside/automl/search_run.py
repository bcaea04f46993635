"""The model search: Optuna (seeded TPE) over every family, each trial a nested MLflow run.

A trial is scored by cross-validation on the training rows; the best trial overall is the one
with the best cross-validated value of the search's metric (``cv_rmse`` lowest for regression
by default, ``cv_pr_auc`` highest for binary, ``cv_f1`` for multiclass; the holdout is
reported, never used to choose, so the promotion gate can still trust it). Each family's best trial gets its model, plots and a
glass-box notebook once the family is done.

The time budget is shared out as the search goes: a family may use the time left divided by
the families left (Optuna's ``timeout``), so time a quick family leaves over goes to the next
ones. A trial still running when its family has used its share plus 10% is stopped (a
scikit-learn trial's process is killed, a Spark trial's jobs are cancelled); a family that
finished no trial by then is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.data
import mlflow.sklearn
import nbformat
import numpy as np
import optuna
import pandas as pd
from mlflow.data.delta_dataset_source import DeltaDatasetSource
from mlflow.models import infer_signature

from lakeside import metrics, tracking
from lakeside.automl import plots
from lakeside.automl.data import SearchData, prepare
from lakeside.automl.families import Family, resolve
from lakeside.automl.notebook import glass_box
from lakeside.automl.training import Evaluation, SklearnTrainer, TrialStopped, score
from lakeside.snapshot import Snapshot

log = logging.getLogger("lakeside.automl")

MODEL_NAME = "model"
IMPORTANCE_ROWS = 2_000
DEFAULT_METRIC = {"regression": "rmse", "binary": "pr_auc", "multiclass": "f1"}
DEADLINE_SLACK = 1.1
"""A running trial is stopped once its family has used its share of the budget plus 10%."""


@dataclass
class SearchResult:
    parent_run_id: str
    best_run_id: str
    best_family: str
    best_model_uri: str
    """``runs:/<run_id>/model``: a pyfunc taking the raw feature columns."""
    best_holdout: dict[str, float]
    leaderboard: pd.DataFrame
    """One row per completed trial, best (by the search's cv metric) first."""
    notebooks: dict[str, str]
    """family -> artifact path of its glass-box notebook on the parent run."""
    feature_columns: list[str]
    experiment_id: str = ""
    skipped: dict[str, str] = field(default_factory=dict)
    """family -> why it did not run (e.g. a Spark family without a SparkSession)."""
    metric: str = "rmse"
    task: str = "regression"


@dataclass
class Trial:
    family: str
    number: int
    run_id: str
    params: dict[str, Any]
    cv: dict[str, float]
    holdout: dict[str, float]
    duration_s: float
    model_uri: str = ""


def search(snapshot: Snapshot, target: str, *, experiment: str, task: str = "regression", metric: str | None = None,
           time_budget_s: float = 300.0, families: list[str] | tuple[str, ...] | None = None,
           exclude: tuple[str, ...] | list[str] = (), ordinals: dict[str, tuple[str, ...]] | None = None,
           positive=None, threshold: float = 0.5, balance: str = "none", seed: int = 0,
           max_trials_per_family: int | None = None, spark=None, cv_folds: int = 5) -> SearchResult:
    """Search the model families that take ``task`` on ``snapshot`` for ``target``; everything
    lands in MLflow (experiment ``experiment``).

    Features are every column but the target, the snapshot's key, ``exclude`` (columns known
    only after the outcome) and ingest metadata (``_*``); ``ordinals`` names categorical columns
    with a known order. Classification can balance classes (``balance``: ``class_weight`` or
    ``undersample``). Spark families need ``spark``; without it they are skipped (logged, and
    tagged on the parent run). Logs to MLflow's current tracking URI. Raises ValueError for
    unusable data (see :func:`.data.prepare`).
    """
    if time_budget_s <= 0 or (max_trials_per_family is not None and max_trials_per_family < 1) or cv_folds < 2:
        raise ValueError("time_budget_s must be > 0, max_trials_per_family >= 1 (or None) and cv_folds >= 2")
    metric = metric or DEFAULT_METRIC.get(task)
    if task not in DEFAULT_METRIC or metric not in metrics.TASK_METRICS[task]:
        raise ValueError(f"the search takes regression, binary or multiclass tasks with one of their metrics; "
                         f"got task {task!r}, metric {metric!r}")
    chosen = resolve(families, task)
    data = prepare(snapshot, target, exclude, cv_folds, seed, task=task, ordinals=ordinals, positive=positive,
                   threshold=threshold, balance=balance)
    skipped = {f.name: "no SparkSession given" for f in chosen if f.engine == "spark" and spark is None}
    runnable = [f for f in chosen if f.name not in skipped]
    for name, reason in skipped.items():
        log.warning("family %s skipped: %s", name, reason)
    if not runnable:
        raise ValueError(f"none of the families {[f.name for f in chosen]} can run: {skipped}")
    experiment_id = tracking.experiment_id(experiment)
    with _quiet_optuna(), mlflow.start_run(experiment_id=experiment_id, run_name=f"search-{target}",
                                           nested=mlflow.active_run() is not None) as parent:
        search_run = _SearchRun(data, experiment_id, parent.info.run_id, spark, seed, skipped, metric)
        search_run.start(runnable, time_budget_s, max_trials_per_family)
        trials = search_run.run(runnable, time_budget_s, max_trials_per_family)
        return search_run.finish(trials)


class _SearchRun:
    """One search's state: its data, trainers, lineage and the parent run it logs to."""

    def __init__(self, data: SearchData, experiment_id: str, parent_run_id: str, spark, seed: int,
                 skipped: dict[str, str], metric: str) -> None:
        self.data = data
        self.metric = metric
        self.lower_is_better = metrics.lower_is_better(metric)
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.spark = spark
        self.seed = seed
        self.skipped = dict(skipped)
        self.client = mlflow.MlflowClient()
        self.lineage = _Lineage(data)
        self.trainers: dict[str, Any] = {}
        self.notebooks: dict[str, str] = {}
        self.spark_job_group = f"lakeside-search-{parent_run_id}"

    def start(self, families: list[Family], budget_s: float, max_trials: int | None) -> None:
        data = self.data
        self.lineage.log()
        mlflow.set_tag("automl.role", "search")
        mlflow.log_params({
            "target": data.target, "task": data.task, "metric": self.metric, "balance": data.balance,
            "families": ",".join(f.name for f in families), "time_budget_s": budget_s,
            "max_trials_per_family": max_trials, "seed": self.seed, "cv_folds": len(data.folds),
            "n_train": len(data.train), "n_holdout": len(data.holdout),
            "feature_columns": ",".join(data.feature_columns),
        })
        mlflow.log_metrics({f"baseline_holdout_{name}": value for name, value in _baseline(data).items()})
        self.client.log_dict(self.parent_run_id, {"feature_columns": data.feature_columns, "roles": repr(data.roles),
                                                  "classes": _json_labels(data.classes)}, "features.json")

    def run(self, families: list[Family], budget_s: float, max_trials: int | None) -> list[Trial]:
        started = time.monotonic()
        trials: list[Trial] = []
        try:
            for index, family in enumerate(families):
                share = (budget_s - (time.monotonic() - started)) / (len(families) - index)
                log.info("family %s: %.0fs of the budget, at most %s trials", family.name, max(share, 0),
                         max_trials or "any")
                trials += self._search_family(family, max(share, 1e-3), max_trials, started, budget_s)
        finally:
            for trainer in self.trainers.values():
                getattr(trainer, "close", lambda: None)()
        return trials

    def finish(self, trials: list[Trial]) -> SearchResult:
        if self.skipped:
            mlflow.set_tag("skipped_families", json.dumps(self.skipped))
        if not trials:
            raise RuntimeError("no trial of the search completed: see the FAILED and KILLED runs and the log")
        board = leaderboard(trials, self.metric)
        best = min(trials, key=self._loss)
        self._log_leaderboard(board)
        mlflow.set_tags({"best_run_id": best.run_id, "best_family": best.family})
        mlflow.log_metrics({"n_trials": len(trials), f"best_cv_{self.metric}": best.cv[self.metric],
                            **{f"best_holdout_{name}": value for name, value in best.holdout.items()}})
        log.info("best: %s (run %s) cv_%s=%.4f holdout_%s=%.4f over %d trials", best.family, best.run_id,
                 self.metric, best.cv[self.metric], self.metric, best.holdout[self.metric], len(trials))
        return SearchResult(
            parent_run_id=self.parent_run_id, best_run_id=best.run_id, best_family=best.family,
            best_model_uri=best.model_uri, best_holdout=dict(best.holdout), leaderboard=board,
            notebooks=dict(self.notebooks), feature_columns=list(self.data.feature_columns),
            experiment_id=self.experiment_id, skipped=dict(self.skipped), metric=self.metric, task=self.data.task,
        )

    def _loss(self, trial: Trial) -> float:
        """What Optuna minimises and the leaderboard sorts by: the cv metric, negated when higher is better."""
        value = trial.cv[self.metric]
        if not np.isfinite(value):
            return np.inf
        return value if self.lower_is_better else -value

    def _search_family(self, family: Family, budget_s: float, max_trials: int | None,
                       started: float, total_s: float) -> list[Trial]:
        with _deadline(lambda: self._stop(family), budget_s * DEADLINE_SLACK) as stopped:
            try:
                trainer = self._trainer(family)
            except Exception as error:  # e.g. a Spark session that cannot run the job: the other families still can
                if stopped.is_set():
                    self.skipped[family.name] = (f"its data was not ready within its share of the budget "
                                                 f"({budget_s:.0f}s): stopped at the deadline")
                    log.warning("family %s: %s", family.name, self.skipped[family.name])
                    return []
                log.exception("family %s skipped: its data could not be prepared", family.name)
                self.skipped[family.name] = f"setup failed: {type(error).__name__}: {error}"[:500]
                return []
            if stopped.is_set():  # the deadline passed while the data was prepared, between its jobs
                trainer.stop()
            trials, best = self._optimize(family, trainer, budget_s, max_trials, started, total_s)
        getattr(trainer, "resume", lambda: None)()
        if best:
            self._keep_best(family, best["trial"], best["evaluation"], trainer)
        elif stopped.is_set():
            self.skipped[family.name] = (f"no trial finished within its share of the budget ({budget_s:.0f}s): "
                                         "stopped at the deadline")
            log.warning("family %s: %s", family.name, self.skipped[family.name])
        else:
            log.warning("family %s: no trial completed", family.name)
        return trials

    def _stop(self, family: Family) -> None:
        """The deadline: stop the family's running work, its data preparation included."""
        trainer = self.trainers.get(family.engine)
        if trainer is not None:
            trainer.stop()
        elif family.engine == "spark" and self.spark is not None:
            self.spark.sparkContext.cancelJobGroup(self.spark_job_group)

    def _optimize(self, family: Family, trainer, budget_s: float, max_trials: int | None, started: float,
                  total_s: float) -> tuple[list[Trial], dict[str, Any]]:
        trials: list[Trial] = []
        best: dict[str, Any] = {}

        def objective(optuna_trial: optuna.Trial) -> float:
            params = family.suggest(optuna_trial)
            trial, evaluation = self._trial(family, optuna_trial.number, params, trainer)
            trials.append(trial)
            log.info("%s trial %d: cv_%s=%.4f holdout_%s=%.4f (%.1fs; %.0fs of %.0fs used)",
                     family.name, trial.number, self.metric, trial.cv[self.metric], self.metric,
                     trial.holdout[self.metric], trial.duration_s, time.monotonic() - started, total_s)
            if not best or self._loss(trial) < self._loss(best["trial"]):
                best.update(trial=trial, evaluation=evaluation)
            return self._loss(trial)

        study = optuna.create_study(direction="minimize", study_name=family.name,
                                    sampler=optuna.samplers.TPESampler(seed=self.seed))
        study.optimize(objective, n_trials=max_trials, timeout=budget_s, catch=(Exception,))
        return trials, best

    def _trainer(self, family: Family):
        if family.engine not in self.trainers:
            if family.engine == "spark":
                from lakeside.automl.spark_ml import SparkTrainer

                self.trainers["spark"] = SparkTrainer(self.spark, self.data, self.spark_job_group)
            else:
                self.trainers["sklearn"] = SklearnTrainer(self.data)
        return self.trainers[family.engine]

    def _trial(self, family: Family, number: int, params: dict[str, Any], trainer) -> tuple[Trial, Evaluation]:
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=f"{family.name}-{number}", nested=True,
                              tags={"automl.role": "trial", "family": family.name, "trial": str(number)}) as run:
            mlflow.log_params({"family": family.name, **params})
            self.lineage.log()
            began = time.monotonic()
            try:
                evaluation = trainer.evaluate(family, params, self.seed)
            except Exception as error:
                mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:4000])
                if isinstance(error, TrialStopped) or getattr(trainer, "stopped", False):
                    log.warning("%s trial %d stopped at the family's deadline", family.name, number)
                    mlflow.end_run("KILLED")  # a budget stop, not a failure of the trial's code or data
                else:
                    log.warning("%s trial %d failed: %s", family.name, number, error)
                raise
            duration = time.monotonic() - began
            mlflow.log_metrics({**{f"cv_{k}": v for k, v in evaluation.cv.items()},
                                **{f"holdout_{k}": v for k, v in evaluation.holdout.items()},
                                "duration_s": duration, "train_rows": evaluation.train_rows})
        trial = Trial(family.name, number, run.info.run_id, params, evaluation.cv, evaluation.holdout, duration)
        return trial, evaluation

    def _keep_best(self, family: Family, trial: Trial, evaluation: Evaluation, trainer) -> None:
        """Model, plots and predictions on the family's best trial; its notebook on the parent."""
        with mlflow.start_run(run_id=trial.run_id, nested=True):
            _log_model(family, evaluation.model, self.data)
            mlflow.set_tag("best_of_family", "true")
            with tempfile.TemporaryDirectory(prefix="automl-") as scratch:
                self._log_plots(family, evaluation, trainer, Path(scratch))
        trial.model_uri = f"runs:/{trial.run_id}/{MODEL_NAME}"
        notebook = glass_box(family, trial.params, self.seed, self.data, run_id=trial.run_id, holdout=trial.holdout,
                             metric=self.metric)
        path = f"notebooks/{family.name}.ipynb"
        self.client.log_text(self.parent_run_id, nbformat.writes(notebook), path)
        self.notebooks[family.name] = path

    def _log_plots(self, family: Family, evaluation: Evaluation, trainer, scratch: Path) -> None:
        data = self.data
        actual, predicted = data.y_holdout, evaluation.predictions
        title = f"{family.name}: holdout, {self.metric} {evaluation.holdout[self.metric]:.3f}"
        if data.is_classification:
            matrix = metrics.confusion(actual, predicted, data.classes)
            plots.confusion_matrix(matrix, title, scratch / "confusion_matrix.png")
            mlflow.log_text(matrix.to_csv(), "confusion_matrix.csv")
            if data.task == "binary":
                positive = data.positive if data.positive is not None else data.classes[-1]
                scores = evaluation.probabilities[:, data.classes.index(positive)]
                plots.roc_and_pr_curves(actual, scores, positive, title, scratch / "roc_pr_curves.png")
        else:
            plots.residuals(actual, predicted, title, scratch / "residuals.png")
            plots.predicted_vs_actual(actual, predicted, title, scratch / "predicted_vs_actual.png")
        if family.engine == "spark":
            importances, what = trainer.importances(evaluation.model), "Spark feature importance"
        else:
            importances, what = _permutation_importance(evaluation.model, data, self.seed), \
                "permutation importance (holdout score loss)"
        plots.feature_importance(importances, f"{family.name}: {what}", scratch / "feature_importance.png")
        mlflow.log_artifacts(str(scratch), "plots")
        rows = data.holdout[list(data.snapshot.key)].assign(actual=actual, predicted=predicted)
        mlflow.log_text(rows.to_csv(index=False), "holdout_predictions.csv")

    def _log_leaderboard(self, board: pd.DataFrame) -> None:
        self.client.log_text(self.parent_run_id, board.to_csv(index=False), "leaderboard.csv")
        title = (f"{self.data.snapshot.table} v{self.data.snapshot.version}: predicting {self.data.target} "
                 f"({self.data.task}, by cv_{self.metric})")
        html = board.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)
        self.client.log_text(self.parent_run_id, f"<html><body><h2>{title}</h2>\n{html}\n</body></html>",
                             "leaderboard.html")


def leaderboard(trials: list[Trial], metric: str = "rmse") -> pd.DataFrame:
    """One row per trial, best ``cv_<metric>`` first, with a ``rank`` column."""
    rows = [{
        "family": t.family, "trial": t.number, "run_id": t.run_id, "params": json.dumps(t.params, sort_keys=True),
        **{f"cv_{k}": v for k, v in t.cv.items()}, **{f"holdout_{k}": v for k, v in t.holdout.items()},
        "duration_s": t.duration_s, "model_uri": t.model_uri,
    } for t in trials]
    board = pd.DataFrame(rows)
    board = board.sort_values([f"cv_{metric}", "duration_s"], ascending=[metrics.lower_is_better(metric), True],
                              kind="mergesort", na_position="last").reset_index(drop=True)
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    return board


class _PinnedDeltaSource(DeltaDatasetSource):
    """MLflow's Delta source drops a version 0 from its JSON (a truthiness check); a pinned
    snapshot of a table's first version still has a version."""

    def to_dict(self) -> dict[Any, Any]:
        return {**super().to_dict(), "delta_table_version": self.delta_table_version}


class _Lineage:
    """The snapshot as MLflow datasets (training rows and holdout rows) and tags, for every run."""

    def __init__(self, data: SearchData) -> None:
        snapshot, columns = data.snapshot, data.feature_columns + [data.target]
        source = _PinnedDeltaSource(path=snapshot.uri, delta_table_version=snapshot.version)
        with _no_integer_hint():
            self.training = mlflow.data.from_pandas(data.train[columns], source=source, name=snapshot.table,
                                                    targets=data.target)
            self.holdout = mlflow.data.from_pandas(data.holdout[columns], source=source, name=snapshot.table,
                                                   targets=data.target)
        self.tags = {"table": snapshot.table, "table_version": str(snapshot.version), "table_uri": snapshot.uri,
                     "target": data.target}

    def log(self) -> None:
        with _no_integer_hint():
            mlflow.log_input(self.training, context="training")
            mlflow.log_input(self.holdout, context="holdout")
        mlflow.set_tags(self.tags)


@contextlib.contextmanager
def _no_integer_hint():
    """A dataset's schema records its integer columns as they are; MLflow's hint about
    integers and missing values is for model signatures (see :func:`_log_model`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        yield


def _log_model(family: Family, model, data: SearchData) -> None:
    """The fitted pipeline as an MLflow model taking the raw feature columns.

    Integer columns are declared ``double`` in the signature: a nullable integer column comes
    out of Delta as float when it holds a null, and must still be accepted.
    """
    example = _widen_integers(data.X_train.head(5))
    output = np.asarray(data.classes[:1]) if data.is_classification else np.zeros(1, dtype="float64")
    signature = infer_signature(_widen_integers(data.X_train), output)
    metadata = {"lakeside.task": data.task, "lakeside.target": data.target,
                "lakeside.classes": _json_labels(data.classes)}
    if family.engine == "spark":
        import mlflow.spark as mlflow_spark

        with _jvm_logger_off("org.apache.spark.ml.util.Instrumentation"):
            mlflow_spark.log_model(model, artifact_path=MODEL_NAME, signature=signature, input_example=example,
                                   metadata=metadata, pip_requirements=_requirements("pyspark", "pandas", "numpy"))
        return
    extra = ("lightgbm",) if family.name == "lightgbm" else ()
    with _pickled_by_value():
        mlflow.sklearn.log_model(model, name=MODEL_NAME, serialization_format="cloudpickle", signature=signature,
                                 input_example=example, metadata=metadata,
                                 pip_requirements=_requirements("scikit-learn", "cloudpickle", "pandas", "numpy",
                                                                *extra))


def _json_labels(classes: list) -> list:
    return [value.item() if hasattr(value, "item") else value for value in classes]


def _baseline(data: SearchData) -> dict[str, float]:
    """The holdout metrics of a model that learned nothing but the training rows' mean or class shares."""
    if data.is_classification:
        shares = pd.Series(data.y_train).value_counts(normalize=True).reindex(data.classes, fill_value=0.0)
        probabilities = np.tile(shares.to_numpy(), (len(data.holdout), 1))
        return score(data, data.y_holdout, probabilities=probabilities)
    return score(data, data.y_holdout, predicted=np.full(len(data.holdout), data.y_train.mean()))


@contextlib.contextmanager
def _pickled_by_value():
    """Pickle :mod:`.features` into the model, so the model loads (and behaves) the same
    without Lakeside installed, or with a later Lakeside whose features changed."""
    import cloudpickle

    from lakeside.automl import features

    cloudpickle.register_pickle_by_value(features)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(features)


@contextlib.contextmanager
def _jvm_logger_off(name: str):
    """mlflow.spark first tries to have Spark write the model straight to the artifact store,
    which Spark cannot for ``mlflow-artifacts:`` URIs; MLflow then uploads it itself, but
    Spark has logged the failed attempt as an ERROR with a stack trace. Keep that out of the
    task log."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    try:
        config = context._jvm.org.apache.logging.log4j.core.config.Configurator
        level = context._jvm.org.apache.logging.log4j.LogManager.getLogger(name).getLevel()
        config.setLevel(name, context._jvm.org.apache.logging.log4j.Level.OFF)
    except Exception:  # another logging backend: leave the log as it is
        yield
        return
    try:
        yield
    finally:
        config.setLevel(name, level)


def _requirements(*packages: str) -> list[str]:
    return [f"{name}=={installed_version(name)}" for name in packages]


def _widen_integers(frame: pd.DataFrame) -> pd.DataFrame:
    integers = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]
    return frame.astype({c: "float64" for c in integers})


def _permutation_importance(model, data: SearchData, seed: int) -> pd.Series:
    """How much the holdout RMSE (log loss for classifiers) grows when one raw column is shuffled (on at most
    ``IMPORTANCE_ROWS`` holdout rows: the cost is a prediction per column and repeat)."""
    from sklearn.inspection import permutation_importance
    from threadpoolctl import threadpool_limits

    rows = np.random.default_rng(seed).permutation(len(data.holdout))[:IMPORTANCE_ROWS]
    scoring = "neg_log_loss" if data.is_classification else "neg_root_mean_squared_error"
    with threadpool_limits(limits=1):
        found = permutation_importance(model, data.X_holdout.iloc[rows], data.y_holdout[rows], n_repeats=3,
                                       random_state=seed, scoring=scoring, n_jobs=1)
    return pd.Series(found.importances_mean, index=data.feature_columns)


@contextlib.contextmanager
def _deadline(stop, seconds: float):
    """Call ``stop`` after ``seconds``; yields an Event set when it did."""
    import threading

    stopped = threading.Event()

    def fire() -> None:
        stopped.set()
        stop()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield stopped
    finally:
        timer.cancel()


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna's per-trial INFO lines repeat ours; keep its warnings (failed trials)."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
