"""DTW distances of every product of ``silver.weekly_sales`` to the factory's capacity pattern,
one column per stretch factor, into ``gold.sales_dtw_distances`` (replaced as a whole).

    spark-submit --master 'local[*]' jobs/sales_dtw.py --stretch-factor 0.05 --stretch-factor 0.1

Extract reads the table (``--version`` pins one); transform is
:func:`lakeside.usecases.sales_trends.dtw.with_distances` (dtaidistance's C kernel per partition,
Arrow batches); load overwrites the output table. The trainer of the ``sales_trends`` use case
runs the same transform inside its DAG task.
"""

from __future__ import annotations

import argparse
import sys

from lakeside.spark import get_spark
from lakeside.tables import Lake, open_lake

SOURCE = "silver.weekly_sales"
TARGET = "gold.sales_dtw_distances"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sales_dtw", description=__doc__.splitlines()[0])
    parser.add_argument("--stretch-factor", type=float, action="append", dest="factors",
                        help="repeatable; default: the use case's seven")
    parser.add_argument("--version", type=int, default=None, help="the source table's version (default: current)")
    parser.add_argument("--source", default=SOURCE)
    parser.add_argument("--target", default=TARGET)
    return parser.parse_args(argv)


def run(lake: Lake, factors: list[float], source: str = SOURCE, target: str = TARGET,
        version: int | None = None) -> int:
    """Extract, transform, load; returns the output table's version."""
    from lakeside.usecases.sales_trends import USE_CASE, dtw, train

    frame = lake.table(source).read(version=version)
    settings = train.settings_of({**USE_CASE.params, "stretch_factors": factors, "chosen_stretch_factor": factors[0]})
    weeks = train.week_columns(frame.columns)
    scored = dtw.with_distances(frame, train.pattern_of(settings, len(weeks)), settings["stretch_factors"], weeks)
    return lake.table(target).overwrite(scored, metadata={"source": source, "factors": ",".join(map(str, factors))})


def main(argv: list[str] | None = None) -> int:
    from lakeside.usecases.sales_trends import USE_CASE

    args = parse_args(argv)
    factors = args.factors or list(USE_CASE.params["stretch_factors"])
    spark = get_spark("sales_dtw")
    version = run(open_lake(spark), factors, args.source, args.target, args.version)
    print(f"{args.target} version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
