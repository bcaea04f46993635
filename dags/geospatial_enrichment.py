"""
### Geospatial enrichment (taxi trips)

Gives every pickup and dropoff of a day's taxi trips its zone and borough, then the day's gold
tables and a map.

- Runs when `silver.taxi_trips` is updated by `daily_ingest` (the asset event names the day),
  or by hand with the param `day`.
- `refresh_zones`: the zone reference tables `reference.taxi_zones` (NTA polygons, or the
  param `zones_file`: GeoJSON, shapefile or WKT CSV) and `reference.taxi_boroughs`, with their
  H3 cover; a new table version only when the zones changed. Refused geometries land in
  `quarantine.taxi_zones` with their reason.
- `enrich`: the Spark job `jobs/geospatial_enrichment.py`: `silver.taxi_trips_enriched`,
  `quarantine.taxi_trips_enriched` (unusable coordinates, with the reason) and
  `gold.trips_per_zone_hour`, `gold.zone_pair_averages`, `gold.borough_flows`; the day's
  partition is replaced, so a rerun gives the same tables.
- `publish_map`: the pickups-by-zone map (self-contained HTML under `gold/maps/`) and the
  day's figures, logged to MLflow (experiment `geospatial_enrichment`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, gold_asset, silver_asset
from lakeside.usecases.geospatial import PIPELINE

TRIPS = silver_asset("taxi_trips")


@dag(
    schedule=[TRIPS],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "geospatial", "gold"],
    doc_md=__doc__,
    params={
        "day": Param("", type="string", description="Logical date to enrich (YYYY-MM-DD); default: the asset event's."),
        "zones_file": Param("", type="string", description="A zone file to load instead of the packaged NTA polygons."),
        "h3_resolution": Param(9, type="integer", minimum=6, maximum=11, description="Resolution of the zones' H3 cover."),
    },
)
def geospatial_enrichment():
    @task
    def day(params: dict | None = None, **context) -> str:
        from lakeside.airflow import event_logical_date

        chosen = (params or {}).get("day") or event_logical_date(context, TRIPS) or context.get("ds")
        if not chosen:
            raise ValueError("no day to enrich: trigger with the param `day` (YYYY-MM-DD)")
        return str(chosen)[:10]

    @task
    def refresh_zones(params: dict | None = None, run_id: str | None = None) -> dict:
        from lakeside.geospatial import zones
        from lakeside.tables import open_lake

        given = params or {}
        lake = open_lake()
        resolution = int(given.get("h3_resolution") or 9)
        zones_file = given.get("zones_file") or None
        return {level: zones.refresh(lake, level, path=zones_file if level == "nta" else None,
                                     resolution=resolution, run_id=run_id or "manual")
                for level in ("nta", "borough")}

    enrich = SparkJobOperator(
        task_id="enrich",
        job="geospatial_enrichment",
        application_args=["--logical-date", "{{ ti.xcom_pull(task_ids='day') }}", "--run-id", "{{ run_id }}"],
        outlets=[gold_asset(table.name) for table in PIPELINE.gold],
    )

    @task
    def publish_map(chosen: str, run_id: str | None = None) -> dict:
        from lakeside import tracking
        from lakeside.config import settings
        from lakeside.geospatial import report
        from lakeside.tables import open_lake

        uri = settings().mlflow_tracking_uri or tracking.ensure_server()
        return report.publish(open_lake(), chosen, run_id or "manual", uri)

    chosen = day()
    [chosen, refresh_zones()] >> enrich >> publish_map(chosen)


geospatial_enrichment()
