"""The features job's transform: images (binary ``content``) -> 1280 backbone features, per
partition with ``mapInPandas``.

Each Spark Python worker loads the ONNX graph once (:func:`lakeside.vision.runtime.cached`,
kept for the worker's life) and runs it on batches of ``batch`` (32) images; decoding and resizing
are Pillow's. The graph's file must be readable at the same path on every worker (local mode,
or a shared volume on a cluster). Output: the key and carried columns, ``features
array<float>``, ``backbone`` (the graph file's sha256: features from two backbones never mix).
"""

from __future__ import annotations

from collections.abc import Sequence

from lakeside.vision.runtime import BATCH, file_sha256


def backbone_id(onnx_path: str) -> str:
    return file_sha256(onnx_path)


def image_features(images, onnx_path: str, carry: Sequence[str], batch: int = BATCH, threads: int | None = None):
    """``images`` (a Spark DataFrame with ``content`` and the ``carry`` columns) -> ``carry``,
    ``features``, ``backbone``."""
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    fields = [images.schema[name] for name in carry]
    schema = StructType([*fields, StructField("features", ArrayType(FloatType()), False),
                         StructField("backbone", StringType(), False)])
    backbone = backbone_id(onnx_path)
    columns = list(carry)

    def run(frames):
        for frame in frames:
            yield features_frame(frame, onnx_path, columns, backbone, batch, threads)

    return images.select(*columns, "content").mapInPandas(run, schema)


def features_frame(frame, onnx_path: str, carry: Sequence[str], backbone: str, batch: int = BATCH,
                   threads: int | None = None):
    """The pandas side: one Arrow batch of images -> their features (in-process; the job's unit)."""
    from lakeside.vision.images import decode_pixels
    from lakeside.vision.runtime import cached

    model = cached(onnx_path, threads)
    out = frame[list(carry)].reset_index(drop=True)
    vectors = []
    for start in range(0, len(frame), batch):
        contents = [bytes(c) for c in frame["content"].iloc[start:start + batch]]
        vectors.extend(model.run(decode_pixels(contents), batch=batch))
    out["features"] = [v.astype("float32") for v in vectors]
    out["backbone"] = backbone
    return out
