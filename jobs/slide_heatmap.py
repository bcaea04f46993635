"""Heat maps of whole slides with the champion: slides -> ``gold.slide_heatmap`` (``slide_id``,
``x``, ``y`` (tile centre), ``prob`` (tumour), ``version`` (the model version)) and one overlay
PNG per slide under ``$LAKESIDE_HOME/reports/heatmaps/``.

    spark-submit --master 'local[*]' jobs/slide_heatmap.py (--slides DIR | --date D) [--model pathology_patch] \\
        [--alias champion] [--patch-size 224] [--stride 224] [--positive tumor]

Extract lists the slides (PNG or TIFF) and downloads the aliased model's ONNX graph once; the
transform scores each slide in one task (``applyInPandas`` by slide: tiles on a grid, glass
skipped, batches of 32 through onnxruntime); load merges on (``slide_id``, ``x``, ``y``), so a
rerun with the same model changes nothing and a new champion's scores replace the old ones.
Prints seconds per slide and tiles per slide as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from lakeside.config import settings
from lakeside.spark import get_spark
from lakeside.tables import Lake, open_lake

TABLE = "gold.slide_heatmap"
SCHEMA = "slide_id string, x bigint, y bigint, prob double, version string, seconds double"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slide_heatmap", description=__doc__.splitlines()[0])
    parser.add_argument("--slides", default=None)
    parser.add_argument("--date", default=None, help="score the slides landed that day (default folder)")
    parser.add_argument("--model", default="pathology_patch")
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--patch-size", type=int, default=224)
    parser.add_argument("--stride", type=int, default=None, help="default: the patch size")
    parser.add_argument("--positive", default="tumor")
    parser.add_argument("--reports", default=None, help="overlay folder (default $LAKESIDE_HOME/reports/heatmaps)")
    return parser.parse_args(argv)


def score(slides, graph: dict, positive: str, size: int, stride: int, version: str):
    """(slide_id, path) rows -> tile scores, one task per slide."""
    classes = graph["classes"]
    if positive not in classes:
        raise ValueError(f"the model's classes {classes} do not include {positive!r}")
    index, path, image_size = classes.index(positive), graph["graph"], graph["image_size"]

    def per_slide(frame):
        from lakeside.datasets.pathology_slides import read_slide
        from lakeside.vision.heatmap import score_slide
        from lakeside.vision.runtime import cached

        started = time.perf_counter()
        slide = read_slide(frame["path"].iloc[0])
        scores = score_slide(slide, cached(path), index, size, stride, image_size)
        return scores.assign(slide_id=frame["slide_id"].iloc[0], version=version,
                             seconds=time.perf_counter() - started)[["slide_id", "x", "y", "prob", "version",
                                                                     "seconds"]]

    return slides.groupBy("slide_id").applyInPandas(per_slide, SCHEMA)


def run(lake: Lake, spark, slides: str, model: str = "pathology_patch", alias: str = "champion", size: int = 224,
        stride: int | None = None, positive: str = "tumor", reports: str | None = None) -> dict:
    import pandas as pd
    from mlflow import MlflowClient

    from lakeside.datasets.pathology_slides import read_slide, slide_files
    from lakeside.vision import heatmap, plots

    stride = stride or size
    version = MlflowClient().get_model_version_by_alias(model, alias).version
    files = slide_files(slides)
    if not files:
        raise ValueError(f"no slides (PNG or TIFF) in {slides}")
    folder = Path(reports) if reports else settings().home / "reports" / "heatmaps"
    with tempfile.TemporaryDirectory(prefix="lakeside-heatmap-") as downloads:
        graph = heatmap.classifier(f"models:/{model}/{version}", downloads)
        frame = spark.createDataFrame(pd.DataFrame({"slide_id": list(files), "path": [str(p) for p in files.values()]}))
        scores = score(frame, graph, positive, size, stride, str(version)).toPandas()
    timing = scores.groupby("slide_id")["seconds"].first().to_dict()
    lake.table(TABLE).merge(scores.drop(columns="seconds"), keys=["slide_id", "x", "y"],
                            metadata={"model": model, "version": str(version), "slides": slides})
    overlays = {}
    for slide_id, path in files.items():
        slide = read_slide(path)
        cells = heatmap.grid(scores[scores["slide_id"] == slide_id], slide.shape[:2], stride)
        overlays[slide_id] = str(plots.overlay(slide, cells, folder / f"{slide_id}.png"))
    return {"table": TABLE, "model": model, "version": str(version), "slides": len(files),
            "tiles": int(len(scores)), "seconds_per_slide": timing, "overlays": overlays}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.slides or args.date):
        raise SystemExit("slide_heatmap: give --slides DIR or --date YYYY-MM-DD")
    slides = args.slides or str(settings().landing_root / "pathology_slides" / args.date)
    spark = get_spark("slide_heatmap")
    facts = run(open_lake(spark), spark, slides, args.model, args.alias, args.patch_size, args.stride,
                args.positive, args.reports)
    print(json.dumps(facts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
