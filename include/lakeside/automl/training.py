"""Evaluating one hyperparameter set: cross-validation on the training rows, then a fit on all of
them scored on the holdout. scikit-learn families here; Spark ML in :mod:`.spark_ml`."""

from __future__ import annotations

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


class SklearnTrainer:
    """Fits on one thread (BLAS and OpenMP too): frugal on a shared machine, and the same
    arithmetic as the notebook, which also fits under ``threadpool_limits(limits=1)``."""

    def __init__(self, data: SearchData) -> None:
        self.data = data

    def evaluate(self, family: Family, params: dict[str, Any], seed: int) -> Evaluation:
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
