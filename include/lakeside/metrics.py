"""Metrics by task type: one definition used by the search, the gate, the plots and the notebooks.

- ``regression``: ``rmse``, ``mae``, ``r2``.
- ``binary``: ``pr_auc`` (area under the precision-recall curve, as average precision),
  ``roc_auc``, ``log_loss``, and at the decision threshold (0.5 unless given) ``f1``,
  ``accuracy``, ``precision``, ``recall``; the positive class is the last of the sorted classes
  unless one is named.
- ``multiclass``: ``accuracy``, macro ``f1``, ``precision`` and ``recall``, ``log_loss``, and
  one-vs-rest macro ``roc_auc`` and ``pr_auc``.

Importing this module is cheap (numpy and scikit-learn load when a metric is computed), so
declarations read :data:`DIRECTIONS` at DAG parse time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TASKS = ("regression", "binary", "multiclass", "forecasting", "custom")
CLASSIFICATION = ("binary", "multiclass")

DIRECTIONS: dict[str, str] = {
    "rmse": "min", "mae": "min", "r2": "max", "smape": "min", "mape": "min", "coverage": "max",
    "pr_auc": "max", "roc_auc": "max", "f1": "max", "log_loss": "min", "accuracy": "max",
    "precision": "max", "recall": "max", "macro_f1": "max",
    "skill": "max",  # 1 - error / a reference forecast's error on the same rows (> 0: better than it)
}
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("rmse", "mae", "r2"),
    "binary": ("pr_auc", "roc_auc", "log_loss", "f1", "accuracy", "precision", "recall"),
    "multiclass": ("accuracy", "f1", "precision", "recall", "log_loss", "roc_auc", "pr_auc"),
}


def lower_is_better(metric: str) -> bool:
    if metric not in DIRECTIONS:
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(sorted(DIRECTIONS))}")
    return DIRECTIONS[metric] == "min"


def better(metric: str, candidate: float, incumbent: float) -> bool:
    """Whether ``candidate`` is strictly better than ``incumbent`` on ``metric``."""
    return candidate < incumbent if lower_is_better(metric) else candidate > incumbent


def regression(actual, predicted) -> dict[str, float]:
    import numpy as np

    actual, predicted = np.asarray(actual, dtype="float64"), np.asarray(predicted, dtype="float64")
    error = predicted - actual
    spread = float(np.sum((actual - actual.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(1.0 - np.sum(error ** 2) / spread) if spread > 0 else float("nan"),
    }


def classification(actual, probabilities, classes: Sequence[Any], *, positive: Any = None,
                   threshold: float = 0.5) -> dict[str, float]:
    """Metrics of class ``probabilities`` (rows x ``classes``, in that order) against ``actual`` labels."""
    import numpy as np
    from sklearn import metrics as sk

    actual = np.asarray(actual)
    proba = np.clip(np.asarray(probabilities, dtype="float64"), 0.0, 1.0)
    classes = list(classes)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(f"probabilities must be rows x {len(classes)} classes, got shape {proba.shape}")
    if len(classes) == 2:
        positive = classes[-1] if positive is None else positive
        column = classes.index(positive)
        truth = (actual == positive).astype(int)
        score = proba[:, column]
        decided = (score >= threshold).astype(int)
        both = len(np.unique(truth)) == 2
        return {
            "pr_auc": float(sk.average_precision_score(truth, score)) if truth.any() else float("nan"),
            "roc_auc": float(sk.roc_auc_score(truth, score)) if both else float("nan"),
            "log_loss": float(sk.log_loss(truth, score, labels=[0, 1])),
            "f1": float(sk.f1_score(truth, decided, zero_division=0)),
            "accuracy": float(sk.accuracy_score(truth, decided)),
            "precision": float(sk.precision_score(truth, decided, zero_division=0)),
            "recall": float(sk.recall_score(truth, decided, zero_division=0)),
        }
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    labels = np.asarray(classes, dtype=object)
    truth = np.asarray(actual, dtype=object)
    onehot = (truth[:, None] == labels[None, :]).astype(int)
    present = onehot.sum(axis=0) > 0
    macro = {"average": "macro", "labels": list(labels), "zero_division": 0}
    return {
        "accuracy": float(sk.accuracy_score(truth, predicted)),
        "f1": float(sk.f1_score(truth, predicted, **macro)),
        "precision": float(sk.precision_score(truth, predicted, **macro)),
        "recall": float(sk.recall_score(truth, predicted, **macro)),
        "log_loss": float(sk.log_loss(onehot.argmax(axis=1), proba, labels=list(range(len(labels))))),
        "roc_auc": float(sk.roc_auc_score(onehot[:, present], proba[:, present], average="macro"))
        if present.sum() > 1 else float("nan"),
        "pr_auc": float(sk.average_precision_score(onehot[:, present], proba[:, present], average="macro")),
    }


def compute(task: str, actual, *, predicted=None, probabilities=None, classes: Sequence[Any] | None = None,
            positive: Any = None, threshold: float = 0.5) -> dict[str, float]:
    """The task's metrics: ``predicted`` values for regression, class ``probabilities`` for
    classification (columns in the order of ``classes``)."""
    if task == "regression":
        return regression(actual, predicted)
    if task in CLASSIFICATION:
        if probabilities is None or classes is None:
            raise ValueError(f"{task} metrics need class probabilities and the class list")
        return classification(actual, probabilities, classes, positive=positive, threshold=threshold)
    raise ValueError(f"no built-in metrics for task {task!r}: its use case computes its own")


def predicted_labels(probabilities, classes: Sequence[Any], *, positive: Any = None, threshold: float = 0.5):
    """The label each row is given: the positive class above ``threshold`` (binary), else the likeliest."""
    import numpy as np

    proba = np.asarray(probabilities, dtype="float64")
    labels = np.asarray(list(classes), dtype=object)
    if len(labels) == 2:
        positive = labels[-1] if positive is None else positive
        column = list(labels).index(positive)
        return np.where(proba[:, column] >= threshold, labels[column], labels[1 - column])
    return labels[proba.argmax(axis=1)]


def confusion(actual, predicted, classes: Sequence[Any]):
    """The confusion matrix as a DataFrame: rows actual, columns predicted, in ``classes`` order."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    labels = list(classes)
    matrix = confusion_matrix(list(actual), list(predicted), labels=labels)
    names = [str(c) for c in labels]
    return pd.DataFrame(matrix, index=pd.Index(names, name="actual"), columns=pd.Index(names, name="predicted"))
