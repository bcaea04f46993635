"""Evaluating one hyperparameter set: K-fold CV on the training rows, then a fit on all of
them scored on the holdout. scikit-learn families here; Spark ML in :mod:`.spark_ml`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from lakeside.automl.data import SearchData
from lakeside.automl.families import Family
from lakeside.automl.features import FeatureRoles, build_preprocessor


@dataclass
class Evaluation:
    cv: dict[str, float]
    holdout: dict[str, float]
    predictions: np.ndarray
    """The fitted model's predictions for the holdout rows."""
    model: Any
    """The model fitted on all training rows: a scikit-learn or a Spark ML PipelineModel."""


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """rmse, mae and r2 (written out the same way in the glass-box notebooks)."""
    actual, predicted = np.asarray(actual, dtype="float64"), np.asarray(predicted, dtype="float64")
    error = predicted - actual
    spread = float(np.sum((actual - actual.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(1.0 - np.sum(error ** 2) / spread) if spread > 0 else float("nan"),
    }


def mean_metrics(per_fold: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.mean([fold[name] for fold in per_fold])) for name in per_fold[0]}


def sklearn_pipeline(roles: FeatureRoles, family: Family, params: dict[str, Any], seed: int) -> Pipeline:
    """Features then estimator: what a trial fits and what its logged model is."""
    return Pipeline([
        ("features", build_preprocessor(roles, scale=family.scale)),
        ("model", family.estimator(params, seed).build()),
    ])


class SklearnTrainer:
    """Fits on one thread (BLAS and OpenMP too): frugal on a shared machine, and the same
    arithmetic as the notebook, which also fits under ``threadpool_limits(limits=1)``."""

    def __init__(self, data: SearchData) -> None:
        self.data = data

    def evaluate(self, family: Family, params: dict[str, Any], seed: int) -> Evaluation:
        data = self.data
        pipeline = sklearn_pipeline(data.roles, family, params, seed)
        X, y = data.X_train, data.y_train
        per_fold = []
        with threadpool_limits(limits=1):
            for fit_rows, check_rows in data.fold_indices():
                fold_model = clone(pipeline).fit(X.iloc[fit_rows], y[fit_rows])
                per_fold.append(regression_metrics(y[check_rows], fold_model.predict(X.iloc[check_rows])))
            model = pipeline.fit(X, y)
            predictions = np.asarray(model.predict(data.X_holdout), dtype="float64")
        return Evaluation(mean_metrics(per_fold), regression_metrics(data.y_holdout, predictions), predictions, model)
