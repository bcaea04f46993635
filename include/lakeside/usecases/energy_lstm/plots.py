"""The LSTM run's figures (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lakeside.automl.plots import pyplot, save


def loss_curve(history: list[dict[str, float]], best_epoch: int, path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history) + 1)
    axes.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss")
    axes.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation loss")
    if best_epoch:
        axes.axvline(best_epoch, color="black", linewidth=1, linestyle="--", label=f"best epoch {best_epoch}")
    axes.set(xlabel="epoch", ylabel="MSE (scaled)", title="LSTM loss")
    axes.legend()
    return save(plt, figure, path, dpi=80)


def forecast(times: pd.Series, actual: np.ndarray, lines: dict[str, np.ndarray], path: Path,
             points: int = 1008) -> Path:
    """The first ``points`` test targets (a week) against each model's forecast."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(10, 4))
    shown = slice(0, min(points, len(actual)))
    axes.plot(times.iloc[shown], actual[shown], color="black", linewidth=1, label="actual")
    for name, values in lines.items():
        axes.plot(times.iloc[shown], values[shown], linewidth=1, alpha=0.8, label=name)
    axes.set(xlabel="target time", ylabel="Appliances (Wh)", title="forecasts on the test windows")
    axes.legend(fontsize=7)
    figure.autofmt_xdate()
    return save(plt, figure, path, dpi=80)
