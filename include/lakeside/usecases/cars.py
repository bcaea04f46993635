"""Car body type from a picture (../shared/use-cases.md §6): frozen EfficientNet-Lite0 features
and a linear head, served as an image endpoint (``{"label": "suv", "prob": 0.97}``).

Tables: image files in class folders -> ``silver.car_images`` (:mod:`lakeside.vision.store`,
binary with sha256 keys) -> ``jobs/image_features.py`` -> ``gold.car_images_features`` -> the
model ``car_classifier`` (:mod:`lakeside.vision.train`; holdout stratified by label; gate
``gates/car_classifier.json``: macro F1, accuracy at least 0.90, scored through the served pyfunc).
DAG ``car_classifier`` (``dags/vision.py``). This module stays light (DAG files read it).
"""

from lakeside.usecases import Split, UseCase

SOURCE = "car_images"
FEATURES_TABLE = f"gold.{SOURCE}_features"

USE_CASE = UseCase(
    name="cars",
    description="Car body type (6 classes) from a picture: EfficientNet-Lite0 features + a linear head.",
    task="multiclass",
    model_name="car_classifier",
    table=FEATURES_TABLE,
    key=("image_id",),
    target="label",
    sources=(SOURCE,),
    split=Split("stratified", holdout_fraction=0.2),
    trainer="lakeside.vision.train:train",
    evaluator="lakeside.vision.train:evaluate",
    metric="f1",
    gate="car_classifier",
    service="image",
    schedule="0 5 * * 1",
    dag_id="car_classifier",
    custom_dag=True,
    params={"images_table": f"silver.{SOURCE}", "group": None, "patch_size": None, "max_epochs": 300,
            "patience": 30, "weight_decay": 0.1, "seed": 0},
)
