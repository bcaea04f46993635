"""Tumour or normal tissue in a slide patch, and probability heat maps of whole slides
(../shared/use-cases.md §6): frozen EfficientNet-Lite0 features and a linear head.

Tables: slides + annotated points -> ``jobs/slide_patches.py`` -> ``silver.pathology_patches``
(224-px PNG patches around the points) -> ``jobs/image_features.py`` ->
``gold.pathology_patches_features`` -> the model ``pathology_patch`` (:mod:`lakeside.vision.train`;
holdout and validation split by slide, so no slide is on both sides; gate
``gates/pathology_patch.json``: ROC AUC, accuracy at least 0.87) -> ``jobs/slide_heatmap.py`` ->
``gold.slide_heatmap``. DAG ``pathology_patch`` (``dags/vision.py``). This module stays light.
"""

from lakeside.usecases import Split, UseCase

SOURCE = "pathology_patches"
FEATURES_TABLE = f"gold.{SOURCE}_features"

USE_CASE = UseCase(
    name="pathology",
    description="Tumour vs normal slide patches (EfficientNet-Lite0 features + a linear head), slide heat maps.",
    task="binary",
    model_name="pathology_patch",
    table=FEATURES_TABLE,
    key=("patch_id",),
    target="label",
    positive_label="tumor",
    sources=(SOURCE,),
    split=Split("hash", holdout_fraction=0.3),
    trainer="lakeside.vision.train:train",
    evaluator="lakeside.vision.train:evaluate",
    metric="roc_auc",
    gate="pathology_patch",
    service="image",
    schedule="0 5 * * 2",
    dag_id="pathology_patch",
    custom_dag=True,
    params={"images_table": f"silver.{SOURCE}", "group": "slide_id", "patch_size": 224, "max_epochs": 300,
            "patience": 30, "weight_decay": 0.1, "seed": 0},
)
