"""The demand forecast trainer and gate evaluator (``UseCase.trainer`` / ``evaluator``).

:func:`run` is the Spark pipeline (the trainer and ``jobs/demand_forecast.py`` share it):

1. the pinned snapshot's rows as daily series (a subset of stores if asked);
2. backtest: for the chosen engine and each engine it is compared with, one model per series
   fitted on the days before the cutoff (the snapshot's time split: the last ``holdout_days``
   days are held out, nothing of them is seen), forecast over the held-out days and scored per
   series (sMAPE, MAE, 95%-interval coverage) -> ``gold.demand_backtest``;
3. the chosen engine fitted on every day -> forecasts of the history and the next ``horizon``
   days with the actual sales -> ``gold.demand_forecasts``.

Both tables carry the ``training_date`` (the data's last day, never the clock) and the MLflow run
id; a rerun replaces that training date's rows (of the stores it ran on), so each is appended
run after run and idempotent per training date. Series that are too short, all zeros, have gaps
or make the engine fail are recorded with their reason (``status``, ``reason``), never fatal.

:func:`train` tracks it in one MLflow run (experiment ``demand_forecast``): settings, each
engine's backtest aggregates side by side (``<engine>_smape`` ...) and the chosen engine's as
``smape``, ``mae``, ``coverage``; ``backtest.csv``, ``skipped.csv``, a heat map of sMAPE per
store x item and plots of a few series; and the model family (:mod:`.model`).

:func:`evaluate` is the gate's measure (``gates/demand_forecast.json``): the backtest sMAPE,
MAE and coverage of the model's engine on the snapshot's backtest (the rows this run wrote for
that training date and the model's stores), so the challenger and a champion of the same engine
are judged on the same held-out days; a champion whose engine was not backtested then falls back
to the metrics recorded in its own run.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lakeside.usecases.demand_forecast import BACKTEST, FORECASTS, engines

log = logging.getLogger(__name__)

FORECAST_TABLE = FORECASTS.name
BACKTEST_TABLE = BACKTEST.name
MAX_HORIZON = 365


@dataclass(frozen=True)
class Settings:
    horizon: int = 90
    engine: str = "prophet"
    compare_engines: tuple[str, ...] = ()
    stores: tuple[int, ...] | None = None
    holdout_days: int = 90
    min_history_days: int = 180
    max_missing_days: int = 0
    plot_series: int = 4
    partitions: int | None = None

    @property
    def engines(self) -> tuple[str, ...]:
        return (self.engine, *(e for e in self.compare_engines if e != self.engine))


def settings_of(params: dict[str, Any]) -> Settings:
    """The trainer's settings from the use case's params (see its declaration), checked."""
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(params) - known - {"spark"})
    if unknown:
        raise ValueError(f"unknown demand_forecast settings {unknown}; known: {sorted(known)}")
    values = {k: v for k, v in params.items() if k in known and v is not None}
    stores = values.get("stores")
    settings = Settings(**{
        **values,
        "compare_engines": tuple(values.get("compare_engines") or ()),
        "stores": tuple(sorted(int(s) for s in stores)) if stores else None,
    })
    for engine in settings.engines:
        engines.check_engine(engine)
    if not 1 <= int(settings.horizon) <= MAX_HORIZON:
        raise ValueError(f"horizon must be 1 to {MAX_HORIZON} days, got {settings.horizon}")
    if settings.holdout_days < 1 or settings.min_history_days < 2:
        raise ValueError("holdout_days must be >= 1 and min_history_days >= 2")
    return settings


@dataclass
class Outcome:
    training_date: pd.Timestamp
    cutoff: pd.Timestamp
    backtest: pd.DataFrame
    models: pd.DataFrame
    plotted: dict[tuple[int, int], pd.DataFrame] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)


def run(lake, table: str, version: int | None, settings: Settings, run_id: str,
        cutoff: str | None = None) -> Outcome:
    """Backtest every engine, fit and forecast with the chosen one, write both tables."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from lakeside.usecases.demand_forecast import forecast
    from lakeside.usecases.demand_forecast.forecast import SeriesRules

    rules = SeriesRules(settings.min_history_days, settings.max_missing_days)
    series = forecast.daily_series(lake.table(table).read(version=version), settings.stores)
    series = series.persist(StorageLevel.MEMORY_AND_DISK)
    last = series.agg(F.max("ds")).first()[0]
    if last is None:
        raise ValueError(f"{table} version {version} has no rows" + (f" for stores {settings.stores}"
                                                                     if settings.stores else ""))
    training_date = pd.Timestamp(last)
    cut = pd.Timestamp(cutoff) if cutoff else training_date - pd.Timedelta(days=settings.holdout_days - 1)
    before, held_out = forecast.split_at(series, cut)
    outcome = Outcome(training_date, cut, pd.DataFrame(), pd.DataFrame())
    scores = []
    for engine in settings.engines:
        started = time.perf_counter()
        models = forecast.fit_models(before, engine, rules, settings.partitions).persist(StorageLevel.MEMORY_AND_DISK)
        models.count()  # fitted once: the backtest reads the models twice
        scored = forecast.backtest(models, held_out, settings.holdout_days, settings.partitions).toPandas()
        outcome.seconds[f"{engine}_backtest"] = time.perf_counter() - started
        if engine == settings.engine:
            outcome.plotted = _plotted(models, scored, held_out, settings)
        models.unpersist()
        scores.append(scored)
    outcome.backtest = pd.concat(scores, ignore_index=True)

    started = time.perf_counter()
    final = forecast.fit_models(series, settings.engine, rules, settings.partitions) \
        .persist(StorageLevel.MEMORY_AND_DISK)
    outcome.models = final.select("store", "item", "engine", "status", "reason", "params", "train_rows",
                                  "fit_seconds").toPandas()
    outcome.seconds["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = forecast.with_actuals(forecast.forecasts(final, settings.horizon, history=True,
                                                    partitions=settings.partitions), series)
    outcome.versions = write_tables(lake, rows, outcome.backtest, training_date, cut, settings, run_id)
    outcome.seconds["forecast"] = time.perf_counter() - started
    final.unpersist()
    series.unpersist()
    return outcome


def write_tables(lake, rows, backtest: pd.DataFrame, training_date: pd.Timestamp, cutoff: pd.Timestamp,
                 settings: Settings, run_id: str) -> dict[str, int]:
    """Replace the training date's rows (of the run's stores) in both tables; their versions."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    day = training_date.date()
    where = f"training_date = '{day.isoformat()}'"
    if settings.stores:
        where += f" AND store IN ({', '.join(str(s) for s in settings.stores)})"
    metadata = {"run_id": run_id, "training_date": day.isoformat(), "engine": settings.engine}
    table = rows.select("ds", "store", "item", "y", "yhat", "yhat_upper", "yhat_lower",
                        F.lit(day).alias("training_date"), F.lit(settings.engine).alias("engine"),
                        F.lit(run_id).alias("run_id"))
    forecasts_version = lake.table(FORECAST_TABLE).replace_where(where, table, metadata=metadata)
    scored = backtest.assign(training_date=day, cutoff=cutoff.date(), run_id=run_id)
    schema = pa.schema([
        ("training_date", pa.date32()), ("cutoff", pa.date32()), ("engine", pa.string()), ("store", pa.int32()),
        ("item", pa.int32()), ("status", pa.string()), ("reason", pa.string()), ("smape", pa.float64()),
        ("mae", pa.float64()), ("coverage", pa.float64()), ("holdout_days", pa.int32()),
        ("train_rows", pa.int32()), ("fit_seconds", pa.float64()), ("run_id", pa.string())])
    arrow = pa.Table.from_pandas(scored[schema.names], schema=schema, preserve_index=False)
    backtest_version = lake.table(BACKTEST_TABLE).replace_where(where, arrow, metadata=metadata)
    return {FORECAST_TABLE: forecasts_version, BACKTEST_TABLE: backtest_version}


def aggregates(backtest: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per engine: mean sMAPE (and median), MAE, coverage over scored series; counts."""
    out = {}
    for engine, rows in backtest.groupby("engine", sort=False):
        ok = rows[rows["status"] == "ok"]
        out[str(engine)] = {
            "smape": float(ok["smape"].mean()), "smape_median": float(ok["smape"].median()),
            "mae": float(ok["mae"].mean()), "coverage": float(ok["coverage"].mean()),
            "series_scored": float(len(ok)), "skipped": float((rows["status"] == "skipped").sum()),
            "failed": float((rows["status"] == "failed").sum()), "fit_seconds": float(rows["fit_seconds"].sum()),
        }
    return out


def train(use_case, snapshot, params: dict[str, Any], spark=None) -> dict[str, Any]:
    import mlflow

    from lakeside import tracking
    from lakeside.retrain import model_name
    from lakeside.tables import Lake

    settings = settings_of(params)
    spark = spark or _spark()
    lake = Lake(snapshot.uri.rsplit("/", 2)[0], backend=_table_backend(), spark=spark)
    experiment = tracking.experiment_id(model_name(use_case))
    with tempfile.TemporaryDirectory(prefix="demand-forecast-") as scratch, \
            mlflow.start_run(experiment_id=experiment, run_name=f"{settings.engine} v{snapshot.version}") as active:
        run_id = active.info.run_id
        mlflow.log_params({"table": snapshot.table, "table_version": snapshot.version, "engine": settings.engine,
                           "compare_engines": ",".join(settings.engines[1:]), "horizon": settings.horizon,
                           "holdout_days": settings.holdout_days, "min_history_days": settings.min_history_days,
                           "max_missing_days": settings.max_missing_days,
                           "stores": ",".join(map(str, settings.stores)) if settings.stores else "all",
                           "prophet_settings": str(engines.PROPHET_SETTINGS)})
        started = time.perf_counter()
        same_split = int(snapshot.split.get("holdout_periods") or 0) == settings.holdout_days
        outcome = run(lake, snapshot.table, snapshot.version, settings, run_id,
                      snapshot.split.get("cutoff") if same_split else None)
        wall = time.perf_counter() - started
        summary = aggregates(outcome.backtest)
        chosen = summary.get(settings.engine, {"smape": float("nan"), "mae": float("nan"), "coverage": float("nan")})
        fitted = outcome.models[outcome.models["status"] == "ok"]
        mlflow.log_params({"training_date": outcome.training_date.date().isoformat(),
                           "cutoff": outcome.cutoff.date().isoformat()})
        mlflow.log_metrics({f"{engine}_{k}": v for engine, values in summary.items() for k, v in values.items()})
        mlflow.log_metrics({"smape": chosen["smape"], "mae": chosen["mae"], "coverage": chosen["coverage"],
                            "series": float(len(outcome.models)), "series_fitted": float(len(fitted)),
                            "wall_seconds": wall,
                            "models_per_minute": 60.0 * len(outcome.models) / max(outcome.seconds["fit"], 1e-9),
                            **{f"{k}_seconds": v for k, v in outcome.seconds.items()}})
        mlflow.set_tags({"lakeside.use_case": use_case.name, "engine": settings.engine})
        _log_artifacts(outcome, settings, Path(scratch))
        from lakeside.usecases.demand_forecast import model

        info = model.log_model(fitted[["store", "item", "params"]], settings.engine, settings.horizon,
                               outcome.training_date.date().isoformat(), Path(scratch) / "model")
    log.info("demand_forecast: %d series, %d fitted with %s; backtest %s", len(outcome.models), len(fitted),
             settings.engine, {e: round(v["smape"], 2) for e, v in summary.items()})
    return {"model_uri": info.model_uri, "run_id": run_id, "family": settings.engine,
            "metrics": {"smape": chosen["smape"], "coverage": chosen["coverage"], "series": len(outcome.models)},
            "backtest": {e: {k: v for k, v in values.items()} for e, values in summary.items()},
            "training_date": outcome.training_date.date().isoformat(), "versions": outcome.versions}


def _plotted(models, scored: pd.DataFrame, held_out, settings: Settings) -> dict[tuple[int, int], pd.DataFrame]:
    """Backtest forecasts and actual sales of a few scored series (the best and worst by sMAPE)."""
    from pyspark.sql import functions as F

    from lakeside.usecases.demand_forecast import forecast

    ok = scored[scored["status"] == "ok"].sort_values("smape")
    if ok.empty or settings.plot_series < 1:
        return {}
    half = max(1, settings.plot_series // 2)
    picks = pd.concat([ok.head(half), ok.tail(settings.plot_series - half)]).drop_duplicates(["store", "item"])
    keys = [(int(s), int(i)) for s, i in picks[["store", "item"]].itertuples(index=False)]
    chosen = F.lit(False)
    for store, item in keys:
        chosen = chosen | ((F.col("store") == store) & (F.col("item") == item))
    predicted = forecast.with_actuals(forecast.forecasts(models.filter(chosen), settings.holdout_days, history=False),
                                      held_out).toPandas()
    return {key: predicted[(predicted["store"] == key[0]) & (predicted["item"] == key[1])].sort_values("ds")
            for key in keys}


def _log_artifacts(outcome: Outcome, settings: Settings, folder: Path) -> None:
    import mlflow

    from lakeside.usecases.demand_forecast import plots

    folder.mkdir(parents=True, exist_ok=True)
    outcome.backtest.to_csv(folder / "backtest.csv", index=False)
    mlflow.log_artifact(str(folder / "backtest.csv"))
    skipped = outcome.models[outcome.models["status"] != "ok"][["store", "item", "engine", "status", "reason"]]
    skipped.to_csv(folder / "skipped.csv", index=False)
    mlflow.log_artifact(str(folder / "skipped.csv"))
    mlflow.log_dict({e: v for e, v in aggregates(outcome.backtest).items()}, "engines.json")
    for engine in settings.engines:
        rows = outcome.backtest[(outcome.backtest["engine"] == engine) & (outcome.backtest["status"] == "ok")]
        if not rows.empty:
            mlflow.log_artifact(str(plots.error_heat_map(rows, engine, folder / f"smape_heat_map_{engine}.png")),
                                "plots")
    for (store, item), rows in outcome.plotted.items():
        path = folder / f"backtest_store{store}_item{item}.png"
        mlflow.log_artifact(str(plots.series_backtest(rows[["ds", "y"]], rows, store, item, settings.engine, path)),
                            "plots")


def evaluate(use_case, model_uri: str, snapshot) -> dict[str, float]:
    """The gate's metrics of ``model_uri`` (see the module's docstring)."""
    import mlflow
    from mlflow.models import get_model_info

    from lakeside.tables import Lake

    info = get_model_info(model_uri)
    config = info.flavors["python_function"].get("config") or {}
    engine = config.get("engine")
    stores = config.get("stores")
    holdout = int(snapshot.split.get("holdout_periods") or Settings.holdout_days)
    training_date = (pd.Timestamp(snapshot.split["cutoff"]) + pd.Timedelta(days=holdout - 1)).date()
    lake = Lake(snapshot.uri.rsplit("/", 2)[0], backend="embedded")
    table = lake.table(BACKTEST_TABLE)
    rows = table.to_pandas() if table.exists() else pd.DataFrame(columns=["training_date", "engine", "status"])
    mine = rows[(rows["training_date"] == training_date) & (rows["engine"] == engine) & (rows["status"] == "ok")]
    if stores:
        mine = mine[mine["store"].isin(stores)]
    if not mine.empty:
        return {"smape": float(mine["smape"].mean()), "mae": float(mine["mae"].mean()),
                "coverage": float(mine["coverage"].mean())}
    metrics = mlflow.get_run(info.run_id).data.metrics
    return {name: float(metrics.get(name, float("nan"))) for name in ("smape", "mae", "coverage")}


def _table_backend() -> str:
    from lakeside.config import settings

    return settings().table_backend


def _spark():
    from lakeside.spark import get_spark

    return get_spark("demand_forecast")
