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
    """One graph, run in batches on threads that sleep between runs, and single pictures on
    threads that spin.

    onnxruntime's threads spin-wait between runs by default. Between batches the caller decodes
    the next pictures (and a server answers requests) on the same cores, so the batch session's
    threads sleep instead: served at concurrency 32, 129 images/s instead of 122-125. A lone
    picture is answered fastest by spinning threads (4.0 ms instead of 5.0 on 2 cores), so it
    goes to a second session. Both are made at once: a served model's file is gone once loaded.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = str(path)
        self.threads = threads
        self.session = self._session(spinning=False)
        self.input = self.session.get_inputs()[0].name
        self._lone = self._session(spinning=True)

    def run(self, pixels: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """The graph's output for ``[n, 224, 224, 3]`` pixels, ``batch`` images per call."""
        if len(pixels) == 1:
            return self._lone.run(None, {self.input: pixels})[0]
        parts = [self.session.run(None, {self.input: pixels[start:start + batch]})[0]
                 for start in range(0, len(pixels), batch)]
        return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)

    def _session(self, spinning: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        return ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])


@functools.cache
def cached(path: str, threads: int | None = None) -> OnnxModel:
    return OnnxModel(path, threads)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
