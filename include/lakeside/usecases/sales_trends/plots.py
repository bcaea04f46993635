"""The figures of each stretch factor's run (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lakeside.automl.plots import pyplot, save


def histogram(distance: np.ndarray, factor: float, path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.hist(distance, bins=40)
    axes.axvline(float(np.median(distance)), color="black", linewidth=1, label="median")
    axes.set(xlabel="DTW distance to the pattern", ylabel="products", title=f"stretch factor {factor}")
    axes.legend()
    return save(plt, figure, path, dpi=80)


def closest_and_farthest(pattern: np.ndarray, curves: dict[str, list[tuple[str, float, np.ndarray]]],
                         factor: float, path: Path) -> Path:
    """One panel per kind (closest, farthest): the pattern and each product's weekly units."""
    plt = pyplot()
    figure, panels = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4), sharey=True, squeeze=False)
    weeks = np.arange(len(pattern))
    for axes, (kind, products) in zip(panels[0], curves.items()):
        axes.plot(weeks, pattern, color="black", linewidth=2, label="capacity pattern")
        for code, distance, units in products:
            axes.plot(weeks, units, linewidth=1, alpha=0.8, label=f"{code} ({distance:.1f})")
        axes.set(xlabel="week", ylabel="units", title=f"{kind} products, stretch factor {factor}")
        axes.legend(fontsize=7)
    return save(plt, figure, path, dpi=80)

