"""The image_ingest DAG end to end on the embedded backend: Airflow runs the real tasks, the
Spark job is spark-submitted to local Spark; a picture that cannot be read is quarantined with
its reason, a rerun of the day changes nothing, and a day without pictures is skipped."""

import datetime as dt
import os
from pathlib import Path

import pytest

from lakeside.tables import Lake

pytestmark = pytest.mark.slow

DAY = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
EMPTY_DAY = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def image_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("lakeside-images")
    saved = dict(os.environ)
    os.environ.update({
        "LAKESIDE_HOME": str(home),
        "LAKESIDE_TABLE_BACKEND": "embedded",
        "LAKESIDE_GENERATE_MISSING_LANDING": "true",
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
    })
    yield home
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def dag(airflow_db, image_env):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "image_ingest.py")).dags[
        "image_ingest"]


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_a_day_of_pictures_lands_in_silver_and_quarantine_and_a_rerun_changes_nothing(dag, image_env):
    from lakeside.datasets.car_images import BODY_TYPES
    from lakeside.landing import ensure_image_landing, landing_dir

    landed = ensure_image_landing("car_images", DAY.date(), per_class=3)
    broken = landing_dir("car_images", DAY.date()) / "sedan" / "truncated.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a picture")

    run = dag.test(logical_date=DAY)
    assert run.state == "success", states(run)
    lake = Lake(image_env / "lake", backend="embedded")
    silver = lake.table("silver.car_images").to_pandas()
    quarantine = lake.table("quarantine.car_images").to_pandas()
    assert len(silver) == len(landed) == 3 * len(BODY_TYPES)
    assert sorted(silver["label"].unique()) == sorted(BODY_TYPES)
    assert silver["image_id"].is_unique
    assert len(quarantine) == 1 and "truncated.jpg" in quarantine.iloc[0].to_json()

    versions = {name: lake.table(name).version() for name in ("silver.car_images", "quarantine.car_images")}
    again = dag.test(logical_date=DAY)
    assert again.state == "success", states(again)
    assert len(lake.table("silver.car_images").to_pandas()) == len(silver)
    assert len(lake.table("quarantine.car_images").to_pandas()) == 1
    assert lake.table("silver.car_images").version() == versions["silver.car_images"], "a rerun rewrote silver"


def test_a_day_without_pictures_is_skipped(dag, image_env, monkeypatch):
    monkeypatch.setenv("LAKESIDE_GENERATE_MISSING_LANDING", "false")
    run = dag.test(logical_date=EMPTY_DAY)
    assert states(run) == {"land_car_images": "skipped", "ingest_car_images": "skipped"}
