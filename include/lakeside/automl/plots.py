"""The figures logged with each family's best trial (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOP_FEATURES = 20


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def residuals(actual: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(predicted, actual - predicted, s=8, alpha=0.5)
    axes.axhline(0.0, color="black", linewidth=1)
    axes.set(xlabel="predicted", ylabel="actual - predicted", title=title)
    return _save(plt, figure, path)


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(actual, predicted, s=8, alpha=0.5)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="black", linewidth=1)
    axes.set(xlabel="actual", ylabel="predicted", title=title)
    return _save(plt, figure, path)


def feature_importance(importances: pd.Series, title: str, path: Path) -> Path:
    plt = _pyplot()
    top = importances.sort_values(ascending=False).head(TOP_FEATURES).iloc[::-1]
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(top) + 1.2))
    axes.barh([str(name) for name in top.index], top.to_numpy())
    axes.set_xlabel("importance")
    axes.set_title(title, fontsize=10)
    return _save(plt, figure, path)


def _save(plt, figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
