"""The figures logged with each family's best trial (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOP_FEATURES = 20


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def residuals(actual: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(predicted, actual - predicted, s=8, alpha=0.5)
    axes.axhline(0.0, color="black", linewidth=1)
    axes.set(xlabel="predicted", ylabel="actual - predicted", title=title)
    return save(plt, figure, path)


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(actual, predicted, s=8, alpha=0.5)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="black", linewidth=1)
    axes.set(xlabel="actual", ylabel="predicted", title=title)
    return save(plt, figure, path)


def feature_importance(importances: pd.Series, title: str, path: Path) -> Path:
    plt = pyplot()
    top = importances.sort_values(ascending=False).head(TOP_FEATURES).iloc[::-1]
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(top) + 1.2))
    axes.barh([str(name) for name in top.index], top.to_numpy())
    axes.set_xlabel("importance")
    axes.set_title(title, fontsize=10)
    return save(plt, figure, path)


def confusion_matrix(matrix: pd.DataFrame, title: str, path: Path) -> Path:
    """A confusion matrix (rows actual, columns predicted) with the count in every cell."""
    plt = pyplot()
    size = 1.2 + 0.6 * len(matrix)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(matrix.to_numpy(), cmap="Blues")
    axes.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns], rotation=45, ha="right")
    axes.set_yticks(range(len(matrix.index)), [str(c) for c in matrix.index])
    peak = matrix.to_numpy().max() or 1
    for (row, column), count in np.ndenumerate(matrix.to_numpy()):
        axes.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > peak / 2 else "black", fontsize=9)
    axes.set(xlabel="predicted", ylabel="actual", title=title)
    figure.colorbar(image, ax=axes, fraction=0.046)
    return save(plt, figure, path)


def roc_and_pr_curves(actual: np.ndarray, scores: np.ndarray, positive, title: str, path: Path) -> Path:
    """ROC and precision-recall curves of a binary classifier's positive-class scores."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = pyplot()
    truth = (np.asarray(actual) == positive).astype(int)
    figure, (roc, pr) = plt.subplots(1, 2, figsize=(9, 4))
    fpr, tpr, _ = roc_curve(truth, scores)
    roc.plot(fpr, tpr)
    roc.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    precision, recall, _ = precision_recall_curve(truth, scores)
    pr.plot(recall, precision)
    pr.axhline(truth.mean(), color="grey", linewidth=1, linestyle="--")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    figure.suptitle(title, fontsize=10)
    return save(plt, figure, path)


def save(plt, figure, path: Path, dpi: int = 90) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
