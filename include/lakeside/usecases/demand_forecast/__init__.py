"""Fine-grained demand forecasting: one model per (store, item), trained in parallel on Spark,
backtested, served as one model family (../shared/use-cases.md §3).

Weekly (Mondays 06:00 UTC, after the night's ingest) the DAG ``demand_forecast`` pins a snapshot
of ``silver.store_item`` and the trainer (:mod:`.train`) fits every series with
``groupBy('store', 'item').applyInPandas`` (:mod:`.forecast`): Prophet as §3 sets it, or
statsforecast's AutoETS (:mod:`.engines`). The last 90 days are the backtest's holdout; the
chosen engine and the engines it is compared with are scored on it per series into
``gold.demand_backtest``; the chosen engine's forecasts (history and horizon, with intervals)
go to ``gold.demand_forecasts``. The fitted models become one MLflow pyfunc (:mod:`.model`),
registered as ``demand_forecast``, gated on backtest sMAPE and coverage
(``gates/demand_forecast.json``) and served: store, item and horizon in, forecast rows out.

``make demo`` backfills two years of two stores x five items (DAG ``backfill``, the generator's
subset) and runs the DAG on them: ten series, the tables and the served family at the end.

Settings (``params``, overridable in the DAG's trigger form):

- ``horizon``: days forecast after the data's last day (the served family's limit too);
- ``engine``: ``prophet`` or ``auto_ets``; ``compare_engines``: backtested beside it in the same run;
- ``stores``: a subset of stores (None: all);
- ``holdout_days``: the backtest's held-out days (the snapshot's time split);
- ``min_history_days``, ``max_missing_days``: a series shorter, or with more days missing, is
  skipped with its reason;
- ``plot_series``: how many series get a backtest plot;
- ``partitions``: Spark partitions the series are spread over (None: the session's default).
"""

from lakeside.usecases import Backfill, Demo, GoldTable, Split, UseCase

HOLDOUT_DAYS = 90

FORECASTS = GoldTable(
    name="gold.demand_forecasts",
    description="Per training date, store and item: the chosen engine's fitted history and forecast with 95% intervals.",
    columns=(("ds", "date"), ("store", "integer"), ("item", "integer"), ("y", "double"), ("yhat", "double"),
             ("yhat_upper", "double"), ("yhat_lower", "double"), ("training_date", "date"), ("engine", "string"),
             ("run_id", "string")),
    after="job",
)
BACKTEST = GoldTable(
    name="gold.demand_backtest",
    description="Per training date, engine, store and item: the backtest's sMAPE, MAE and interval coverage, or why a series was skipped.",
    columns=(("training_date", "date"), ("cutoff", "date"), ("engine", "string"), ("store", "integer"),
             ("item", "integer"), ("status", "string"), ("reason", "string"), ("smape", "double"), ("mae", "double"),
             ("coverage", "double"), ("holdout_days", "integer"), ("train_rows", "integer"),
             ("fit_seconds", "double"), ("run_id", "string")),
    after="job",
)

USE_CASE = UseCase(
    name="demand_forecast",
    description="Daily unit sales of every store x item, 90 days ahead with 95% intervals (one model per series).",
    task="forecasting",
    model_name="demand_forecast",
    table="silver.store_item",
    key=("date", "store", "item"),
    split=Split("time", time_column="date", holdout_periods=HOLDOUT_DAYS, period="D"),
    trainer="lakeside.usecases.demand_forecast.train:train",
    evaluator="lakeside.usecases.demand_forecast.train:evaluate",
    metric="smape",
    gate="demand_forecast",
    service="pyfunc",
    schedule="0 6 * * 1",
    dag_id="demand_forecast",
    params={
        "horizon": 90,
        "engine": "prophet",
        "compare_engines": ["auto_ets"],
        "stores": None,
        "holdout_days": HOLDOUT_DAYS,
        "min_history_days": 180,
        "max_missing_days": 0,
        "plot_series": 4,
        "partitions": None,
        "spark": True,
    },
    demo=Demo(
        backfills=(Backfill("store_item", "2017-12-31", {"stores": 2, "items": 5, "start": "2016-01-01", "years": 2}),),
        tables=(FORECASTS.name, BACKTEST.name),
    ),
    gold=(FORECASTS, BACKTEST),
)
