"""
### Energy LSTM

A house's appliance energy a day ahead from six days of 10-minute readings
(`include/lakeside/usecases/energy_lstm/`; model `energy_lstm`).

- Runs weekly (Monday 04:00 UTC) and whenever `silver.appliances_energy` is updated.
- `windows` (Spark job `jobs/energy_windows.py`): time split 70/15/15 with a gap of lookback +
  horizon rows between parts, scaler fitted on the training rows, `gold.energy_features`
  (scaled rows) and `gold.energy_windows` (windows as indexes; skipped ones counted).
- `pin`: pins the windows version and opens the parent MLflow run (experiment `energy_lstm`).
- `train` (torch LSTM, child run `lstm`) and `baselines` (`naive`, `seasonal_naive`, `lightgbm`)
  on the same test windows.
- `register` (`challenger`) >> `gate` (`include/lakeside/gates/energy_lstm.json`: MAE 1% better than
  the champion's and below seasonal naive) >> `deploy` after a promotion
  (as `python -m lakeside.serving.deploy --model energy_lstm`).
- Params: `config` (`cpu` or `seed`), `lookback_steps`, `sample_every`, `targets` (steps ahead),
  `max_epochs`, `patience`, `seed`, `threads`; empty keeps the configuration's value.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, retrain_schedule
from lakeside.usecases import get

ENERGY = get("energy_lstm")
OPTIONAL_INTEGER = ["null", "integer"]


@dag(
    dag_id=ENERGY.dag_id,
    schedule=retrain_schedule(ENERGY),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "retrain", ENERGY.name, ENERGY.task, "torch"],
    doc_md=__doc__,
    params={
        "config": Param("cpu", enum=["cpu", "seed"], description="cpu: every 6th step, patience 5 on val loss; "
                                                                  "seed: every step, patience 50 on train loss."),
        "lookback_steps": Param(864, type="integer", minimum=1, description="10-minute steps a window spans."),
        "sample_every": Param(None, type=OPTIONAL_INTEGER, minimum=1, description="Read every n-th step."),
        "targets": Param([144], type="array", items={"type": "integer", "minimum": 1}, minItems=1,
                         description="Steps ahead to forecast (144: a day)."),
        "max_epochs": Param(None, type=OPTIONAL_INTEGER, minimum=1),
        "patience": Param(None, type=OPTIONAL_INTEGER, minimum=1),
        "seed": Param(0, type="integer"),
        "threads": Param(None, type=OPTIONAL_INTEGER, minimum=1,
                         description="Torch threads while fitting (empty: one per core; 1 on a busy shared machine)."),
    },
)
def energy_lstm():
    windows = SparkJobOperator(
        task_id="windows",
        job="energy_windows",
        application_args=["--lookback", "{{ params.lookback_steps }}", "--horizon", "{{ params.targets | max }}",
                          "--run-id", "{{ run_id }}"],
    )

    @task
    def pin() -> dict:
        from lakeside.usecases.energy_lstm.pipeline import pin as pin_windows

        return pin_windows()

    @task(retries=1)
    def train(pinned: dict, params: dict | None = None) -> dict:
        from lakeside.usecases.energy_lstm.pipeline import fit

        return fit(pinned, params)

    @task(retries=1)
    def baselines(pinned: dict, params: dict | None = None) -> dict:
        from lakeside.usecases.energy_lstm.pipeline import baselines as fit_baselines

        return fit_baselines(pinned, params)

    @task
    def register(found: dict, pinned: dict) -> str:
        from lakeside.retrain import register as register_model

        return register_model("energy_lstm", found, pinned["pinned"])

    @task
    def gate(version: str, pinned: dict) -> dict:
        from lakeside.retrain import decide

        return decide("energy_lstm", version, pinned["pinned"])

    @task.short_circuit
    def promoted(decision: dict) -> bool:
        return bool(decision["promoted"])

    @task
    def deploy() -> dict:
        from lakeside.retrain import deploy_champion

        return deploy_champion("energy_lstm")

    pinned = pin()
    windows >> pinned
    found = train(pinned)
    version = register(found, pinned)
    baselines(pinned) >> version
    promoted(gate(version, pinned)) >> deploy()


energy_lstm()
