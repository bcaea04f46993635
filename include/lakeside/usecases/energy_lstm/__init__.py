"""Energy forecasting: a house's appliance energy a day ahead from the last six days of its
28 readings, by an LSTM in torch on CPU, against naive, seasonal-naive and LightGBM
baselines on the same test windows (../shared/use-cases.md §4).

Tables: ``silver.appliances_energy`` (ingested daily) -> the Spark job ``jobs/energy_windows.py``
-> ``gold.energy_features`` (scaled rows, time order) and ``gold.energy_windows`` (one row per
sample: anchor, first row, target time and value, split) -> the model ``energy_lstm``.
DAG: ``energy_lstm`` (weekly, Monday 04:00 UTC, and when the silver table changes):
``windows >> pin >> [train, baselines] >> register >> gate >> deploy``.

Modules: :mod:`.windows` (Spark transforms), :mod:`.data` (reading windows back),
:mod:`.train` (trainer and gate evaluator), :mod:`.baselines`, :mod:`.model` (the served
pyfunc: raw rows in, forecasts out), :mod:`.plots`; the network is
:mod:`lakeside.forecast.lstm`.

Settings (``params``, overridable in the DAG's trigger form): ``config`` (``cpu`` or ``seed``,
see :data:`lakeside.forecast.lstm.CONFIGS`), ``lookback_steps``, ``sample_every``, ``targets``
(steps ahead: ``[144]`` a day, or a list), ``max_epochs``, ``patience``, ``units``, ``batch_size``,
``seed``, ``threads`` (torch's threads while fitting); None keeps the configuration's value.

This module stays light (DAG files read it).
"""

from lakeside.usecases import UseCase

SOURCE = "appliances_energy"
WINDOWS_TABLE = "gold.energy_windows"
FEATURES_TABLE = "gold.energy_features"

USE_CASE = UseCase(
    name="energy_lstm",
    description="A house's appliance energy a day ahead (LSTM on 10-minute readings), against naive baselines.",
    task="forecasting",
    model_name="energy_lstm",
    table=WINDOWS_TABLE,
    key=("anchor",),
    sources=(SOURCE,),
    trainer="lakeside.usecases.energy_lstm.train:train",
    evaluator="lakeside.usecases.energy_lstm.train:evaluate",
    metric="mae",
    service="pyfunc",
    schedule="0 4 * * 1",
    dag_id="energy_lstm",
    custom_dag=True,
    params={
        "config": "cpu",
        "lookback_steps": 864,
        "sample_every": None,
        "targets": [144],
        "max_epochs": None,
        "patience": None,
        "units": None,
        "batch_size": None,
        "seed": 0,
        "threads": None,
    },
)
