"""Whole-slide images with annotated points (../shared/use-cases.md §6): a seeded generator of
H&E-like slides and the loaders of slide files and point annotations.

A slide is an RGB picture (PNG or TIFF; :func:`read_slide` reads both, big TIFFs through
tifffile): glass (near white), tissue (pink stroma with sparse small nuclei) and tumour-like
regions inside it (dense, large, dark nuclei on a more purple stroma). The generator also writes
each slide's tumour mask (``<slide_id>_mask.png``, 255 = tumour) and the annotated points
``points.csv`` (``slide_id, x, y, label``; label ``tumor`` or ``normal``; x, y in pixels of the
slide). The same seed gives the same bytes.

:func:`read_points` takes the CSVs annotators export too: header names in any case, ``X``/``Y``
or ``x_coord``/``y_coord``, labels ``tumour``/``Tumor``/``1`` and ``normal``/``0``; rows it cannot
read are returned apart with their reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ("normal", "tumor")
SLIDE_SUFFIXES = (".png", ".tif", ".tiff")
_GLASS = np.array([242, 240, 244], np.float32)
_STROMA = np.array([232, 168, 200], np.float32)
_TUMOUR_STROMA = np.array([205, 140, 195], np.float32)
_NUCLEUS = np.array([95, 55, 145], np.float32)
_TUMOUR_NUCLEUS = np.array([60, 28, 105], np.float32)
_LABEL_WORDS = {"tumor": "tumor", "tumour": "tumor", "1": "tumor", "cancer": "tumor", "normal": "normal",
                "0": "normal", "benign": "normal"}


def slide(rng: np.random.Generator, size: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rgb uint8 [size, size, 3], tissue bool, tumour bool)`` of one generated slide."""
    from scipy import ndimage

    tissue = _region(rng, size, cells=6, level=0.42)
    tumour = _region(rng, size, cells=5, level=0.62) & ndimage.binary_erosion(tissue, iterations=max(1, size // 64))
    small = _spots(rng, size, sigma=1.2, density=0.06)
    large = _spots(rng, size, sigma=2.4, density=0.30)
    stroma = np.where(tumour[..., None], _TUMOUR_STROMA, _STROMA)
    nuclei = np.where(tumour, large, small)[..., None]
    colour = np.where(tumour[..., None], _TUMOUR_NUCLEUS, _NUCLEUS)
    tissue_rgb = stroma * (1 - nuclei) + colour * nuclei
    image = np.where(tissue[..., None], tissue_rgb, _GLASS)
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), tissue, tumour


def points(rng: np.random.Generator, tissue: np.ndarray, tumour: np.ndarray, per_label: int, margin: int):
    """``(x, y, label)`` points: tumour ones well inside the tumour, normal ones in tissue well
    away from it, all ``margin`` pixels inside the slide (a patch around them fits)."""
    from scipy import ndimage

    size = tissue.shape[0]
    depth = max(1, margin // 2)
    inside = ndimage.binary_erosion(tumour, iterations=depth)
    away = ndimage.binary_erosion(tissue & ~ndimage.binary_dilation(tumour, iterations=depth), iterations=depth)
    frame = np.zeros_like(tissue)
    frame[margin:size - margin, margin:size - margin] = True
    chosen = []
    for label, allowed in (("tumor", inside & frame), ("normal", away & frame)):
        ys, xs = np.nonzero(allowed)
        if len(xs) == 0:
            continue
        picks = rng.choice(len(xs), size=min(per_label, len(xs)), replace=False)
        chosen += [(int(xs[i]), int(ys[i]), label) for i in sorted(picks)]
    return chosen


def generate(root: str | Path, slides: int = 2, size: int = 4096, per_label: int = 20, seed: int = 0,
             margin: int = 112, fmt: str = "PNG") -> Path:
    """Write ``slides`` slides, their masks and ``points.csv`` under ``root``; returns the CSV's path.
    Slides with no room for a tumour point are drawn again (next seed) so each has both labels."""
    import pandas as pd
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(slides):
        slide_id = f"slide_{seed}_{index:03d}"
        for attempt in range(20):
            rng = np.random.default_rng([seed, index, attempt])
            rgb, tissue, tumour = slide(rng, size)
            found = points(rng, tissue, tumour, per_label, margin)
            if {label for _, _, label in found} == set(LABELS):
                break
        suffix = "tif" if fmt == "TIFF" else "png"
        Image.fromarray(rgb).save(root / f"{slide_id}.{suffix}", format=fmt)
        Image.fromarray((tumour * 255).astype(np.uint8)).save(root / f"{slide_id}_mask.png", format="PNG")
        rows += [{"slide_id": slide_id, "x": x, "y": y, "label": label} for x, y, label in found]
    path = root / "points.csv"
    pd.DataFrame(rows, columns=["slide_id", "x", "y", "label"]).to_csv(path, index=False)
    return path


def read_slide(path: str | Path, max_pixels: int = 400_000_000) -> np.ndarray:
    """A slide as RGB uint8 ``[height, width, 3]`` (PNG through Pillow, TIFF through tifffile)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            _check_size(path, page.shape[1], page.shape[0], max_pixels)
            array = page.asarray()
    else:
        from PIL import Image

        with Image.open(path) as image:
            _check_size(path, image.width, image.height, max_pixels)
            Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, max_pixels)
            array = np.asarray(image.convert("RGB"))
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3]).astype(np.uint8, copy=False)


def slide_files(root: str | Path) -> dict[str, Path]:
    """``slide_id -> path`` of the slides under ``root`` (masks left out)."""
    return {p.stem: p for p in sorted(Path(root).iterdir())
            if p.suffix.lower() in SLIDE_SUFFIXES and not p.stem.endswith("_mask")}


def read_points(path: str | Path):
    """``(points, refused)``: the annotations as ``slide_id, x, y, label`` (x, y int), and the rows
    that could not be read with ``_reason``."""
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    names = {c: c.strip().lower() for c in raw.columns}
    raw = raw.rename(columns=names).rename(columns={"x_coord": "x", "y_coord": "y", "slide": "slide_id",
                                                    "class": "label", "image": "slide_id"})
    missing = [c for c in ("slide_id", "x", "y", "label") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: points CSV lacks columns {missing} (has {list(raw.columns)})")
    frame = raw[["slide_id", "x", "y", "label"]].apply(lambda c: c.str.strip())
    x = pd.to_numeric(frame["x"], errors="coerce")
    y = pd.to_numeric(frame["y"], errors="coerce")
    label = frame["label"].str.lower().map(_LABEL_WORDS)
    reason = pd.Series("", index=frame.index)
    reason[frame["slide_id"] == ""] += "missing slide_id; "
    reason[x.isna() | y.isna()] += "x or y is not a number; "
    reason[(x < 0) | (y < 0)] += "negative coordinate; "
    reason[label.isna()] += "unknown label (tumor or normal); "
    bad = reason != ""
    good = frame[~bad].assign(x=x[~bad].round().astype("int64"), y=y[~bad].round().astype("int64"),
                              label=label[~bad])
    refused = frame[bad].assign(_reason=reason[bad].str.rstrip("; "))
    return good.reset_index(drop=True), refused.reset_index(drop=True)


def _region(rng: np.random.Generator, size: int, cells: int, level: float) -> np.ndarray:
    """A smooth random blob mask: coarse noise upscaled bilinearly, thresholded at its ``level``
    quantile from the top."""
    from scipy import ndimage

    coarse = ndimage.gaussian_filter(rng.random((cells * 4, cells * 4)), 1.5, mode="reflect")
    field = ndimage.zoom(coarse, size / coarse.shape[0], order=1)[:size, :size]
    return field > np.quantile(field, 1 - level)


def _spots(rng: np.random.Generator, size: int, sigma: float, density: float) -> np.ndarray:
    """Nucleus-like spots: blurred noise thresholded so ``density`` of the area is covered (0..1 edges)."""
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), sigma)
    cut = np.quantile(noise[:: max(1, size // 256), :: max(1, size // 256)], 1 - density)
    return np.clip((noise - cut) / (noise.std() * 0.3) + 0.5, 0, 1) * (noise > cut - noise.std() * 0.15)


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ValueError(f"{path.name}: {width}x{height} pixels is over the limit of {max_pixels:,}")
