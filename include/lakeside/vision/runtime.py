"""Running an exported graph (backbone, or backbone + head + softmax) with onnxruntime, in
batches; no torch. One :class:`OnnxModel` per process: :func:`cached` keeps it for the life of
a Spark Python worker, so a job loads the graph once per worker, not once per batch.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

BATCH = 32


class OnnxModel:
    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = str(path)
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def run(self, pixels: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """The graph's output for ``[n, 224, 224, 3]`` pixels, ``batch`` images per call."""
        parts = [self.session.run(None, {self.input: pixels[start:start + batch]})[0]
                 for start in range(0, len(pixels), batch)]
        return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


@functools.cache
def cached(path: str, threads: int | None = None) -> OnnxModel:
    return OnnxModel(path, threads)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
