"""The two vision DAGs' wiring: weekly or on their silver asset, [patches >>] features >> snapshot
>> train >> register >> gate >> deploy, then the heat map; the issue's params."""

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "vision.py"))
    assert bag.import_errors == {}
    return bag


def test_car_classifier_runs_weekly_or_on_new_images_features_first(bag):
    dag = bag.dags["car_classifier"]
    assert "silver.car_images" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable.expression == "0 5 * * 1"
    assert dag.get_task("features").job == "image_features"
    assert dag.get_task("features").application_args[:6] == ["--source", "car_images", "--key", "image_id",
                                                              "--carry", "label"]
    assert dag.get_task("snapshot").upstream_task_ids == {"features"}
    assert dag.get_task("train").upstream_task_ids == {"snapshot"}
    assert dag.get_task("gate").upstream_task_ids == {"register", "snapshot"}
    assert dag.get_task("deploy").upstream_task_ids == {"promoted"}
    assert "patches" not in dag.task_ids and "heatmap" not in dag.task_ids


def test_pathology_cuts_patches_first_and_paints_heat_maps_last(bag):
    dag = bag.dags["pathology_patch"]
    assert "silver.pathology_patches" in str(dag.timetable.asset_condition)
    assert dag.get_task("patches").job == "slide_patches"
    assert dag.get_task("features").upstream_task_ids == {"patches"}
    assert "slide_id" in dag.get_task("features").application_args
    heatmap = dag.get_task("heatmap")
    assert heatmap.job == "slide_heatmap" and heatmap.upstream_task_ids == {"deploy"}
    assert heatmap.trigger_rule == "none_failed"
    assert {k: dag.params[k] for k in dag.params.keys()} == {"patch_size": 224, "stride": 224, "max_epochs": 300,
                                                              "seed": 0}
