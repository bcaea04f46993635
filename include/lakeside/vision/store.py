"""Image files -> Delta: ``silver.<source>`` holds each image once, as binary with its metadata
(``image_id`` = sha256 of the bytes, ``label``, ``format``, ``width``, ``height``, ``content``,
``path``, ``_ingest_date``); ``quarantine.<source>`` holds what was refused with its ``_reason``.

Files are read with Spark's ``binaryFile`` source and judged per partition (``mapInPandas``):
a file is refused when it is over ``max_bytes``, not a readable JPEG/PNG/TIFF (the decoder's
reason), over ``max_pixels``, or when its bytes arrive under two labels (every copy refused:
which label is right is for a person to say). Copies under the same label are kept once.

Idempotent per day: silver is merged on ``image_id``; the day's quarantine partition is
replaced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from lakeside.vision.images import MAX_PIXELS

MAX_BYTES = 50 * 1024 * 1024
SILVER_COLUMNS = ("image_id", "label", "format", "width", "height", "content", "path")
_JUDGED_SCHEMA = ("path string, label string, length bigint, image_id string, format string, width int, "
                  "height int, content binary, _reason string")


@dataclass
class ImageIngestReport:
    source: str
    logical_date: str
    files: int
    stored: int
    refused: int
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def read_files(spark, root: str, labelled: bool = True):
    """``path, label, length, content`` of the image files under ``root`` (recursively); the
    label is the parent folder's name when ``labelled`` (class folders), else null."""
    from pyspark.sql import functions as F

    files = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
             .option("pathGlobFilter", "*.{png,PNG,jpg,JPG,jpeg,JPEG,tif,TIF,tiff,TIFF}").load(root))
    folder = F.lower(F.regexp_replace(F.regexp_extract("path", r"/([^/]+)/[^/]+$", 1), " ", "_"))
    label = folder if labelled else F.lit(None).cast("string")
    return files.select("path", label.alias("label"), "length", "content")


def judge(files, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS):
    """Every file with its key, format and size, and ``_reason`` (null: fine)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def describe(batches):
        for frame in batches:
            yield _describe(frame, max_bytes, max_pixels)

    judged = files.mapInPandas(describe, _JUDGED_SCHEMA)
    per_image = Window.partitionBy("image_id")
    labels = F.array_sort(F.collect_set("label").over(per_image))
    conflict = F.when(F.col("image_id").isNotNull() & (F.size(labels) > 1),
                      F.concat(F.lit("the same image (sha256) arrives with two labels: "),
                               F.array_join(labels, ", ")))
    return judged.withColumn("_reason", F.coalesce("_reason", conflict))


def split(judged, day: dt.date):
    """(silver rows, quarantine rows) of the judged files for ``day``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    day_column = F.lit(day).cast("date").alias("_ingest_date")
    good = judged.filter(F.col("_reason").isNull())
    first = Window.partitionBy("image_id").orderBy("path")
    silver = (good.withColumn("_copy", F.row_number().over(first)).filter("_copy = 1")
              .select(*SILVER_COLUMNS, day_column))
    quarantine = judged.filter(F.col("_reason").isNotNull()).select(
        "path", "label", "length", "image_id", "_reason", day_column)
    return silver, quarantine


def ingest(spark, lake, source: str, root: str, day: dt.date | str, *, labelled: bool = True,
           max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> ImageIngestReport:
    """Land the image files under ``root`` for ``day`` into ``silver.<source>`` and
    ``quarantine.<source>``."""
    from pyspark.sql import functions as F

    day = dt.date.fromisoformat(str(day))
    judged = judge(read_files(spark, root, labelled), max_bytes, max_pixels).persist()
    try:
        silver, quarantine = split(judged, day)
        commit = {"logical_date": day.isoformat(), "source": source, "root": root}
        lake.table(f"quarantine.{source}").replace_where(f"_ingest_date = '{day.isoformat()}'", quarantine,
                                                         partition_by=["_ingest_date"], metadata=commit)
        lake.table(f"silver.{source}").merge(silver, keys=["image_id"], metadata=commit)
        reasons = {row["_reason"]: row["count"] for row in
                   judged.filter(F.col("_reason").isNotNull()).groupBy("_reason").count().collect()}
        files = judged.count()
        stored = silver.count()
    finally:
        judged.unpersist()
    return ImageIngestReport(source, day.isoformat(), files, stored, sum(reasons.values()), reasons)


def _describe(frame, max_bytes: int, max_pixels: int):
    import pandas as pd

    from lakeside.vision.images import ImageError, image_id, inspect

    rows = []
    for path, label, length, content in zip(frame["path"], frame["label"], frame["length"], frame["content"]):
        row = {"path": path, "label": label, "length": int(length), "image_id": None, "format": None,
               "width": None, "height": None, "content": None, "_reason": None}
        if length > max_bytes:
            row["_reason"] = f"file of {int(length):,} bytes is over the limit of {max_bytes:,}"
        elif label is not None and not label:
            row["_reason"] = "no label: the file is not inside a class folder"
        else:
            content = bytes(content)
            row["image_id"] = image_id(content)
            try:
                info = inspect(content, max_pixels)
                row.update(format=info.format, width=info.width, height=info.height, content=content)
            except ImageError as error:
                row["_reason"] = error.reason
        rows.append(row)
    return pd.DataFrame(rows, columns=["path", "label", "length", "image_id", "format", "width", "height",
                                       "content", "_reason"]).astype({"width": "Int32", "height": "Int32"})
