"""The day's figures and its map of pickups by zone, written next to the gold tables and logged
to MLflow (experiment ``geospatial_enrichment``, one run per logical date and run id)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from lakeside.geospatial import ENRICHED_QUARANTINE, ENRICHED_TABLE, EXPERIMENT, ZONES_TABLE
from lakeside.landing import as_date
from lakeside.spatial.choropleth import choropleth_html
from lakeside.tables import Lake


def day_rows(lake: Lake, table: str, day: dt.date) -> pd.DataFrame:
    """One logical date's rows of a table partitioned by ``_ingest_date`` (read without Spark)."""
    import pyarrow.compute as pc

    arrow = lake.table(table).to_arrow()
    return arrow.filter(pc.equal(arrow["_ingest_date"], pa_date(day))).to_pandas()


def pa_date(day: dt.date):
    import pyarrow as pa

    return pa.scalar(day, type=pa.date32())


def figures(lake: Lake, day: dt.date) -> dict[str, float]:
    """Trips located, quarantined, outside every zone, and the busiest pickup zone's share."""
    enriched = day_rows(lake, ENRICHED_TABLE, day)
    quarantined = len(day_rows(lake, ENRICHED_QUARANTINE, day))
    trips = len(enriched)
    pickups = enriched.loc[~enriched["pickup_outside"], "pickup_zone_id"]
    busiest = pickups.value_counts(normalize=True)
    return {
        "trips_enriched": trips,
        "trips_quarantined": quarantined,
        "quarantined_share": quarantined / (trips + quarantined) if trips + quarantined else 0.0,
        "pickups_outside_share": float(enriched["pickup_outside"].mean()) if trips else 0.0,
        "dropoffs_outside_share": float(enriched["dropoff_outside"].mean()) if trips else 0.0,
        "zones_with_pickups": int(pickups.nunique()),
        "busiest_zone_pickup_share": float(busiest.iloc[0]) if len(busiest) else 0.0,
    }


def zones_version_of(lake: Lake, day: dt.date) -> int | None:
    """The zones table version the day was enriched with (the job's commit metadata)."""
    for commit in lake.table(ENRICHED_TABLE).history():
        if commit.metadata.get("logical_date") == day.isoformat() and "zones_version" in commit.metadata:
            return int(commit.metadata["zones_version"])
    return None


def pickup_map(lake: Lake, day: dt.date, target: Path) -> Path:
    """The choropleth of the day's pickups per zone (``gold.trips_per_zone_hour``), drawn with
    the zones the day was enriched with."""
    zones = lake.table(ZONES_TABLE).to_pandas(zones_version_of(lake, day)).sort_values("zone_id", ignore_index=True)
    per_hour = day_rows(lake, "gold.trips_per_zone_hour", day)
    pickups = per_hour.groupby("pickup_zone_id")["trips"].sum()
    values = zones["zone_id"].map(pickups).to_numpy(dtype=np.float64)
    labels = zones["zone"] + " (" + zones["borough"] + ")"
    page = choropleth_html(shapely.from_wkb(np.asarray(list(zones["geometry"]), dtype=object)), values, labels,
                           title=f"Taxi pickups by zone, {day.isoformat()}", value_name="pickups",
                           subtitle=f"{int(np.nansum(values)):,} pickups in {int(np.isfinite(values).sum())} zones")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    return target


def publish(lake: Lake, day: dt.date | str, run_id: str, tracking_uri: str) -> dict:
    """Write the map under ``<lake>/gold/maps/`` and log it with the day's figures to MLflow."""
    import mlflow

    day = as_date(day)
    path = pickup_map(lake, day, Path(lake.root) / "gold" / "maps" / f"pickups_by_zone_{day.isoformat()}.html")
    numbers = figures(lake, day)
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment_id, run_name=f"enrichment-{day.isoformat()}",
                            tags={"lakeside.logical_date": day.isoformat(), "lakeside.airflow_run_id": run_id})
    client.log_param(run.info.run_id, "zones_version", zones_version_of(lake, day))
    client.log_param(run.info.run_id, "enriched_version", lake.table(ENRICHED_TABLE).version())
    client.log_param(run.info.run_id, "logical_date", day.isoformat())
    for name, value in numbers.items():
        client.log_metric(run.info.run_id, name, float(value))
    client.log_artifact(run.info.run_id, str(path), "maps")
    client.set_terminated(run.info.run_id)
    return {"run_id": run.info.run_id, "map": str(path), **numbers}
