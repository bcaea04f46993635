"""Slide heat maps: a slide tiled on a grid (glass skipped), each tile scored by the classifier
graph (backbone + head + softmax), the positive class's probability kept per tile centre.

:func:`score_slide` is one slide in one process (the heat map job runs it per slide with
``applyInPandas``); :func:`grid` lays the scores back on the slide for the overlay and for
comparing with a mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lakeside.vision.runtime import BATCH


def classifier(model_uri: str, folder: str | Path) -> dict:
    """The registered model's graph file, classes and image size, downloaded to ``folder``."""
    import json

    import yaml
    from mlflow.artifacts import download_artifacts

    local = Path(download_artifacts(artifact_uri=model_uri, dst_path=str(folder)))
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    config = flavor.get("config") or flavor.get("model_config") or {}
    graphs = sorted(local.glob("artifacts/*.onnx"))
    if not graphs:
        raise ValueError(f"{model_uri} holds no ONNX graph: not a Lakeside image classifier")
    return {"graph": str(graphs[0]), "classes": list(config["classes"]), "image_size": int(config.get("image_size", 224)),
            "config": json.dumps(config)}


def score_slide(slide: np.ndarray, graph, positive: int, size: int, stride: int, image_size: int = 224,
                batch: int = BATCH) -> pd.DataFrame:
    """``x, y, prob`` of the slide's tissue tiles (tile centres; ``prob`` of class ``positive``)."""
    from PIL import Image

    from lakeside.vision import patches
    from lakeside.vision.images import pixels

    tiles = list(patches.grid(slide, size, stride))
    probabilities = []
    for start in range(0, len(tiles), batch):
        chunk = [Image.fromarray(t) for _, _, t in tiles[start:start + batch]]
        probabilities.append(graph.run(pixels(chunk, image_size), batch=batch)[:, positive])
    prob = np.concatenate(probabilities) if probabilities else np.empty(0, np.float32)
    return pd.DataFrame({"x": [x for x, _, _ in tiles], "y": [y for _, y, _ in tiles], "prob": prob.astype(float)})


def grid(scores: pd.DataFrame, shape: tuple[int, int], stride: int) -> np.ndarray:
    """Probabilities over the slide at one cell per ``stride`` pixels (NaN: not scored); each tile
    paints the ``stride`` x ``stride`` cell around its centre."""
    height, width = shape
    cells = np.full((-(-height // stride), -(-width // stride)), np.nan)
    for x, y, prob in scores[["x", "y", "prob"]].itertuples(index=False):
        cells[int(y) // stride, int(x) // stride] = prob
    return cells


def iou(heat: np.ndarray, mask: np.ndarray, stride: int, level: float = 0.5) -> float:
    """Intersection over union of the tiles scored at least ``level`` and the mask, over the cells
    that were scored (the mask sampled at the cells' centres)."""
    scored = ~np.isnan(heat)
    rows = np.minimum(np.arange(heat.shape[0]) * stride + stride // 2, mask.shape[0] - 1)
    columns = np.minimum(np.arange(heat.shape[1]) * stride + stride // 2, mask.shape[1] - 1)
    truth = mask[np.ix_(rows, columns)] & scored
    predicted = (np.nan_to_num(heat, nan=0.0) >= level) & scored
    union = (truth | predicted).sum()
    return float((truth & predicted).sum() / union) if union else 1.0
