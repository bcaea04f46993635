"""Profile and drift of a served model for a logical date.

Baseline: the champion's training snapshot (the table and version in its ``snapshot_*`` tags),
its signature's input columns, and the champion's predictions on it. Recent: the requests the
model answered 200 in the window ending on the date (``inference.<model>``, read back through
:func:`lakeside.serving.payloads.parse`) and their predictions, plus the batch predictions of
the window (``predictions.<model>``).

Writes ``monitoring.profile_metrics`` (per sample and column) and ``monitoring.drift_metrics``
(per column and metric: value, threshold, drifted, rows), replacing the model's rows of the
date, so a rerun gives the same tables. Too few recent rows give the verdict "insufficient
data" and never a drift.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lakeside.landing import as_date
from lakeside.monitoring import drift as d
from lakeside.monitoring import profile as p
from lakeside.monitoring.thresholds import METRICS, for_column
from lakeside.tables import Lake

log = logging.getLogger(__name__)

PREDICTION = "prediction"
BASELINE_ROWS = 50_000
INSUFFICIENT = "insufficient data"


@dataclass
class Samples:
    """The baseline and recent rows: pandas frames, or Spark DataFrames when ``engine`` is spark."""

    baseline: Any
    recent: Any
    columns: list[str]
    facts: dict = field(default_factory=dict)
    engine: str = "pandas"

    def profiles(self, frame) -> list[dict]:
        from lakeside.monitoring import spark_stats

        return (spark_stats.profiles if self.engine == "spark" else p.profiles)(frame, self.columns)

    def drifts(self) -> list[d.Drift]:
        from lakeside.monitoring import spark_stats

        return (spark_stats.drifts if self.engine == "spark" else d.drifts)(self.baseline, self.recent, self.columns)


@dataclass
class Finding:
    model: str
    date: dt.date
    drifted: list[str]  # "dti PSI 0.31 > 0.2"
    verdict: str  # ok, drifted, insufficient data
    recent_rows: int


def champion_baseline(model: str, lake: Lake, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The champion's snapshot rows (a seeded sample past ``BASELINE_ROWS``) with its predictions."""
    import mlflow
    from mlflow import MlflowClient

    from lakeside.scoring import input_columns

    champion = MlflowClient().get_model_version_by_alias(model, "champion")
    tags = champion.tags
    if "snapshot_table" not in tags:
        raise ValueError(f"{model} version {champion.version} has no snapshot_table tag: no baseline to compare with")
    uri = f"models:/{model}/{champion.version}"
    inputs = input_columns(uri)
    rows = lake.table(tags["snapshot_table"]).to_arrow(version=int(tags["snapshot_version"])).to_pandas()
    if len(rows) > BASELINE_ROWS:
        rows = rows.sample(BASELINE_ROWS, random_state=seed)
    baseline = rows[inputs].reset_index(drop=True)
    baseline[PREDICTION] = _flat(mlflow.pyfunc.load_model(uri).predict(baseline[inputs]))
    return baseline, {"version": champion.version, "inputs": inputs, "snapshot_table": tags["snapshot_table"],
                      "snapshot_version": tags["snapshot_version"]}


def recent_requests(model: str, lake: Lake, days: list[dt.date], inputs: list[str]) -> pd.DataFrame:
    """The rows of the requests answered 200 in ``days``, with the predictions answered."""
    from lakeside.serving.inference import table_name
    from lakeside.serving.payloads import PayloadError, parse

    table = lake.table(table_name(model))
    if not table.exists():
        return pd.DataFrame(columns=[*inputs, PREDICTION])
    logged = table.to_arrow().to_pandas()
    logged = logged[logged["date"].isin(days) & (logged["status_code"] == 200) & logged["request"].notna()]
    frames = []
    for request, response in zip(logged["request"], logged["response"]):
        try:
            rows = parse(json.loads(request), None, 10**9)
        except (PayloadError, ValueError):
            continue
        frame = pd.DataFrame(rows.columns)
        answer = json.loads(response) if response else None
        predictions = _answered_predictions(answer)
        if isinstance(predictions, list) and len(predictions) == len(frame):
            frame[PREDICTION] = _flat(predictions)
        frames.append(frame.reindex(columns=[*inputs, PREDICTION]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*inputs, PREDICTION])


def batch_predictions(model: str, lake: Lake, days: list[dt.date], inputs: list[str]) -> pd.DataFrame:
    """The batch predictions of ``days`` with the input rows they scored: the source table and
    its version come from each day's commit (``source``, ``source_version``), joined on the key."""
    from lakeside.batch_inference import PREDICTION_COLUMNS, predictions_table

    table = lake.table(predictions_table(model))
    if not table.exists():
        return pd.DataFrame(columns=[*inputs, PREDICTION])
    frame = table.to_arrow().to_pandas()
    frame = frame[frame["date"].isin(days)]
    key = [c for c in frame.columns if c not in PREDICTION_COLUMNS]
    parts = []
    for (source, version), scored in _scored_sources(table, frame).items():
        source_table = lake.table(source)
        if not key or not source_table.exists():
            parts.append(scored)
            continue
        source_rows = source_table.to_arrow(version=version)
        wanted = [c for c in dict.fromkeys([*key, *inputs]) if c in source_rows.column_names]
        rows = source_rows.select(wanted).to_pandas()
        parts.append(scored.merge(rows.drop_duplicates(key), on=key, how="left"))
    if not parts:
        return pd.DataFrame(columns=[*inputs, PREDICTION])
    return pd.concat(parts, ignore_index=True).reindex(columns=[*inputs, PREDICTION])


def _scored_sources(table, frame: pd.DataFrame) -> dict[tuple[str | None, int | None], pd.DataFrame]:
    """The rows of ``frame`` by the (source table, version) their day's commit names."""
    sources = _sources_by_day(table)
    groups: dict[tuple[str | None, int | None], list[pd.DataFrame]] = {}
    for day, rows in frame.groupby(frame["date"].astype(str)):
        groups.setdefault(sources.get(day[:10], (None, None)), []).append(rows)
    return {where: pd.concat(parts) for where, parts in groups.items()}


def _sources_by_day(table) -> dict[str, tuple[str | None, int | None]]:
    """Each scored day's (source table, version), from the commits that name them."""
    sources: dict[str, tuple[str | None, int | None]] = {}
    for commit in reversed(table.history()):
        day, source = commit.metadata.get("date"), commit.metadata.get("source")
        if day and source:
            version = commit.metadata.get("source_version")
            sources[str(day)] = (source, int(version) if version not in (None, "") else None)
    return sources


def batch_rows(model: str, lake: Lake, days: list[dt.date]) -> int:
    """How many batch predictions ``days`` have (only the date column is read)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakeside.batch_inference import predictions_table

    table = lake.table(predictions_table(model))
    if not table.exists():
        return 0
    dates = table.to_arrow(columns=["date"]).column("date").cast(pa.string())
    wanted = pa.array([day.isoformat() for day in days])
    return int(pc.sum(pc.is_in(pc.utf8_slice_codeunits(dates, 0, 10), value_set=wanted)).as_py() or 0)


def spark_batch_predictions(model: str, lake: Lake, days: list[dt.date], inputs: list[str]):
    """:func:`batch_predictions` as a Spark DataFrame (``lake`` opened with a SparkSession)."""
    from functools import reduce

    from pyspark.sql import functions as F

    from lakeside.batch_inference import PREDICTION_COLUMNS, predictions_table

    table = lake.table(predictions_table(model))
    frame = table.read()
    key = [c for c in frame.columns if c not in PREDICTION_COLUMNS]
    by_day = _sources_by_day(table)
    wanted_days = {day.isoformat() for day in days}
    day_of = F.substring(F.col("date").cast("string"), 1, 10)
    parts = []
    for (source, version) in sorted({by_day.get(day, (None, None)) for day in wanted_days}, key=str):
        its_days = [day for day in wanted_days if by_day.get(day, (None, None)) == (source, version)]
        scored = frame.where(day_of.isin(its_days))
        source_table = lake.table(source) if source else None
        if key and source_table is not None and source_table.exists():
            rows = source_table.read(version=version)
            wanted = [c for c in dict.fromkeys([*key, *inputs]) if c in rows.columns]
            scored = scored.join(rows.select(*wanted).dropDuplicates(key), on=key, how="left")
        parts.append(scored.select(*[F.col(c) if c in scored.columns else F.lit(None).alias(c)
                                     for c in [*inputs, PREDICTION]]))
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)


def samples(model: str, lake: Lake, day: dt.date, window_days: int, spark_rows: int | None = None) -> Samples:
    """The baseline and the window's recent rows. From ``spark_rows`` recent rows on (default
    :func:`lakeside.config.monitoring_spark_rows`), the batch predictions are read by Spark and
    both samples are Spark DataFrames."""
    from lakeside.config import monitoring_spark_rows

    baseline, facts = champion_baseline(model, lake)
    days = [day - dt.timedelta(days=n) for n in range(window_days)]
    requests = recent_requests(model, lake, days, facts["inputs"])
    scored = batch_rows(model, lake, days)
    columns = [*facts["inputs"], PREDICTION]
    facts.update({"request_rows": len(requests), "batch_rows": scored, "window_start": min(days).isoformat()})
    if scored and len(requests) + scored >= (monitoring_spark_rows() if spark_rows is None else spark_rows):
        return _spark_samples(model, lake, days, baseline, requests, facts, columns)
    batch = batch_predictions(model, lake, days, facts["inputs"])
    recent = pd.concat([requests, batch], ignore_index=True) if len(batch) else requests
    return Samples(baseline, recent, columns, facts)


def _spark_samples(model: str, lake: Lake, days: list[dt.date], baseline: pd.DataFrame, requests: pd.DataFrame,
                   facts: dict, columns: list[str]) -> Samples:
    """Both samples as Spark DataFrames; the served requests' values take the batch rows' types."""
    from pyspark.sql import functions as F

    from lakeside.spark import get_spark
    from lakeside.tables import Lake

    spark = get_spark("lakeside-monitoring")
    recent = spark_batch_predictions(model, Lake(lake.root, lake.backend, spark), days, facts["inputs"])
    if len(requests):
        frame = requests.reindex(columns=columns)
        as_text = frame.astype(str).astype(object).where(frame.notna(), None)
        served = spark.createDataFrame(as_text, schema=", ".join(f"`{c}` string" for c in columns))
        recent = recent.unionByName(served.select(*[F.col(c).try_cast(recent.schema[c].dataType).alias(c)
                                                    for c in columns]))
    log.info("%s: %d recent rows, profiled and compared by Spark", model, facts["request_rows"] + facts["batch_rows"])
    return Samples(spark.createDataFrame(baseline), recent.cache(), columns, facts, engine="spark")


def judge(model: str, day: dt.date, found: Samples, thresholds: dict) -> tuple[list[dict], Finding]:
    """Drift rows for ``monitoring.drift_metrics`` and the verdict."""
    rows, drifted, enough = [], [], False
    for result in found.drifts():
        limits = for_column(thresholds, result.column)
        sufficient = result.recent_rows >= thresholds["min_rows"] and result.baseline_rows >= thresholds["min_rows"]
        enough = enough or sufficient
        for metric in METRICS:
            value = getattr(result, metric)
            if value is None:
                continue
            crossed = sufficient and value > limits[metric]
            if crossed:
                drifted.append(f"{result.column} {metric.upper()} {value:.2f} > {limits[metric]:g}")
            rows.append({"model": model, "date": day, "column": result.column, "kind": result.kind,
                         "metric": metric, "value": float(value), "threshold": float(limits[metric]),
                         "drifted": bool(crossed), "verdict": ("drifted" if crossed else "ok") if sufficient else INSUFFICIENT,
                         "baseline_rows": result.baseline_rows, "recent_rows": result.recent_rows,
                         "model_version": found.facts["version"]})
    verdict = "drifted" if drifted else ("ok" if enough else INSUFFICIENT)
    recent_rows = found.recent.count() if found.engine == "spark" else len(found.recent)
    return rows, Finding(model, day, drifted, verdict, recent_rows)


def monitor(model: str, lake: Lake, day: dt.date | str, thresholds: dict, spark_rows: int | None = None) -> Finding:
    """Profile and drift of ``model`` for ``day``, written to the monitoring tables (by Spark from
    ``spark_rows`` recent rows on: :func:`samples`)."""
    day = as_date(day)
    found = samples(model, lake, day, int(thresholds["window_days"]), spark_rows)
    profiled = [{"model": model, "date": day, "sample": name, "model_version": found.facts["version"], **row}
                for name, frame in (("baseline", found.baseline), ("recent", found.recent))
                for row in found.profiles(frame)]
    drift_rows, finding = judge(model, day, found, thresholds)
    if found.engine == "spark":
        found.recent.unpersist()
    this_day = f"model = '{model}' AND date = '{day.isoformat()}'"
    commit = {"model": model, "date": day.isoformat(), "engine": found.engine,
              **{k: str(v) for k, v in found.facts.items() if k != "inputs"}}
    lake.table("monitoring.profile_metrics").replace_where(this_day, _typed_profiles(profiled), metadata=commit)
    if drift_rows:
        lake.table("monitoring.drift_metrics").replace_where(this_day, pd.DataFrame(drift_rows), metadata=commit)
    log.info("%s %s: %s (%d recent rows) %s", model, day, finding.verdict, finding.recent_rows, finding.drifted)
    return finding


def _typed_profiles(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    statistics = ["mean", "std", "min", "max", *[p.quantile_name(q) for q in p.QUANTILES]]
    return frame.astype({name: "float64" for name in statistics})


def _answered_predictions(answer) -> list | None:
    """The predictions of an answer: a bare list, ``{"predictions": [...]}``, or the first
    output of an Open Inference Protocol answer."""
    if isinstance(answer, list):
        return answer
    if not isinstance(answer, dict):
        return None
    if "predictions" in answer:
        return answer["predictions"]
    outputs = answer.get("outputs")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        return outputs[0].get("data")
    return None


def _flat(predictions) -> list:
    values = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    return [v[0] if isinstance(v, list) and len(v) == 1 else v for v in values]


def monitor_served(model: str, day: dt.date | str, lake: Lake | None = None) -> list[str]:
    """:func:`monitor` with the model's thresholds file; its crossings. A model with no champion
    (never promoted yet) has nothing to monitor: no crossing."""
    from mlflow.exceptions import MlflowException

    from lakeside.monitoring.thresholds import drift_thresholds
    from lakeside.tables import open_lake

    thresholds = drift_thresholds(model)
    try:
        return monitor(model, lake or open_lake(), day, thresholds).drifted
    except MlflowException as error:
        log.warning("%s: nothing to monitor (%s)", model, error)
        return []


def snapshot_drift(model: str, table: str, version: int, lake: Lake | None = None) -> dict:
    """A new training snapshot against the champion's (``drift_check`` before a retrain's gate):
    the crossings of the model's thresholds over its signature's input columns. No champion:
    nothing to compare, no crossing."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lakeside.monitoring.thresholds import drift_thresholds
    from lakeside.scoring import input_columns
    from lakeside.tables import open_lake

    lake = lake or open_lake(backend="embedded")
    try:
        champion = MlflowClient().get_model_version_by_alias(model, "champion")
    except MlflowException:
        return {"drifted": [], "champion": None}
    tags = champion.tags
    if "snapshot_table" not in tags:
        return {"drifted": [], "champion": champion.version}
    inputs = input_columns(f"models:/{model}/{champion.version}")
    before = lake.table(tags["snapshot_table"]).to_arrow(version=int(tags["snapshot_version"])).to_pandas()
    after = lake.table(table).to_arrow(version=int(version)).to_pandas()
    thresholds = drift_thresholds(model)
    found = Samples(before, after, [c for c in inputs if c in before and c in after], {"version": champion.version})
    _, finding = judge(model, dt.date.today(), found, thresholds)
    return {"drifted": finding.drifted, "champion": champion.version,
            "baseline": f"{tags['snapshot_table']}@{tags['snapshot_version']}", "new": f"{table}@{version}"}
