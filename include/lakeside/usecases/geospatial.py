"""Geospatial enrichment of taxi trips (../shared/use-cases.md §7): every pickup and dropoff gets
its zone and borough, then gold tables per zone and hour, per zone pair and per borough pair,
and a map. The logic is :mod:`lakeside.geospatial` and :mod:`lakeside.spatial`; the DAG is
``dags/geospatial_enrichment.py``, run on each update of ``silver.taxi_trips``."""

from lakeside.geospatial import GOLD_TABLES
from lakeside.usecases import Demo, GoldTable, Pipeline

PER_ZONE_HOUR_NAME, ZONE_PAIRS_NAME, FLOWS_NAME = GOLD_TABLES

ZONE = (("zone_id", "string"), ("zone", "string"))
TRIPS_PER_ZONE_HOUR = GoldTable(
    name=PER_ZONE_HOUR_NAME,
    description="Per ingest day, pickup hour and pickup zone: trips, passengers and mean fare.",
    columns=(("_ingest_date", "date"), ("pickup_hour", "timestamp"), *((f"pickup_{c}", t) for c, t in ZONE),
             ("pickup_borough", "string"), ("trips", "long"), ("passengers", "long"), ("avg_fare_amount", "double")),
    after="job",
)
ZONE_PAIR_AVERAGES = GoldTable(
    name=ZONE_PAIRS_NAME,
    description="Per ingest day and pickup -> dropoff zone pair: trips, mean fare, distance and duration.",
    columns=(("_ingest_date", "date"), *((f"pickup_{c}", t) for c, t in ZONE), *((f"dropoff_{c}", t) for c, t in ZONE),
             ("trips", "long"), ("avg_fare_amount", "double"), ("avg_trip_distance", "double"),
             ("avg_duration_minutes", "double")),
    after="job",
)
BOROUGH_FLOWS = GoldTable(
    name=FLOWS_NAME,
    description="Per ingest day and pickup -> dropoff borough: trips, mean fare and share of the day's trips.",
    columns=(("_ingest_date", "date"), ("pickup_borough", "string"), ("dropoff_borough", "string"), ("trips", "long"),
             ("avg_fare_amount", "double"), ("share", "double")),
    after="job",
)

PIPELINE = Pipeline(
    name="geospatial",
    description="Zone and borough of every taxi pickup and dropoff; trips per zone and hour, zone-pair and borough flows.",
    dag_id="geospatial_enrichment",
    sources=("taxi_trips",),
    tables=("reference.taxi_zones", "silver.taxi_trips_enriched", "quarantine.taxi_trips_enriched", *GOLD_TABLES),
    files=("gold/maps/*.html",),
    demo=Demo(dates=("2024-01-01",)),
    gold=(TRIPS_PER_ZONE_HOUR, ZONE_PAIR_AVERAGES, BOROUGH_FLOWS),
)
