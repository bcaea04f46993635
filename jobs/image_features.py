"""Backbone features of stored images: ``silver.<source>`` -> ``gold.<source>_features``
(replaced as a whole; ``key``, the carried columns, ``features array<float>`` of 1280,
``backbone`` = the graph's sha256).

    spark-submit --master 'local[*]' jobs/image_features.py --source car_images --key image_id \\
        --carry label [--onnx backbone.onnx] [--version 7] [--batch 32]

Extract reads the silver table (``--version`` pins one); the transform is
:func:`lakeside.vision.features.image_features` (``mapInPandas``, the ONNX graph loaded once per
Python worker, batches of 32); load overwrites the gold table, its commit naming the source
version and the backbone. Without ``--onnx`` the backbone is exported once to
``$LAKESIDE_HOME/vision/`` (needs torch on the driver). Prints the facts as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from lakeside.spark import get_spark
from lakeside.tables import Lake, open_lake


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="image_features", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the images' table is silver.<source>")
    parser.add_argument("--key", default="image_id")
    parser.add_argument("--carry", nargs="*", default=["label"], help="columns copied next to the features")
    parser.add_argument("--onnx", default=None, help="the backbone's ONNX file (default: exported once)")
    parser.add_argument("--version", type=int, default=None, help="the silver table's version (default: current)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--run-id", default="")
    return parser.parse_args(argv)


def features_table(source: str) -> str:
    return f"gold.{source}_features"


def run(lake: Lake, source: str, key: str = "image_id", carry: tuple[str, ...] = ("label",), onnx: str | None = None,
        version: int | None = None, batch: int = 32, run_id: str = "") -> dict:
    from lakeside.vision.features import backbone_id, image_features

    if onnx is None:
        from lakeside.vision.backbone import exported

        onnx = str(exported())
    table = lake.table(f"silver.{source}")
    version = table.version() if version is None else version
    columns = [key, *[c for c in carry if c != key]]
    features = image_features(table.read(version=version), onnx, columns, batch=batch)
    backbone = backbone_id(onnx)
    facts = {"source": f"silver.{source}", "source_version": version, "table": features_table(source),
             "backbone": backbone, "onnx": onnx, "run_id": run_id}
    facts["version"] = lake.table(features_table(source)).overwrite(
        features, metadata={k: str(v) for k, v in facts.items()})
    return facts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spark = get_spark("image_features")
    facts = run(open_lake(spark), args.source, args.key, tuple(args.carry), args.onnx, args.version, args.batch,
                args.run_id)
    print(json.dumps(facts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
