"""Car pictures by body type (../shared/use-cases.md §6): a seeded generator of car-like
drawings and the loader of class folders.

Layout on disk (the generator's, and the usual one of public image sets such as Stanford Cars
exported by class): ``<root>/<label>/<file>.png|.jpg|.jpeg|.tif``. The label is the folder's
name (lower-cased, spaces to ``_``); files elsewhere or with other suffixes are ignored.

The generator draws each of the :data:`BODY_TYPES` from its own side profile (body length and
height, cabin shape, bed or box), with a random colour, pose (facing left or right, a small tilt),
scale, position and background (sky/ground gradient, noise). The same seed gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

BODY_TYPES = ("sedan", "suv", "hatchback", "pickup", "van", "coupe")
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

# Side profiles in a unit box (x 0..1 front to back, y 0 ground .. 1 roof): body (height of the
# lower box), and the cabin polygon above it.
_PROFILES = {
    "sedan": {"length": 1.0, "body": 0.34, "cabin": [(0.25, 0.34), (0.35, 0.62), (0.65, 0.62), (0.78, 0.34)]},
    "suv": {"length": 0.92, "body": 0.45, "cabin": [(0.18, 0.45), (0.25, 0.85), (0.95, 0.85), (0.97, 0.45)]},
    "hatchback": {"length": 0.78, "body": 0.38, "cabin": [(0.22, 0.38), (0.35, 0.72), (0.88, 0.70), (0.97, 0.38)]},
    "pickup": {"length": 1.05, "body": 0.40, "cabin": [(0.22, 0.40), (0.28, 0.78), (0.52, 0.78), (0.55, 0.40)],
               "bed": True},
    "van": {"length": 0.95, "body": 0.55, "cabin": [(0.08, 0.55), (0.14, 0.95), (0.98, 0.95), (0.98, 0.55)]},
    "coupe": {"length": 0.95, "body": 0.28, "cabin": [(0.32, 0.28), (0.48, 0.52), (0.62, 0.52), (0.85, 0.28)]},
}


def draw(body_type: str, rng: np.random.Generator, size: int = 128):
    """One car picture (PIL, RGB) of ``body_type``."""
    from PIL import Image, ImageDraw, ImageFilter

    if body_type not in _PROFILES:
        raise ValueError(f"unknown body type {body_type!r}: one of {BODY_TYPES}")
    profile = _PROFILES[body_type]
    image = Image.fromarray(_background(rng, size))
    pen = ImageDraw.Draw(image)
    scale = rng.uniform(0.6, 0.9) * size * profile["length"]
    height = scale * 0.5
    left = rng.uniform(0.02, 0.98 - 0.9 * profile["length"]) * size
    ground = rng.uniform(0.7, 0.85) * size
    facing_right = bool(rng.integers(2))

    def point(x: float, y: float) -> tuple[float, float]:
        x = 1.0 - x if facing_right else x
        return left + x * scale, ground - y * height

    colour = tuple(int(c) for c in rng.integers(20, 236, 3))
    glass = (int(rng.integers(120, 180)), int(rng.integers(170, 210)), int(rng.integers(200, 240)))
    body = [point(0.0, 0.08), point(0.0, profile["body"]), point(1.0, profile["body"]), point(1.0, 0.08)]
    pen.polygon(body, fill=colour)
    cabin = [point(x, y) for x, y in profile["cabin"]]
    pen.polygon(cabin, fill=colour)
    inner = [point(x + (0.04 if i in (0, 1) else -0.04), y - 0.06 if y > profile["body"] else y + 0.02)
             for i, (x, y) in enumerate(profile["cabin"])]
    pen.polygon(inner, fill=glass)
    if profile.get("bed"):
        pen.line([point(0.58, profile["body"] + 0.08), point(1.0, profile["body"] + 0.08)], fill=colour,
                 width=max(1, size // 64))
    radius = height * rng.uniform(0.15, 0.19)
    for x in (0.18, 0.8):
        cx, cy = point(x, 0.08)
        pen.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(25, 25, 25))
        pen.ellipse([cx - radius / 2, cy - radius / 2, cx + radius / 2, cy + radius / 2], fill=(150, 150, 150))
    image = image.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BILINEAR, fillcolor=_corner(image))
    return image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.0, 0.8))))


def generate(root: str | Path, per_class: int = 10, seed: int = 0, size: int = 128, fmt: str = "PNG",
             body_types: tuple[str, ...] = BODY_TYPES) -> list[Path]:
    """Write ``per_class`` pictures of each body type under ``root/<body type>/``; their paths."""
    root = Path(root)
    written = []
    for label_index, body_type in enumerate(body_types):
        folder = root / body_type
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng([seed, label_index, i])
            path = folder / f"{body_type}_{seed}_{i:05d}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
            path.write_bytes(picture_bytes(draw(body_type, rng, size), fmt))
            written.append(path)
    return written


def picture_bytes(image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def class_files(root: str | Path) -> Iterator[tuple[Path, str]]:
    """``(path, label)`` of the images in class folders under ``root``, sorted."""
    for path in sorted(Path(root).glob("*/*")):
        if path.is_file() and path.suffix.lower() in SUFFIXES and not path.name.startswith("."):
            yield path, label_of(path.parent.name)


def label_of(folder: str) -> str:
    return folder.strip().lower().replace(" ", "_")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    sky = rng.integers(90, 256, 3).astype(np.float32)
    ground = rng.integers(30, 160, 3).astype(np.float32)
    horizon = rng.uniform(0.55, 0.8)
    rows = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    blend = np.clip((rows - horizon) * 12.0 + 0.5, 0.0, 1.0)[..., None]
    image = np.broadcast_to(sky * (1 - blend) + ground * blend, (size, size, 3)).copy()
    image += rng.normal(0.0, rng.uniform(2.0, 12.0), (size, size, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def _corner(image) -> tuple[int, int, int]:
    return image.getpixel((0, 0))
