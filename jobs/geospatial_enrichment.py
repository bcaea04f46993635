"""Geospatial enrichment of one logical date's taxi trips: zone and borough of every pickup and
dropoff, then the day's gold aggregates.

    spark-submit --master 'local[*]' jobs/geospatial_enrichment.py \\
        --logical-date 2015-01-15 --run-id scheduled__2015-01-15T00:00:00+00:00

Extract: the day's rows of ``silver.taxi_trips`` (``_ingest_date``) and the zones table
(``reference.taxi_zones``, its H3 cover included). Transform: trips whose coordinates cannot be
located go to ``quarantine.taxi_trips_enriched`` with the reason; the others are located
through the H3 index (exact at edges, see ``lakeside.spatial.index``). Load: the day's partition
of ``silver.taxi_trips_enriched``, the quarantine and the gold tables is replaced, so a rerun of
a day gives the same tables.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time

from pyspark.sql import functions as F

from lakeside.datasets import taxi_trips
from lakeside.geospatial import ENRICHED_QUARANTINE, ENRICHED_TABLE, TRIPS_TABLE, ZONES_TABLE
from lakeside.geospatial import enrich, zones
from lakeside.spark import get_spark
from lakeside.spatial.zones import fingerprint, index_of
from lakeside.tables import open_lake


class Timer:
    """Seconds per step (the job's own figures, printed with its report)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, step: str):
        started = time.perf_counter()
        yield
        self.seconds[step] = round(time.perf_counter() - started, 3)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="geospatial_enrichment", description=__doc__.splitlines()[0])
    parser.add_argument("--logical-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--zones-table", default=ZONES_TABLE)
    parser.add_argument("--zones-version", type=int, default=None, help="pin a version (default: current)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    day = args.logical_date.isoformat()
    spark = get_spark("geospatial_enrichment")
    lake = open_lake(spark)

    zone_table = lake.table(args.zones_table)
    zones_version = zone_table.version() if args.zones_version is None else args.zones_version
    zone_rows = zones.read(lake, args.zones_table, zones_version)
    index = index_of(zone_rows)
    columns = [*taxi_trips.SPEC.column_names, "_ingest_date"]
    trips = lake.table(TRIPS_TABLE).read().filter(F.col("_ingest_date") == F.lit(day).cast("date")).select(*columns)

    usable, refused = enrich.split_coordinates(trips)
    key = f"{args.zones_table}@{zones_version}:{fingerprint(zone_rows)[:16]}"
    enriched = enrich.enrich(usable, index, zone_rows, key)

    timer = Timer()
    commit = {"run_id": args.run_id, "logical_date": day, "zones_table": args.zones_table,
              "zones_version": str(zones_version)}
    this_day = f"_ingest_date = '{day}'"
    with timer("enrich"):
        lake.table(ENRICHED_TABLE).replace_where(this_day, enriched, partition_by=["_ingest_date"], metadata=commit)
    with timer("quarantine"):
        lake.table(ENRICHED_QUARANTINE).replace_where(
            this_day, refused.withColumn("_run_id", F.lit(args.run_id)), partition_by=["_ingest_date"],
            metadata=commit)
    written = lake.table(ENRICHED_TABLE).read().filter(F.col("_ingest_date") == F.lit(day).cast("date"))
    with timer("gold"):
        for name, frame in enrich.gold(written).items():
            lake.table(name).replace_where(this_day, frame, partition_by=["_ingest_date"], metadata=commit)

    print(json.dumps({"logical_date": day, "zones_version": zones_version, **enrich.day_counts(written),
                      "quarantined": lake.table(ENRICHED_QUARANTINE).read().filter(this_day).count(),
                      "seconds": timer.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
