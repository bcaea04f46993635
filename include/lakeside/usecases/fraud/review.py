"""The review loop's queue: transactions the champion tree is unsure about go to analysts.

The champion's exported tree (no JVM) scores the labelled transactions of the given days in the
Python workers (``mapInPandas``, one NumPy pass per batch); those whose probability of fraud
lies in the review band ``[low, high]`` and that no analyst has reviewed yet form the day's
part of ``gold.fraud_review_queue`` (replaced per day: rerunning a day gives the same queue).
Analysts answer with a CSV drop of the source ``fraud_reviewed_labels``; the next relabel
prefers their labels (:mod:`.relabel`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

from lakeside.tables import Lake
from lakeside.usecases.fraud import INPUTS, KEY, LABELS, REVIEW_QUEUE

log = logging.getLogger(__name__)

QUEUE_COLUMNS = (*KEY, "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest", "label", "rule_label",
                 "rules_fired", "rule_version", "_ingest_date")


def check_band(band) -> tuple[float, float]:
    low, high = (float(v) for v in band)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"review band must be 0 <= low <= high <= 1, got {list(band)}")
    return low, high


def score(labelled: DataFrame, tree_data: dict) -> DataFrame:
    """``labelled`` plus ``p_fraud`` and ``prediction`` from the exported tree (``TreeArrays.to_dict()``)."""
    from lakeside.usecases.fraud.export import TreeArrays
    from lakeside.usecases.fraud.features import with_features

    schema = StructType([*labelled.schema.fields, StructField("p_fraud", DoubleType(), False),
                         StructField("prediction", IntegerType(), False)])

    def predict(batches):
        tree = TreeArrays.from_dict(tree_data)
        for batch in batches:
            leaves, _ = tree.leaves(tree.matrix(with_features(batch[list(INPUTS)])))
            yield batch.assign(p_fraud=tree.probabilities(leaves)[:, 1],
                               prediction=tree.prediction[leaves].astype("int32"))

    return labelled.mapInPandas(predict, schema)


def queue(labelled: DataFrame, tree_data: dict, band: tuple[float, float], model_version: str) -> DataFrame:
    """The unreviewed rows whose probability of fraud lies in ``band``."""
    low, high = check_band(band)
    scored = score(labelled.filter(F.col("label_source") != "review"), tree_data)
    return scored.filter(F.col("p_fraud").between(low, high)).select(
        *QUEUE_COLUMNS, "p_fraud", "prediction", F.lit(str(model_version)).alias("model_version"))


def refresh(lake: Lake, days: list[str], tree_data: dict, band, model_version: str, run_id: str) -> dict:
    """Replace the days' part of the review queue; returns rows queued per day."""
    if not days:
        return {}
    labels = lake.table(LABELS).read().filter(F.col("_ingest_date").isin([dt.date.fromisoformat(d) for d in days]))
    rows = queue(labels, tree_data, band, model_version).persist()
    try:
        counts = {str(r["_ingest_date"]): int(r["count"]) for r in rows.groupBy("_ingest_date").count().collect()}
        where = "_ingest_date IN (" + ", ".join(f"'{d}'" for d in days) + ")"
        lake.table(REVIEW_QUEUE).replace_where(where, rows, partition_by=["_ingest_date"],
                                               metadata={"run_id": run_id, "model_version": str(model_version)})
    finally:
        rows.unpersist()
    log.info("review queue: %s", counts)
    return {d: counts.get(d, 0) for d in days}


def champion_tree(model_name: str) -> tuple[dict, str] | None:
    """(the champion's exported tree, its version), or None when there is no champion yet."""
    import mlflow

    from lakeside.registry import champion_version

    version = champion_version(model_name)
    if version is None:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    return model.unwrap_python_model().tree.to_dict(), version


def pending_drops(lake: Lake) -> list[str]:
    """Dates of landed review drops (``landing/fraud_reviewed_labels/<date>/``) not ingested yet."""
    from lakeside.config import settings
    from lakeside.usecases.fraud import REVIEWS_SOURCE

    folder = settings().landing_root / REVIEWS_SOURCE
    landed = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.csv"))) if folder.is_dir() else []
    bronze = lake.table(f"bronze.{REVIEWS_SOURCE}")
    done = ({str(r[0]) for r in bronze.read().select("_ingest_date").distinct().collect()} if bronze.exists() else set())
    return [d for d in landed if d not in done]


def ingest_drops(lake: Lake, spark, run_id: str, max_rejected_share: float) -> list[dict]:
    """Ingest every pending review drop (bronze, silver merged on the transaction key, quarantine)."""
    from lakeside import ingest, landing
    from lakeside.datasets import source
    from lakeside.usecases.fraud import REVIEWS_SOURCE

    spec = source(REVIEWS_SOURCE).SPEC
    reports = []
    for day in pending_drops(lake):
        files = landing.landing_files(REVIEWS_SOURCE, day)
        batch = ingest.transform(ingest.extract(spark, files, spec), spec, day, run_id)
        reports.append(json.loads(ingest.load(lake, batch, spec, day, run_id, files, max_rejected_share).to_json()))
    return reports


def needs_retrain(model_name: str, labels_rule_version: str | None) -> tuple[bool, str]:
    """Whether the labels' rule version differs from the one the champion was trained on."""
    from mlflow import MlflowClient

    from lakeside.registry import champion_version

    version = champion_version(model_name)
    if version is None:
        return True, f"{model_name} has no champion yet"
    run_id = MlflowClient().get_model_version(model_name, version).run_id
    trained_on = MlflowClient().get_run(run_id).data.tags.get("rule_version") if run_id else None
    if trained_on != labels_rule_version:
        return True, f"labels carry rule version {labels_rule_version}, champion v{version} learned {trained_on}"
    return False, f"champion v{version} learned rule version {trained_on}, the labels' version"


def retrain_decision() -> bool:
    """The DAG's question: do the current labels' rules differ from the champion's (see
    :func:`needs_retrain`)? Reads the labels table's last commit (no Spark)."""
    import mlflow

    from lakeside import tracking
    from lakeside.retrain import model_name
    from lakeside.tables import open_lake

    table = open_lake(backend="embedded").table(LABELS)
    if not table.exists():
        log.info("no %s yet: nothing to retrain on", LABELS)
        return False
    commit = table.history(limit=1)[0]
    mlflow.set_tracking_uri(tracking.ensure_server())
    retrain, reason = needs_retrain(model_name("fraud"), commit.metadata.get("rule_version"))
    log.info("retrain: %s (%s)", retrain, reason)
    return retrain
