"""Image bytes -> checked pictures -> the backbone's input; no torch (serving and Spark workers
use this with onnxruntime only).

Every refusal is an :class:`ImageError` carrying the reason a person can act on (the decoder's
own message for a corrupt file) and the HTTP status it maps to: 413 for pixels over the limit,
422 for anything that is not a readable image.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 224
MAX_PIXELS = 40_000_000
"""Pictures over 40 megapixels are refused before they are decoded (decompression bombs)."""
FORMATS = ("JPEG", "PNG", "TIFF")


class ImageError(ValueError):
    def __init__(self, reason: str, status: int = 422):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    format: str
    width: int
    height: int


def image_id(content: bytes) -> str:
    """An image's key: the sha256 of its bytes (the same file is the same image wherever it lands)."""
    return hashlib.sha256(content).hexdigest()


def open_image(content: bytes, max_pixels: int = MAX_PIXELS):
    """The decoded picture (RGB), or :class:`ImageError` saying why not."""
    from PIL import Image, UnidentifiedImageError

    if not content:
        raise ImageError("empty file: no image bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            _check_header(image, max_pixels)
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image: the bytes are not JPEG, PNG or TIFF") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"too many pixels: {error}", status=413) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"corrupt or truncated image: {error}") from None
    return image.convert("RGB")


def inspect(content: bytes, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Key, format and size of a readable image (decoded fully, so truncation is caught)."""
    from PIL import Image

    image = open_image(content, max_pixels)
    fmt = Image.open(io.BytesIO(content)).format
    return ImageInfo(image_id(content), fmt, image.width, image.height)


def pixels(images: Sequence, size: int = IMAGE_SIZE) -> np.ndarray:
    """Pictures as the backbone's input: float32 ``[n, size, size, 3]`` RGB values 0-255 (resized
    bilinearly; the graph itself normalises)."""
    from PIL import Image

    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for i, image in enumerate(images):
        picture = image if image.mode == "RGB" else image.convert("RGB")
        if picture.size != (size, size):
            picture = picture.resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(picture, dtype=np.float32)
    return out


def decode_pixels(contents: Sequence[bytes], size: int = IMAGE_SIZE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    return pixels([open_image(c, max_pixels) for c in contents], size)


def encode(image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _check_header(image, max_pixels: int) -> None:
    if image.format not in FORMATS:
        raise ImageError(f"unsupported image format {image.format}: JPEG, PNG or TIFF")
    count = image.width * image.height
    if count > max_pixels:
        raise ImageError(f"too many pixels: {image.width}x{image.height} = {count:,}, at most {max_pixels:,}",
                         status=413)
