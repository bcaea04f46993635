"""Evaluating one hyperparameter set: cross-validation on the training rows, then a fit on all of
them scored on the holdout. scikit-learn families here; Spark ML in :mod:`.spark_ml`."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from lakeside import metrics
from lakeside.automl.data import SearchData, capped_rows
from lakeside.automl.families import Family
from lakeside.automl.features import FeatureRoles, build_preprocessor


@dataclass
class Evaluation:
    cv: dict[str, float]
    holdout: dict[str, float]
    predictions: np.ndarray
    """The fitted model's predictions for the holdout rows (values, or labels)."""
    model: Any
    """The model fitted on all training rows: a scikit-learn or a Spark ML PipelineModel."""
    probabilities: np.ndarray | None = None
    """Classification: holdout rows x ``data.classes``."""
    train_rows: int = 0
    """Rows the final model was fitted on (fewer than the training rows when capped or undersampled)."""


def score(data: SearchData, actual: np.ndarray, predicted: np.ndarray | None = None,
          probabilities: np.ndarray | None = None) -> dict[str, float]:
    """The task's metrics for a set of rows (see :mod:`lakeside.metrics`)."""
    return metrics.compute(data.task, actual, predicted=predicted, probabilities=probabilities,
                           classes=data.classes, positive=data.positive, threshold=data.threshold)


def mean_metrics(per_fold: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.mean([fold[name] for fold in per_fold])) for name in per_fold[0]}


def sklearn_pipeline(roles: FeatureRoles, family: Family, params: dict[str, Any], seed: int,
                     task: str = "regression", balance: str = "none") -> Pipeline:
    """Features then estimator: what a trial fits and what its logged model is."""
    return Pipeline([
        ("features", build_preprocessor(roles, scale=family.scale)),
        ("model", family.estimator(params, seed, task, balance).build()),
    ])


def class_probabilities(model, X, classes: list) -> np.ndarray:
    """``predict_proba`` with its columns in ``classes`` order (0 for a class the fit never saw)."""
    proba = np.asarray(model.predict_proba(X), dtype="float64")
    known = list(model.classes_)
    out = np.zeros((proba.shape[0], len(classes)))
    for column, label in enumerate(known):
        out[:, classes.index(label)] = proba[:, column]
    return out


class TrialStopped(RuntimeError):
    """The search's deadline stopped a trial before it finished."""


class SklearnTrainer:
    """Fits on one thread (BLAS and OpenMP too): frugal on a shared machine, and the same
    arithmetic as the notebook, which also fits under ``threadpool_limits(limits=1)``.

    Each trial runs in a forked child process (it inherits the data; the fitted model comes
    back pickled), so the search's deadline can stop a fit that scikit-learn cannot interrupt:
    :meth:`stop` kills the child and refuses new trials until :meth:`resume`.
    """

    def __init__(self, data: SearchData, isolate: bool = True) -> None:
        self.data = data
        self.isolate = isolate and "fork" in multiprocessing.get_all_start_methods()
        self.stopped = False
        self._child = None
        self._lock = threading.Lock()

    def evaluate(self, family: Family, params: dict[str, Any], seed: int) -> Evaluation:
        if not self.isolate:
            return self.evaluate_here(family, params, seed)
        return self._evaluate_in_child(family, params, seed)

    def stop(self) -> None:
        """Kill the running trial's process (the search's deadline) and refuse new trials."""
        with self._lock:
            self.stopped = True
            if self._child is not None and self._child.is_alive():
                self._child.kill()

    def resume(self) -> None:
        """Accept trials again (the next family gets its own deadline)."""
        with self._lock:
            self.stopped = False

    def evaluate_here(self, family: Family, params: dict[str, Any], seed: int) -> Evaluation:
        data = self.data
        pipeline = sklearn_pipeline(data.roles, family, params, seed, data.task, data.balance)
        X, y = data.X_train, data.y_train
        per_fold = []
        with threadpool_limits(limits=1):
            for fit_rows, check_rows in data.fold_indices():
                rows = capped_rows(data.fit_rows(fit_rows), family.max_train_rows, seed)
                fold_model = clone(pipeline).fit(X.iloc[rows], y[rows])
                per_fold.append(self._score(fold_model, X.iloc[check_rows], y[check_rows]))
            everything = capped_rows(data.fit_rows(np.arange(len(X))), family.max_train_rows, seed)
            model = pipeline.fit(X.iloc[everything], y[everything])
            holdout, predictions, probabilities = self._predict(model, data.X_holdout, data.y_holdout)
        return Evaluation(mean_metrics(per_fold), holdout, predictions, model, probabilities, len(everything))

    def _evaluate_in_child(self, family: Family, params: dict[str, Any], seed: int) -> Evaluation:
        context = multiprocessing.get_context("fork")
        reader, writer = context.Pipe(duplex=False)
        with self._lock:
            if self.stopped:
                raise TrialStopped(f"{family.name}: the search's deadline has passed")
            child = context.Process(target=self._child_main, args=(family, params, seed, writer),
                                    name=f"lakeside-trial-{family.name}", daemon=True)
            child.start()
            self._child = child
        writer.close()
        try:
            outcome, value = reader.recv()
        except EOFError:
            child.join()
            if self.stopped:
                raise TrialStopped(f"{family.name}: stopped at the search's deadline") from None
            raise RuntimeError(f"{family.name}: the trial's process ended with exit code {child.exitcode}") from None
        finally:
            reader.close()
            with self._lock:
                self._child = None
        child.join()
        if outcome == "error":
            raise value
        return value

    def _child_main(self, family: Family, params: dict[str, Any], seed: int, writer) -> None:
        try:
            result = ("ok", self.evaluate_here(family, params, seed))
        except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
            result = ("error", error)
        try:
            writer.send(result)
        except Exception as error:  # noqa: BLE001 - e.g. an exception that does not pickle
            writer.send(("error", RuntimeError(f"{type(result[1]).__name__}: {result[1]}; "
                                               f"could not return it from the trial's process: {error}")))
        writer.close()

    def _score(self, model, X, y) -> dict[str, float]:
        return self._predict(model, X, y)[0]

    def _predict(self, model, X, y):
        data = self.data
        if data.is_classification:
            probabilities = class_probabilities(model, X, data.classes)
            labels = metrics.predicted_labels(probabilities, data.classes, positive=data.positive,
                                              threshold=data.threshold)
            return score(data, y, probabilities=probabilities), labels, probabilities
        predicted = np.asarray(model.predict(X), dtype="float64")
        return score(data, y, predicted=predicted), predicted, None
