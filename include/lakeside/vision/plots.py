"""The figures a vision run logs: confusion matrix, ROC curve, a grid of images with captions,
a slide's heat map overlay."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion(actual, predicted, classes, path: Path) -> Path:
    from lakeside.metrics import confusion as counts

    plt = _pyplot()
    matrix = np.asarray(counts(actual, predicted, classes))
    figure, axes = plt.subplots(figsize=(1.2 + 0.7 * len(classes), 1 + 0.6 * len(classes)))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    for (row, column), value in np.ndenumerate(matrix):
        axes.text(column, row, str(value), ha="center", va="center")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def roc(truth, score, path: Path) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(4, 4))
    if len(np.unique(truth)) == 2:
        fpr, tpr, _ = roc_curve(truth, score)
        axes.plot(fpr, tpr, label=f"AUC {roc_auc_score(truth, score):.3f}")
        axes.legend(loc="lower right")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def grid(contents: list[bytes], captions: list[str], path: Path, columns: int = 4) -> Path:
    from PIL import Image

    plt = _pyplot()
    rows = max(1, -(-len(contents) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, content, caption in zip(axes.flat, contents, captions):
        ax.imshow(Image.open(io.BytesIO(content)).convert("RGB"))
        ax.set_title(caption, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def overlay(slide: np.ndarray, heat: np.ndarray, path: Path, alpha: float = 0.45, max_side: int = 1024) -> Path:
    """The slide with tumour probability painted over it (red = high); ``heat`` is a probability
    grid over the slide (NaN = not scored: background)."""
    from PIL import Image

    picture = Image.fromarray(slide)
    scale = min(1.0, max_side / max(picture.size))
    size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
    picture = picture.resize(size, Image.Resampling.BILINEAR)
    values = np.nan_to_num(heat, nan=0.0)
    shown = np.where(np.isnan(heat), 0, 255).astype(np.uint8)
    colour = np.zeros((*heat.shape, 4), np.uint8)
    colour[..., 0] = (255 * values).astype(np.uint8)
    colour[..., 2] = (255 * (1 - values)).astype(np.uint8)
    colour[..., 3] = (shown * alpha).astype(np.uint8)
    layer = Image.fromarray(colour, "RGBA").resize(size, Image.Resampling.NEAREST)
    out = Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.save(path)
    return Path(path)
