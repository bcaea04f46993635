"""Geospatial enrichment of taxi trips (../shared/use-cases.md §7): every pickup and dropoff gets
its zone and borough, then gold tables per zone and hour, per zone pair and per borough pair,
and a map. The logic is :mod:`lakeside.geospatial` and :mod:`lakeside.spatial`; the DAG is
``dags/geospatial_enrichment.py``, run on each update of ``silver.taxi_trips``."""

from lakeside.usecases import Demo, Pipeline

PIPELINE = Pipeline(
    name="geospatial",
    description="Zone and borough of every taxi pickup and dropoff; trips per zone and hour, zone-pair and borough flows.",
    dag_id="geospatial_enrichment",
    sources=("taxi_trips",),
    tables=("reference.taxi_zones", "silver.taxi_trips_enriched", "quarantine.taxi_trips_enriched",
            "gold.trips_per_zone_hour", "gold.zone_pair_averages", "gold.borough_flows"),
    files=("gold/maps/*.html",),
    demo=Demo(dates=("2024-01-01",)),
)
