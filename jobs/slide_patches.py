"""Patches around annotated points: slides + points CSV -> ``silver.pathology_patches`` (one
PNG patch per point: ``patch_id``, ``slide_id``, ``x``, ``y``, ``label``, ``image_id``, ``format``,
``width``, ``height``, ``content``), and ``quarantine.pathology_patches`` for points that cannot
be cut (unreadable row, unknown slide, patch over the slide's edge) with the reason.

    spark-submit --master 'local[*]' jobs/slide_patches.py --date 2026-12-01 [--slides DIR] \\
        [--points DIR/points.csv] [--patch-size 224]

``--slides`` defaults to the day's landing folder ``$LAKESIDE_HOME/landing/pathology_slides/<date>/``,
``--points`` to ``points.csv`` in it.

Extract reads the points with :func:`lakeside.datasets.pathology_slides.read_points` (its
quirks handled) and lists the slides (PNG or TIFF); the transform cuts each slide's patches in
one task (``applyInPandas`` by slide: the slide is read once); load merges silver on
``patch_id`` (``<slide>:<x>:<y>:<size>``) and replaces the day's quarantine partition.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from lakeside.spark import get_spark
from lakeside.tables import Lake, open_lake

SOURCE = "pathology_patches"
PATCH_SCHEMA = ("patch_id string, slide_id string, x bigint, y bigint, label string, image_id string, "
                "format string, width int, height int, content binary, _reason string")


def day_folder(day: str):
    """Where a day's slides land: ``$LAKESIDE_HOME/landing/pathology_slides/<date>/``."""
    from lakeside.config import settings

    return settings().landing_root / "pathology_slides" / day


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slide_patches", description=__doc__.splitlines()[0])
    parser.add_argument("--slides", default=None, help="folder of slide PNG/TIFF files named <slide_id>.<ext>")
    parser.add_argument("--points", default=None, help="CSV of slide_id, x, y, label")
    parser.add_argument("--date", required=True, help="the run's logical date (its quarantine partition)")
    parser.add_argument("--patch-size", type=int, default=224)
    return parser.parse_args(argv)


def extract(spark, slides: str, points: str):
    """(points with their slide's path, refused rows of the CSV)."""
    from lakeside.datasets.pathology_slides import read_points, slide_files

    good, refused = read_points(points)
    paths = {k: str(v) for k, v in slide_files(slides).items()}
    good = good.assign(path=good["slide_id"].map(paths).fillna(""))
    frame = spark.createDataFrame(good, "slide_id string, x bigint, y bigint, label string, path string")
    return frame, refused


def cut(points, size: int):
    """Points -> patches (``_reason`` set where none could be cut), one task per slide."""

    def per_slide(frame):
        return cut_slide(frame, size)

    return points.groupBy("slide_id").applyInPandas(per_slide, PATCH_SCHEMA)


def cut_slide(frame, size: int):
    import pandas as pd

    from lakeside.datasets.pathology_slides import read_slide
    from lakeside.vision import patches
    from lakeside.vision.images import image_id

    rows = []
    path = frame["path"].iloc[0]
    slide, problem = None, "unknown slide: no file for it in the slides folder" if not path else None
    if slide is None and problem is None:
        try:
            slide = read_slide(path)
        except Exception as error:  # noqa: BLE001 - any unreadable slide is a reason, not a crash
            problem = f"unreadable slide: {error}"
    for point in frame.itertuples(index=False):
        row = {"patch_id": f"{point.slide_id}:{point.x}:{point.y}:{size}", "slide_id": point.slide_id,
               "x": point.x, "y": point.y, "label": point.label, "image_id": None, "format": None,
               "width": None, "height": None, "content": None, "_reason": problem}
        if problem is None:
            patch = patches.around(slide, int(point.x), int(point.y), size)
            if patch is None:
                row["_reason"] = f"a {size}-px patch around ({point.x}, {point.y}) crosses the slide's edge"
            else:
                content = patches.png(patch)
                row.update(image_id=image_id(content), format="PNG", width=size, height=size, content=content)
        rows.append(row)
    return pd.DataFrame(rows).astype({"width": "Int32", "height": "Int32"})


def run(lake: Lake, spark, slides: str, points: str, day: str, size: int = 224) -> dict:
    from pyspark.sql import functions as F

    day_value = dt.date.fromisoformat(day)
    located, refused_rows = extract(spark, slides, points)
    cut_points = cut(located, size).persist()
    try:
        silver = cut_points.filter(F.col("_reason").isNull()).drop("_reason")
        refused = cut_points.filter(F.col("_reason").isNotNull()).select(
            F.col("slide_id"), F.col("x").cast("string"), F.col("y").cast("string"), "label", "_reason")
        if len(refused_rows):
            refused = refused.unionByName(spark.createDataFrame(
                refused_rows[["slide_id", "x", "y", "label", "_reason"]],
                "slide_id string, x string, y string, label string, _reason string"))
        refused = refused.withColumn("_ingest_date", F.lit(day_value))
        commit = {"logical_date": day, "slides": slides, "points": points, "patch_size": str(size)}
        lake.table(f"quarantine.{SOURCE}").replace_where(f"_ingest_date = '{day}'", refused,
                                                         partition_by=["_ingest_date"], metadata=commit)
        merged = lake.table(f"silver.{SOURCE}").merge(silver, keys=["patch_id"], metadata=commit)
        reasons = {r["_reason"]: r["count"] for r in refused.groupBy("_reason").count().collect()}
        return {"table": f"silver.{SOURCE}", "patches": silver.count(), "merged": merged,
                "refused": sum(reasons.values()), "reasons": reasons,
                "version": lake.table(f"silver.{SOURCE}").version()}
    finally:
        cut_points.unpersist()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    slides = args.slides or str(day_folder(args.date))
    points = args.points or f"{slides}/points.csv"
    spark = get_spark("slide_patches")
    print(json.dumps(run(open_lake(spark), spark, slides, points, args.date, args.patch_size), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
