"""The geospatial enrichment job: every usable trip located exactly, bad coordinates quarantined,
gold tables that add up, and a rerun of the day that changes nothing."""

import datetime as dt
import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from lakeside import gold
from lakeside.datasets import taxi_trips
from lakeside.geospatial import ENRICHED_QUARANTINE, ENRICHED_TABLE, GOLD_TABLES, TRIPS_TABLE, ZONES_TABLE
from lakeside.geospatial import zones as geo_zones
from lakeside.spatial.index import OUTSIDE, locate_brute_force
from lakeside.tables import open_lake
from lakeside.usecases.geospatial import PIPELINE

JOB = Path(__file__).resolve().parents[2] / "jobs" / "geospatial_enrichment.py"
DAY = dt.date(2015, 1, 15)
TRIPS = 3_000


def load_job():
    spec = importlib.util.spec_from_file_location("geospatial_enrichment_job", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def day_trips(zone_rows: pd.DataFrame) -> pd.DataFrame:
    """Generated trips, some pickups on zone vertices and 1e-9° off them, and bad coordinates."""
    trips = taxi_trips.generate(TRIPS, seed=11, day=DAY.isoformat())
    vertices = shapely.get_coordinates(shapely.from_wkb(np.asarray(list(zone_rows["geometry"]), dtype=object)))
    rng = np.random.default_rng(3)
    picked = vertices[rng.integers(0, len(vertices), 300)] + rng.choice([0.0, 1e-9, -1e-9], size=(300, 2))
    trips.loc[:299, ["pickup_longitude", "pickup_latitude"]] = picked
    trips.loc[300, ["pickup_longitude", "pickup_latitude"]] = [np.nan, 40.75]
    trips.loc[301, ["dropoff_longitude", "dropoff_latitude"]] = [-73.98, 95.0]
    return trips.assign(_ingest_date=DAY, _source_file="test.csv", _row=np.arange(len(trips), dtype=np.int64))


@pytest.fixture(scope="module")
def home(tmp_path_factory, spark):
    home = tmp_path_factory.mktemp("geo") / "lakeside"
    previous = os.environ.get("LAKESIDE_HOME")
    os.environ["LAKESIDE_HOME"] = str(home)
    lake = open_lake(spark)
    refreshed = geo_zones.refresh(lake, "nta", resolution=8)
    assert refreshed["changed"] and refreshed["zones"] == 262
    zone_rows = geo_zones.read(lake)
    lake.table(TRIPS_TABLE).overwrite(day_trips(zone_rows), partition_by=["_ingest_date"])
    load_job().main(["--logical-date", DAY.isoformat(), "--run-id", "first"])
    yield home, lake, zone_rows
    if previous is None:
        os.environ.pop("LAKESIDE_HOME", None)
    else:
        os.environ["LAKESIDE_HOME"] = previous


def test_every_trip_is_enriched_or_quarantined_with_its_reason(home):
    _, lake, _ = home
    enriched = lake.table(ENRICHED_TABLE).to_pandas()
    quarantine = lake.table(ENRICHED_QUARANTINE).to_pandas()
    assert len(enriched) + len(quarantine) == TRIPS
    assert not set(enriched["trip_id"]) & set(quarantine["trip_id"])
    reasons = quarantine["_reason"]
    assert reasons.str.contains(r"\(0, 0\), no GPS fix").sum() >= 0.01 * TRIPS
    assert reasons.str.contains("`pickup_longitude`, `pickup_latitude`: missing or NaN").sum() == 1
    assert reasons.str.contains(r"`dropoff_longitude`, `dropoff_latitude`: \(-73.98, 95.0\) out of range").sum() == 1


def test_zones_equal_brute_force_point_in_polygon(home):
    _, lake, zone_rows = home
    enriched = lake.table(ENRICHED_TABLE).to_pandas()
    geometries = shapely.from_wkb(np.asarray(list(zone_rows["geometry"]), dtype=object))
    for end in ("pickup", "dropoff"):
        expected = locate_brute_force(geometries, enriched[f"{end}_longitude"].to_numpy(),
                                      enriched[f"{end}_latitude"].to_numpy())
        outside = expected == OUTSIDE
        assert enriched[f"{end}_outside"].tolist() == outside.tolist()
        ids = zone_rows["zone_id"].to_numpy()[np.where(outside, 0, expected)]
        assert enriched[f"{end}_zone_id"].where(~outside, "-").tolist() == np.where(outside, "-", ids).tolist()
        boroughs = zone_rows["borough"].to_numpy()[np.where(outside, 0, expected)]
        assert enriched.loc[~outside, f"{end}_borough"].tolist() == boroughs[~outside].tolist()
        assert enriched.loc[outside, f"{end}_zone"].isna().all()
    assert 0.9 < (~enriched["pickup_outside"]).mean() < 1.0  # GPS drift into the water stays outside


def test_gold_tables_add_up(home):
    _, lake, _ = home
    enriched = lake.table(ENRICHED_TABLE).to_pandas()
    assert {name: gold.problems(lake, table) for name, table in zip(GOLD_TABLES, PIPELINE.gold)} == \
        {name: [] for name in GOLD_TABLES}  # the columns the dashboards were built on
    per_hour, pairs, flows = (lake.table(name).to_pandas() for name in GOLD_TABLES)
    picked = enriched[~enriched["pickup_outside"]]
    assert per_hour["trips"].sum() == len(picked)
    per_zone = picked.groupby("pickup_zone_id").size()
    assert per_hour.groupby("pickup_zone_id")["trips"].sum().sort_index().equals(per_zone.sort_index())
    both = picked[~picked["dropoff_outside"]]
    assert pairs["trips"].sum() == flows["trips"].sum() == len(both)
    assert abs(flows["share"].sum() - 1) < 1e-9
    manhattan = flows.set_index(["pickup_borough", "dropoff_borough"]).loc[("Manhattan", "Manhattan"), "share"]
    assert manhattan > 0.5
    one_pair = pairs.sort_values("trips").iloc[-1]
    rows = both[(both["pickup_zone_id"] == one_pair["pickup_zone_id"]) & (both["dropoff_zone_id"] == one_pair["dropoff_zone_id"])]
    assert abs(one_pair["avg_fare_amount"] - rows["fare_amount"].mean()) < 1e-9
    minutes = (rows["tpep_dropoff_datetime"] - rows["tpep_pickup_datetime"]).dt.total_seconds() / 60
    assert abs(one_pair["avg_duration_minutes"] - minutes.mean()) < 1e-9


def test_a_rerun_of_the_day_gives_the_same_tables(home):
    _, lake, _ = home
    names = (ENRICHED_TABLE, ENRICHED_QUARANTINE, *GOLD_TABLES)
    before = {name: _sorted(lake.table(name).to_pandas()) for name in names}
    load_job().main(["--logical-date", DAY.isoformat(), "--run-id", "second"])
    for name in names:
        after = _sorted(lake.table(name).to_pandas())
        pd.testing.assert_frame_equal(after.drop(columns=["_run_id"], errors="ignore"),
                                      before[name].drop(columns=["_run_id"], errors="ignore"), obj=name)


def test_zones_refresh_writes_a_version_only_for_new_content(home, tmp_path):
    _, lake, _ = home
    version = lake.table(ZONES_TABLE).version()
    again = geo_zones.refresh(lake, "nta", resolution=8)
    assert not again["changed"] and again["version"] == version
    path = tmp_path / "zones.csv"
    path.write_text(
        "zone,borough,LocationID,geometry_wkt\n"
        'Bowtie,Brooklyn,1,"POLYGON ((-73.99 40.70, -73.98 40.71, -73.98 40.70, -73.99 40.71, -73.99 40.70))"\n'
        'Line,Queens,2,"LINESTRING (-73.9 40.7, -73.8 40.8)"\n'
    )
    changed = geo_zones.refresh(lake, "nta", path=str(path), resolution=8)
    assert changed["changed"] and changed["version"] == version + 1
    assert (changed["zones"], changed["refused"], changed["repaired"]) == (1, 1, 1)
    refused = lake.table("quarantine.taxi_zones").to_pandas()
    assert refused[["zone", "_reason"]].values.tolist() == [["Line", "geometry: a LineString, not a polygon"]]
    assert len(geo_zones.read(lake, version=version)) == 262
    assert geo_zones.refresh(lake, "nta", resolution=8)["version"] == version + 2  # the packaged zones again


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("trip_id", "pickup_hour", "pickup_zone_id", "dropoff_zone_id", "pickup_borough",
                        "dropoff_borough") if c in frame.columns]
    return frame.sort_values(keys, na_position="first").reset_index(drop=True)


def chromium() -> str:
    """Debian's chromium: found on PATH, else installed with apt-get (as root), else the test skips."""
    import shutil
    import subprocess

    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("no chromium on PATH and not root to apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"apt-get install chromium failed: {done.stderr[-500:]}")
    return shutil.which("chromium")


def test_the_pickup_map_renders_offline_in_chromium_and_is_logged(home, mlflow_server, tmp_path):
    import re
    import subprocess

    import mlflow
    from matplotlib.image import imread

    from lakeside.geospatial import report
    from lakeside.spatial.choropleth import PALETTE

    _, lake, _ = home
    published = report.publish(lake, DAY, "test-run", mlflow_server)
    page = Path(published["map"]).read_text()
    assert not re.search(r"""(src|href)\s*=|<script|@import|url\(""", page), "the map must need no network"
    assert "Midtown" in page and f"{DAY.isoformat()}" in page

    shot = tmp_path / "map.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=960,1000", f"--screenshot={shot}", f"file://{published['map']}"],
                   check=True, capture_output=True, timeout=120)
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    colours = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE}
    counts = {c: int((pixels == c).all(axis=2).sum()) for c in colours}
    assert sum(n > 200 for n in counts.values()) >= 5, counts  # zones painted in most classes

    client = mlflow.MlflowClient(mlflow_server)
    run = client.get_run(published["run_id"])
    assert run.data.metrics["trips_enriched"] == len(lake.table(ENRICHED_TABLE).to_pandas())
    assert run.data.metrics["trips_quarantined"] > 0 and run.data.params["logical_date"] == DAY.isoformat()
    assert [a.path for a in client.list_artifacts(run.info.run_id, "maps")] == \
        [f"maps/pickups_by_zone_{DAY.isoformat()}.html"]
