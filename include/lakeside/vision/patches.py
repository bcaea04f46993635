"""Cutting slides into patches: around annotated points (training) and as a grid with the
background skipped (heat maps). Pure numpy over one slide; the Spark jobs run it per slide with
``applyInPandas``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

GLASS_LEVEL = 215
"""A pixel whose darkest channel is above this is glass (background), not tissue."""
MIN_TISSUE = 0.25


def around(slide: np.ndarray, x: int, y: int, size: int) -> np.ndarray | None:
    """The ``size`` x ``size`` patch centred on (x, y), or None when it does not fit in the slide."""
    half = size // 2
    top, left = y - half, x - half
    if top < 0 or left < 0 or top + size > slide.shape[0] or left + size > slide.shape[1]:
        return None
    return slide[top:top + size, left:left + size]


def tissue_share(patch: np.ndarray) -> float:
    return float((patch.min(axis=2) <= GLASS_LEVEL).mean())


def grid(slide: np.ndarray, size: int, stride: int, min_tissue: float = MIN_TISSUE) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(x, y, patch)`` of the grid's tiles with enough tissue; (x, y) is the tile's centre."""
    height, width = slide.shape[:2]
    for top in range(0, height - size + 1, stride):
        for left in range(0, width - size + 1, stride):
            patch = slide[top:top + size, left:left + size]
            if tissue_share(patch[::4, ::4]) >= min_tissue:
                yield left + size // 2, top + size // 2, patch


def png(patch: np.ndarray) -> bytes:
    from PIL import Image

    from lakeside.vision.images import encode

    return encode(Image.fromarray(patch), "PNG", compress_level=1)
