"""Geospatial enrichment of taxi trips: every pickup and dropoff gets its zone and borough.

- :mod:`.zones`: the zone reference tables (``reference.taxi_zones``, NTA polygons by default;
  ``reference.taxi_boroughs``), written only when their content changes;
- :mod:`.enrich`: the Spark transforms of the ``geospatial_enrichment`` job (coordinates checked,
  points located through the H3 index of :mod:`lakeside.spatial.index`, gold aggregates);
- :mod:`.report`: the day's figures and pickup choropleth, logged to MLflow.
"""

ZONES_TABLE = "reference.taxi_zones"
BOROUGHS_TABLE = "reference.taxi_boroughs"
ZONES_QUARANTINE = "quarantine.taxi_zones"
TRIPS_TABLE = "silver.taxi_trips"
ENRICHED_TABLE = "silver.taxi_trips_enriched"
ENRICHED_QUARANTINE = "quarantine.taxi_trips_enriched"
GOLD_TABLES = ("gold.trips_per_zone_hour", "gold.zone_pair_averages", "gold.borough_flows")
DEFAULT_H3_RESOLUTION = 9
EXPERIMENT = "geospatial_enrichment"
