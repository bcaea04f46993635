"""The backtest's figures (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lakeside.automl.plots import pyplot, save


def series_backtest(actual: pd.DataFrame, predicted: pd.DataFrame, store: int, item: int, engine: str,
                    path: Path) -> Path:
    """The last days of training and the held-out days (``actual``: ``ds``, ``y``) against the
    forecast and its interval (``predicted``: ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.5))
    axes.plot(pd.to_datetime(actual["ds"]), actual["y"], color="black", linewidth=0.8, label="actual")
    days = pd.to_datetime(predicted["ds"])
    axes.plot(days, predicted["yhat"], color="tab:blue", linewidth=1.2, label="forecast")
    axes.fill_between(days, predicted["yhat_lower"], predicted["yhat_upper"], color="tab:blue", alpha=0.2,
                      label="95% interval")
    axes.axvline(days.min(), color="grey", linestyle="--", linewidth=0.8)
    axes.set(title=f"store {store}, item {item}: backtest ({engine})", ylabel="units sold")
    axes.legend(fontsize=7, loc="upper left")
    figure.autofmt_xdate()
    return save(plt, figure, path, dpi=80)


def error_heat_map(scores: pd.DataFrame, engine: str, path: Path) -> Path:
    """sMAPE per store (rows) x item (columns); blank where a series was not scored."""
    plt = pyplot()
    grid = scores.pivot_table(index="store", columns="item", values="smape", aggfunc="mean").sort_index() \
        .sort_index(axis=1)
    figure, axes = plt.subplots(figsize=(max(4.0, 0.18 * grid.shape[1] + 2), max(2.5, 0.3 * grid.shape[0] + 1.5)))
    image = axes.imshow(np.ma.masked_invalid(grid.to_numpy(dtype="float64")), aspect="auto", cmap="viridis")
    axes.set_yticks(range(len(grid.index)), [str(s) for s in grid.index])
    step = max(1, len(grid.columns) // 25)
    axes.set_xticks(range(0, len(grid.columns), step), [str(i) for i in grid.columns[::step]])
    axes.set(xlabel="item", ylabel="store", title=f"backtest sMAPE (%) per store x item ({engine})")
    figure.colorbar(image, ax=axes)
    return save(plt, figure, path, dpi=80)
