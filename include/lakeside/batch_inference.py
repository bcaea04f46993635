"""Batch inference: a registered model (by alias) scores the rows a source table received on a
logical date, into ``predictions.<model>``, one partition per date (replaced, so a rerun gives
the same table).

Columns: the source's key, ``prediction``, ``model_version``, ``source_version`` (the source
table's Delta version read), ``date`` (the logical date) and ``scored_at`` (the run's logical
date as a UTC timestamp, not the wall clock: a rerun writes the same rows).

Scoring runs on the executors through ``mlflow.pyfunc.spark_udf`` with the job's own Python
(``env_manager="local"``): Arrow batches per partition, never a Python call per row. The source
must hold every input column of the model's signature: one it lacks fails the run before any
scoring, named.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakeside.landing import as_date
from lakeside.tables import Lake

INGEST_DATE = "_ingest_date"

_SPARK_TYPES = {"double": "double", "float": "double", "long": "bigint", "integer": "int", "string": "string",
                "boolean": "boolean"}


class MissingInputColumns(ValueError):
    """The source table lacks input columns of the model's signature."""


@dataclass(frozen=True)
class ScoringModel:
    name: str
    alias: str
    version: str
    uri: str
    inputs: list[str]
    output_type: str


def resolve(name: str, alias: str) -> ScoringModel:
    """The version the alias points at, its input columns and the Spark type of its output."""
    import mlflow
    from mlflow import MlflowClient

    from lakeside.scoring import input_columns

    version = MlflowClient().get_model_version_by_alias(name, alias).version
    uri = f"models:/{name}/{version}"
    signature = mlflow.models.get_model_info(uri).signature
    output = signature.outputs.inputs[0].type.name if signature and signature.outputs else "double"
    return ScoringModel(name, alias, str(version), uri, input_columns(uri), _SPARK_TYPES.get(output, "double"))


def predictions_table(model: str) -> str:
    return f"predictions.{model}"


def check_inputs(frame: DataFrame, model: ScoringModel, source: str) -> None:
    missing = [column for column in model.inputs if column not in frame.columns]
    if missing:
        raise MissingInputColumns(
            f"{source} lacks the input column(s) {missing} of {model.name} version {model.version}'s signature; "
            "nothing was scored")


def with_predictions(rows: DataFrame, predict: Column, key: list[str], model: ScoringModel,
                     source_version: int, day: dt.date) -> DataFrame:
    """The key, the model's prediction and what produced it, one row per source row."""
    return rows.select(
        *key,
        predict.alias("prediction"),
        F.lit(model.version).alias("model_version"),
        F.lit(source_version).cast("long").alias("source_version"),
        F.lit(day).alias("date"),
        F.lit(dt.datetime.combine(day, dt.time(), dt.timezone.utc)).cast("timestamp").alias("scored_at"),
    )


def score(spark: SparkSession, lake: Lake, model: ScoringModel, source: str, key: list[str],
          day: dt.date | str, source_version: int | None = None) -> dict:
    """Extract the day's rows of ``source``, score them, replace the day in ``predictions.<model>``."""
    import mlflow

    started = time.perf_counter()
    day = as_date(day)
    table = lake.table(source)
    version = table.version() if source_version is None else source_version
    frame = table.read(version=version)
    check_inputs(frame, model, source)
    todays = frame.filter(F.col(INGEST_DATE) == F.lit(day)) if INGEST_DATE in frame.columns else frame
    udf = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=model.output_type, env_manager="local")
    scored = with_predictions(todays, udf(F.struct(*[F.col(f"`{c}`") for c in model.inputs])), key, model,
                              version, day)
    target = lake.table(predictions_table(model.name))
    written = target.replace_where(f"date = '{day.isoformat()}'", scored, partition_by=["date"],
                                   metadata={"model": model.name, "model_version": model.version,
                                             "source": source, "source_version": str(version)})
    rows = target.read(version=written).filter(F.col("date") == F.lit(day)).count()
    return {"model": model.name, "alias": model.alias, "model_version": model.version, "source": source,
            "source_version": version, "date": day.isoformat(), "rows": rows,
            "table": predictions_table(model.name), "table_version": written,
            "seconds": round(time.perf_counter() - started, 3)}
