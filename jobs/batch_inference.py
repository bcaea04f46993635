"""Score a source table's rows of one logical date with a registered model's alias into
``predictions.<model>`` (the day's partition replaced).

    spark-submit --master 'local[*]' jobs/batch_inference.py --model loans_int_rate \\
        --alias champion --source silver.loans --key id --logical-date 2024-01-03

Extract reads the source table (``--source-version`` pins one; default its current version) and
the model from the registry (``MLFLOW_TRACKING_URI``); the transform is
:func:`lakeside.batch_inference.with_predictions` over ``mlflow.pyfunc.spark_udf``; load
replaces the day. Prints what it wrote as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from lakeside.spark import get_spark
from lakeside.tables import open_lake


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch_inference", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--source", required=True, help="the table to score, e.g. silver.loans")
    parser.add_argument("--key", required=True, help="comma-separated key columns of the source")
    parser.add_argument("--logical-date", required=True, help="YYYY-MM-DD: the rows ingested that day")
    parser.add_argument("--source-version", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from lakeside import batch_inference

    args = parse_args(argv)
    model = batch_inference.resolve(args.model, args.alias)
    spark = get_spark("batch_inference")
    written = batch_inference.score(spark, open_lake(spark), model, args.source, args.key.split(","),
                                    args.logical_date, args.source_version)
    print(json.dumps(written, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
