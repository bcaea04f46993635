"""
### Vision: car body types and pathology heat maps

Two DAGs on frozen EfficientNet-Lite0 features and a linear head (`include/lakeside/vision/`,
declarations `usecases/cars.py` and `usecases/pathology.py`).

**`car_classifier`** (model `car_classifier`): weekly (Monday 05:00 UTC) and whenever
`silver.car_images` changes.
`features` (Spark job `jobs/image_features.py`: `silver.car_images` -> `gold.car_images_features`)
>> `snapshot` >> `train` (head on the features; holdout stratified by body type) >> `register`
(`challenger`) >> `gate` (`gates/car_classifier.json`: macro F1, accuracy >= 0.90, scored through
the served model) >> `deploy` after a promotion (`python -m lakeside.serving.deploy --model
car_classifier`; an image endpoint taking base64 JSON or raw JPEG/PNG).

**`pathology_patch`** (model `pathology_patch`): weekly (Tuesday 05:00 UTC) and whenever
`silver.pathology_patches` changes.
`patches` (`jobs/slide_patches.py`: the day's slides and `points.csv` under
`$LAKESIDE_HOME/landing/pathology_slides/<ds>/` -> `silver.pathology_patches`) >> `features`
>> `snapshot` >> `train` (split by slide) >> `register` >> `gate` (`gates/pathology_patch.json`:
ROC AUC, accuracy >= 0.87) >> `deploy`, then `heatmap` (`jobs/slide_heatmap.py`: the day's
slides scored by the champion -> `gold.slide_heatmap` and overlay PNGs).

Images land through `jobs/image_ingest.py` (class folders -> `silver.car_images`, bad files to
`quarantine.car_images` with the reason).

Params: `patch_size` (224), `stride` (heat map tiles, of the held-out slides in the training run
and of the heat map job; 224), `max_epochs`, `seed`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, retrain_schedule
from lakeside.usecases import get

PARAMS = {
    "patch_size": Param(224, type="integer", minimum=16, description="Patch side in slide pixels (resized to 224)."),
    "stride": Param(224, type="integer", minimum=8, description="Heat map tile step in slide pixels."),
    "max_epochs": Param(300, type="integer", minimum=1, description="Epochs at most (early stopping on val loss)."),
    "seed": Param(0, type="integer"),
}


def vision_dag(name: str, patches: bool):
    use_case = get(name)
    source = use_case.sources[0]

    @dag(dag_id=use_case.dag_id, schedule=retrain_schedule(use_case), start_date=datetime(2024, 1, 1),
         catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS,
         tags=["lakeside", "retrain", "vision", use_case.name, use_case.task], doc_md=__doc__, params=PARAMS)
    def vision():
        features = SparkJobOperator(
            task_id="features", job="image_features",
            application_args=["--source", source, "--key", use_case.key[0], "--carry", "label",
                              *(["slide_id"] if patches else []), "--run-id", "{{ run_id }}"],
        )

        @task
        def snapshot() -> dict:
            from lakeside.retrain import take_snapshot

            return take_snapshot(name)

        @task(retries=1)
        def train(pinned: dict, params: dict | None = None) -> dict:
            from lakeside.retrain import train as fit

            chosen = {k: params[k] for k in ("max_epochs", "seed", "patch_size", "stride") if params and k in params}
            return fit(name, pinned, chosen)

        @task
        def register(found: dict, pinned: dict) -> str:
            from lakeside.retrain import register as register_model

            return register_model(name, found, pinned)

        @task
        def gate(version: str, pinned: dict) -> dict:
            from lakeside.retrain import decide

            return decide(name, version, pinned)

        @task.short_circuit(ignore_downstream_trigger_rules=False)  # the heat map runs with the current champion
        def promoted(decision: dict) -> bool:
            return bool(decision["promoted"])

        @task
        def deploy() -> dict:
            from lakeside.retrain import deploy_champion

            return deploy_champion(name)

        pinned = snapshot()
        features >> pinned
        found = train(pinned)
        deployed = deploy()
        promoted(gate(register(found, pinned), pinned)) >> deployed
        if patches:
            # The jobs find the day's slides under $LAKESIDE_HOME/landing/pathology_slides/<date>/.
            cut = SparkJobOperator(
                task_id="patches", job="slide_patches",
                application_args=["--date", "{{ ds }}", "--patch-size", "{{ params.patch_size }}"],
            )
            heatmap = SparkJobOperator(
                task_id="heatmap", job="slide_heatmap", trigger_rule="none_failed",
                application_args=["--date", "{{ ds }}", "--model", use_case.model_name,
                                  "--patch-size", "{{ params.patch_size }}", "--stride", "{{ params.stride }}"],
            )
            cut >> features
            deployed >> heatmap

    return vision()


car_classifier = vision_dag("cars", patches=False)
pathology_patch = vision_dag("pathology", patches=True)
