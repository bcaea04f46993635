"""The served image classifier: an MLflow pyfunc over one ONNX graph (backbone + head +
softmax), run with Pillow and onnxruntime; no torch at serving time.

Input: a column ``image`` of base64-encoded JPEG/PNG/TIFF (raw ``bytes`` are taken too).
Output: ``label`` (the most probable class) and ``prob`` (its probability), one row per image.
Images are predicted in batches of 32. A bad image is refused with a
:class:`~lakeside.serving.payloads.PayloadError` naming the field (``image``) and its row
(0-based in the request): bad base64, not an image, truncated or corrupt (422, with the
decoder's reason), over the pixel limit (413).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

GRAPH_ARTIFACT = "classifier"
IMAGE = "image"


def decode_base64(value: Any, row: int) -> bytes:
    from lakeside.serving.payloads import PayloadError

    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str):
        raise PayloadError(f"'image' must be a base64 string, got {type(value).__name__}", field=IMAGE, row=row)
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PayloadError(f"'image' is not valid base64: {error}", field=IMAGE, row=row) from None


def pictures(values, max_pixels: int) -> list:
    """Decoded pictures, or the first bad one's :class:`PayloadError` (field ``image``, its row)."""
    from lakeside.serving.payloads import PayloadError
    from lakeside.vision.images import ImageError, open_image

    out = []
    for row, value in enumerate(values):
        try:
            out.append(open_image(decode_base64(value, row), max_pixels))
        except ImageError as error:
            raise PayloadError(f"'image' {error.reason}", status=error.status, field=IMAGE, row=row) from None
    return out


class ImageClassifier(mlflow.pyfunc.PythonModel):
    """Class probabilities of images from one ONNX graph."""

    def load_context(self, context) -> None:
        from lakeside.vision.runtime import OnnxModel

        config = dict(context.model_config or {})
        self.classes = list(config["classes"])
        self.size = int(config.get("image_size", 224))
        self.max_pixels = int(config.get("max_pixels", 40_000_000))
        self.batch = int(config.get("batch", 32))
        self.graph = OnnxModel(context.artifacts[GRAPH_ARTIFACT], threads=config.get("threads"))

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from lakeside.vision.images import pixels

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        probabilities = self.graph.run(pixels(pictures(frame[IMAGE].tolist(), self.max_pixels), self.size),
                                       batch=self.batch)
        return answer(probabilities, self.classes)


def answer(probabilities: np.ndarray, classes: list[str]) -> pd.DataFrame:
    best = probabilities.argmax(axis=1)
    return pd.DataFrame({"label": [classes[i] for i in best],
                         "prob": probabilities[np.arange(len(best)), best].astype(float)})


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", IMAGE)]),
                          outputs=Schema([ColSpec("string", "label"), ColSpec("double", "prob")]))


def model_arguments(graph: Path, classes: list[str], example_images: list[bytes], image_size: int = 224) -> dict:
    """What ``mlflow.pyfunc.log_model``/``save_model`` take (input example: base64 of ``example_images``)."""
    from importlib.metadata import version

    example = pd.DataFrame({IMAGE: [base64.b64encode(b).decode("ascii") for b in example_images]})
    return {
        "python_model": ImageClassifier(), "artifacts": {GRAPH_ARTIFACT: str(graph)},
        "model_config": {"classes": list(classes), "image_size": image_size, "batch": 32},
        "signature": signature(), "input_example": example,
        "pip_requirements": [f"{p}=={version(p)}" for p in ("mlflow", "onnxruntime", "pillow", "numpy", "pandas")],
    }


def log_model(graph: Path, classes: list[str], example_images: list[bytes], name: str = "model",
              image_size: int = 224):
    """Log the classifier in the active run; MLflow's ``ModelInfo``."""
    return mlflow.pyfunc.log_model(name=name, **model_arguments(graph, classes, example_images, image_size))
