"""The Spark transforms of the ``geospatial_enrichment`` job.

``split_coordinates`` sets apart trips with an unusable pickup or dropoff (missing/NaN, (0, 0),
out of range) with a reason; ``enrich`` gives every other trip its pickup and dropoff zone and
borough (``*_outside`` when no zone holds the point), located per partition in one vectorised
call per batch (``mapInPandas``; the zone index travels once per executor as a broadcast);
``gold`` aggregates the day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType

from lakeside.spatial.index import OUTSIDE, ZoneIndex

ENDS = ("pickup", "dropoff")
ZONE_FIELDS = ("zone_id", "zone", "borough")


def coordinate_problem(end: str) -> SparkColumn:
    """Why a trip end's coordinates cannot be located (null when they can)."""
    lon, lat = F.col(f"{end}_longitude"), F.col(f"{end}_latitude")
    where = f"`{end}_longitude`, `{end}_latitude`"
    return (
        F.when(lon.isNull() | lat.isNull() | F.isnan(lon) | F.isnan(lat), F.lit(f"{where}: missing or NaN"))
        .when((lon == 0) & (lat == 0), F.lit(f"{where}: (0, 0), no GPS fix"))
        .when((F.abs(lon) > 180) | (F.abs(lat) > 90),
              F.format_string(f"{where}: (%s, %s) out of range", lon.cast("string"), lat.cast("string")))
    )


def split_coordinates(trips: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(trips with usable coordinates at both ends, the others with ``_reason``)."""
    reason = F.concat_ws("; ", *[coordinate_problem(end) for end in ENDS])
    judged = trips.withColumn("_reason", reason)
    return judged.filter(F.col("_reason") == "").drop("_reason"), judged.filter(F.col("_reason") != "")


_WORKER_INDEXES: dict[str, ZoneIndex] = {}


def _index(payload_key: str, payload) -> ZoneIndex:
    """One index per zones version per Python worker (workers are reused across tasks)."""
    import shapely

    if payload_key not in _WORKER_INDEXES:
        resolution, cells, start, candidates, settled, wkb = payload
        _WORKER_INDEXES.clear()
        _WORKER_INDEXES[payload_key] = ZoneIndex(resolution, cells, start, candidates, settled,
                                                 _prepared(shapely.from_wkb(wkb)))
    return _WORKER_INDEXES[payload_key]


def _prepared(geometries):
    import shapely

    shapely.prepare(geometries)
    return geometries


def index_payload(index: ZoneIndex):
    """What executors need to rebuild the index: arrays and WKB (prepared geometries do not pickle)."""
    import shapely

    return (index.resolution, index.cells, index.start, index.candidates, index.settled,
            shapely.to_wkb(index.geometries))


def enrich(trips: DataFrame, index: ZoneIndex, zones: pd.DataFrame, key: str) -> DataFrame:
    """Trips (with usable coordinates) + ``<end>_zone_id``, ``<end>_zone``, ``<end>_borough``,
    ``<end>_outside`` for pickup and dropoff. ``zones`` are the index's zones, in its order;
    ``key`` names the zones version (the workers' cache key)."""
    spark = trips.sparkSession
    shipped = spark.sparkContext.broadcast((key, index_payload(index)))
    attributes = {f: zones[f].to_numpy(dtype=object) for f in ZONE_FIELDS}
    added = [StructField(f"{end}_{field}", StringType()) for end in ENDS for field in ZONE_FIELDS]
    added += [StructField(f"{end}_outside", BooleanType()) for end in ENDS]
    schema = StructType([*trips.schema.fields, *added])

    def locate_batches(batches):
        payload_key, payload = shipped.value
        located = _index(payload_key, payload)
        for batch in batches:
            for end in ENDS:
                position = located.locate(batch[f"{end}_longitude"].to_numpy(), batch[f"{end}_latitude"].to_numpy())
                outside = position == OUTSIDE
                for field in ZONE_FIELDS:
                    values = attributes[field][np.where(outside, 0, position)]
                    values[outside] = None
                    batch[f"{end}_{field}"] = values
                batch[f"{end}_outside"] = outside
            yield batch

    return trips.mapInPandas(locate_batches, schema)


def gold(enriched: DataFrame) -> dict[str, DataFrame]:
    """The day's aggregates: pickups per zone and hour, averages per zone pair, borough flows."""
    duration = (F.unix_timestamp("tpep_dropoff_datetime") - F.unix_timestamp("tpep_pickup_datetime")) / 60.0
    picked = enriched.filter(~F.col("pickup_outside"))
    per_zone_hour = (
        picked.withColumn("pickup_hour", F.date_trunc("hour", "tpep_pickup_datetime"))
        .groupBy("_ingest_date", "pickup_hour", "pickup_zone_id", "pickup_zone", "pickup_borough")
        .agg(F.count(F.lit(1)).alias("trips"), F.sum("passenger_count").cast("long").alias("passengers"),
             F.avg("fare_amount").alias("avg_fare_amount"))
    )
    both = picked.filter(~F.col("dropoff_outside"))
    pairs = (
        both.groupBy("_ingest_date", "pickup_zone_id", "pickup_zone", "dropoff_zone_id", "dropoff_zone")
        .agg(F.count(F.lit(1)).alias("trips"), F.avg("fare_amount").alias("avg_fare_amount"),
             F.avg("trip_distance").alias("avg_trip_distance"),
             F.avg(duration).alias("avg_duration_minutes"))
    )
    flows = both.groupBy("_ingest_date", "pickup_borough", "dropoff_borough").agg(
        F.count(F.lit(1)).alias("trips"), F.avg("fare_amount").alias("avg_fare_amount"))
    day_total = F.sum("trips").over(Window.partitionBy("_ingest_date"))
    flows = flows.withColumn("share", F.col("trips") / day_total)
    return {"gold.trips_per_zone_hour": per_zone_hour, "gold.zone_pair_averages": pairs, "gold.borough_flows": flows}


def day_counts(enriched: DataFrame) -> dict[str, int]:
    """Trips located, and pickups and dropoffs outside every zone."""
    row = enriched.agg(
        F.count(F.lit(1)).alias("trips"),
        F.count(F.when(F.col("pickup_outside"), 1)).alias("pickups_outside"),
        F.count(F.when(F.col("dropoff_outside"), 1)).alias("dropoffs_outside"),
    ).first()
    return {k: int(row[k]) for k in ("trips", "pickups_outside", "dropoffs_outside")}
