"""The fraud tree's training (use-cases §5), as pure Spark steps plus the MLflow run that records them.

1. Rows: the pinned version of ``silver.fraud_labels`` minus the gate's holdout (the snapshot's
   hash split: the gate judges on rows no variant trained on), split 80/20 at random (seed 12345)
   into train and test.
2. Pipeline: StringIndexer(type) -> VectorAssembler(type index, amount, the four balances,
   orgDiff, destDiff) -> DecisionTreeClassifier (seed 54321).
3. CrossValidator: 3 folds, maxDepth {5, 10, 15} x maxBins {10, 20, 30} (27 fits), judged by area
   under PR; the best setting refitted on all of train is the ``imbalanced`` variant.
4. ``balanced``: every positive of train and the negatives sampled by the positive fraction
   (``sample(False, p, seed 92285)``), the same pipeline with the best setting.
5. Each variant: area under PR and ROC on train and test, the confusion matrix against the labels
   (how many cases the tree adds to the rules' and how many it misses), the tree as text and as a
   picture, the NumPy export checked row by row against Spark's predictions on the test split.

MLflow: one parent run (the grid's cross-validated scores, the lineage: table, version, rule
version) with the two variants as child runs; the better variant by test area under PR is the
model the retrain registers (``fraud_tree``), a pyfunc that needs no JVM.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakeside.usecases.fraud import INPUTS, KEY
from lakeside.usecases.fraud.features import CATEGORICAL, NUMERIC, with_features, with_spark_features

log = logging.getLogger(__name__)

LABEL = "label"
HOLDOUT = "_gate_holdout"
VARIANTS = ("imbalanced", "balanced")


@dataclass(frozen=True)
class TrainConfig:
    max_depth: tuple[int, ...] = (5, 10, 15)
    max_bins: tuple[int, ...] = (10, 20, 30)
    folds: int = 3
    seed: int = 54321
    split_seed: int = 12345
    test_fraction: float = 0.2
    balance_seed: int = 92285
    parallelism: int = 1

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "TrainConfig":
        known = {k: params[k] for k in cls.__dataclass_fields__ if params.get(k) is not None}
        for grid in ("max_depth", "max_bins"):
            if grid in known:
                known[grid] = tuple(int(v) for v in known[grid])
        config = cls(**known)
        if config.folds < 2 or not config.max_depth or not config.max_bins:
            raise ValueError("folds must be >= 2 and the grid must not be empty")
        return config


@dataclass
class Variant:
    name: str
    model: Any  # PipelineModel
    train_rows: int
    train_positives: int
    metrics: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, int] = field(default_factory=dict)
    export_mismatches: int | None = None


# --- transforms ------------------------------------------------------------------------------

def pipeline(config: TrainConfig, max_depth: int = 5, max_bins: int = 32):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import StringIndexerModel, VectorAssembler

    from lakeside.datasets.paysim import TYPES

    # Every transaction type the source allows, in a fixed order: an undersampled training set
    # may hold no row of a rare type (DEBIT) that the test rows hold.
    indexer = StringIndexerModel.from_labels(sorted(TYPES), inputCol="type", outputCol="typeIndex",
                                             handleInvalid="error")
    assembler = VectorAssembler(inputCols=["typeIndex", *NUMERIC], outputCol="features")
    tree = DecisionTreeClassifier(labelCol=LABEL, featuresCol="features", seed=config.seed,
                                  maxDepth=max_depth, maxBins=max_bins)
    return Pipeline(stages=[indexer, assembler, tree]), tree


def pr_evaluator():
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    return BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol="rawPrediction", metricName="areaUnderPR")


def cross_validate(train: DataFrame, config: TrainConfig):
    """(best PipelineModel refitted on all of ``train``, [(maxDepth, maxBins, mean area under PR)])."""
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    estimator, tree = pipeline(config)
    grid = ParamGridBuilder().addGrid(tree.maxDepth, list(config.max_depth)).addGrid(
        tree.maxBins, list(config.max_bins)).build()
    cv = CrossValidator(estimator=estimator, estimatorParamMaps=grid, evaluator=pr_evaluator(),
                        numFolds=config.folds, seed=config.seed, parallelism=config.parallelism)
    fitted = cv.fit(train)
    scores = [(int(p[tree.maxDepth]), int(p[tree.maxBins]), float(m)) for p, m in zip(grid, fitted.avgMetrics)]
    return fitted.bestModel, scores


def balanced(train: DataFrame, seed: int) -> DataFrame:
    """Every positive, and the negatives sampled by the positive fraction (seeded)."""
    counts = {row[LABEL]: row["count"] for row in train.groupBy(LABEL).count().collect()}
    positives, total = counts.get(1, 0), sum(counts.values())
    if not positives or positives == total:
        raise ValueError(f"cannot balance: {positives} positive rows of {total}")
    fraction = positives / total
    return train.filter(F.col(LABEL) == 1).unionByName(train.filter(F.col(LABEL) == 0).sample(False, fraction, seed))


def evaluate(model, frame: DataFrame, prefix: str) -> tuple[dict[str, float], dict[str, int]]:
    """Area under PR and ROC, and the confusion matrix against the labels, of ``model`` on ``frame``."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    scored = model.transform(frame).select(LABEL, "rawPrediction", "prediction").persist()
    try:
        metrics = {
            f"{prefix}_area_under_pr": BinaryClassificationEvaluator(
                labelCol=LABEL, metricName="areaUnderPR").evaluate(scored),
            f"{prefix}_area_under_roc": BinaryClassificationEvaluator(
                labelCol=LABEL, metricName="areaUnderROC").evaluate(scored),
        }
        predicted, actual = F.col("prediction") == 1, F.col(LABEL) == 1
        row = scored.agg(
            F.count(F.when(predicted & actual, 1)).alias("true_positives"),
            F.count(F.when(predicted & ~actual, 1)).alias("added"),
            F.count(F.when(~predicted & actual, 1)).alias("missed"),
            F.count(F.when(~predicted & ~actual, 1)).alias("true_negatives"),
        ).first()
    finally:
        scored.unpersist()
    return metrics, {k: int(row[k]) for k in ("true_positives", "added", "missed", "true_negatives")}


def with_gate_holdout(frame: DataFrame, key: tuple[str, ...], fraction: float) -> DataFrame:
    """``frame`` plus ``_gate_holdout``: the snapshot's hash holdout, computed per partition with
    the same function the gate uses."""
    from pyspark.sql.types import BooleanType, StructField, StructType

    from lakeside.snapshot import holdout_mask

    schema = StructType([*frame.schema.fields, StructField(HOLDOUT, BooleanType(), False)])

    def mark(batches):
        for batch in batches:
            yield batch.assign(**{HOLDOUT: holdout_mask(batch, key, fraction).to_numpy()})

    return frame.mapInPandas(mark, schema)


def spark_test_output(model, test: DataFrame):
    """Spark's prediction and probability of class 1 for every test row, as pandas (with the inputs)."""
    from pyspark.ml.functions import vector_to_array

    out = model.transform(test).select(*INPUTS, "prediction", vector_to_array("probability")[1].alias("p1"))
    return out.toPandas()


def export_mismatches(tree, spark_output) -> int:
    """Rows of the test split where the NumPy export's prediction differs from Spark's (or its
    probability of class 1 by more than 1e-9)."""
    import numpy as np

    if spark_output.empty:
        return 0
    leaves, _ = tree.leaves(tree.matrix(with_features(spark_output[list(INPUTS)])))
    probability = tree.probabilities(leaves)[:, 1]
    differs = (tree.prediction[leaves] != spark_output["prediction"].to_numpy()) | ~np.isclose(
        probability, spark_output["p1"].to_numpy(), rtol=0, atol=1e-9)
    return int(differs.sum())


# --- the trainer the retrain calls -----------------------------------------------------------

def train(use_case, snapshot, params: dict[str, Any], spark=None) -> dict[str, Any]:
    """The use case's trainer: ``(use_case, snapshot, params, spark) -> {"model_uri", "run_id", ...}``."""
    import mlflow

    from lakeside import tracking
    from lakeside.spark import get_spark
    from lakeside.tables import open_lake

    spark = spark or get_spark("fraud-train")
    config = TrainConfig.from_params(params)
    started = time.monotonic()
    table = open_lake(spark).table(snapshot.table)
    rows = with_spark_features(table.read(version=snapshot.version))
    rows = with_gate_holdout(rows, tuple(snapshot.key), snapshot.holdout_fraction)
    pool = rows.filter(~F.col(HOLDOUT)).drop(HOLDOUT).persist()  # the holdout's hash is computed once
    train_rows, test_rows = pool.randomSplit([1 - config.test_fraction, config.test_fraction], seed=config.split_seed)
    rule_versions = sorted(r[0] for r in pool.select("rule_version").distinct().collect())
    lineage = {"lakeside.table": snapshot.table, "lakeside.table_version": str(snapshot.version),
               "lakeside.table_uri": snapshot.uri, "rule_version": ",".join(rule_versions)}
    experiment = tracking.experiment_id(_experiment(use_case))  # not mlflow.set_experiment: process-wide state
    try:
        with mlflow.start_run(experiment_id=experiment, run_name=f"fraud_tree v{snapshot.version}",
                              tags=lineage) as parent:
            mlflow.log_params({"folds": config.folds, "grid_max_depth": list(config.max_depth),
                               "grid_max_bins": list(config.max_bins), "metric": "areaUnderPR",
                               "split_seed": config.split_seed, "tree_seed": config.seed,
                               "balance_seed": config.balance_seed, "test_fraction": config.test_fraction,
                               "rule_version": lineage["rule_version"], "table_version": snapshot.version})
            cv_started = time.monotonic()
            best, scores = cross_validate(train_rows, config)
            cv_seconds = time.monotonic() - cv_started
            depth, bins = best.stages[-1].getMaxDepth(), best.stages[-1].getMaxBins()
            mlflow.log_metrics({"cv_seconds": cv_seconds, "cv_best_area_under_pr": max(s[2] for s in scores)})
            mlflow.log_params({"best_max_depth": depth, "best_max_bins": bins})
            _log_grid(scores)
            balanced_rows = balanced(train_rows, config.balance_seed).persist()
            estimator, _ = pipeline(config, depth, bins)
            variants = [
                _variant("imbalanced", best, train_rows, test_rows),
                _variant("balanced", estimator.fit(balanced_rows), balanced_rows, test_rows),
            ]
            logged = {v.name: _log_variant(v, test_rows, lineage, depth, bins, config) for v in variants}
            balanced_rows.unpersist()
            chosen = max(variants, key=lambda v: v.metrics["test_area_under_pr"])
            table_md = comparison_table(variants)
            mlflow.log_text(table_md, "variants.md")
            mlflow.log_metrics({"seconds": time.monotonic() - started,
                                **{f"{v.name}_{k}": val for v in variants for k, val in v.metrics.items()}})
            mlflow.set_tags({"chosen_variant": chosen.name, "lakeside.trainer": "fraud_tree"})
    finally:
        pool.unpersist()
    log.info("fraud tree: chose %s\n%s", chosen.name, table_md)
    return {
        "parent_run_id": parent.info.run_id,
        "run_id": logged[chosen.name],
        "model_uri": f"runs:/{logged[chosen.name]}/model",
        "family": f"spark_decision_tree_{chosen.name}",
        "metrics": chosen.metrics,
        "variants": {v.name: {**v.metrics, **v.confusion, "export_mismatches": v.export_mismatches,
                              "train_rows": v.train_rows} for v in variants},
        "best_params": {"max_depth": depth, "max_bins": bins},
        "cv": [{"max_depth": d, "max_bins": b, "area_under_pr": m} for d, b, m in scores],
        "rule_version": lineage["rule_version"],
    }


def comparison_table(variants: list[Variant]) -> str:
    """The PR/ROC table of both variants, Markdown."""
    header = ("| variant | train rows | train PR | train ROC | test PR | test ROC | tp | added | missed | tn |"
              " export = Spark |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [header]
    for v in variants:
        m, c = v.metrics, v.confusion
        lines.append(f"| {v.name} | {v.train_rows} | {m['train_area_under_pr']:.4f} | {m['train_area_under_roc']:.4f} | "
                     f"{m['test_area_under_pr']:.4f} | {m['test_area_under_roc']:.4f} | {c['true_positives']} | "
                     f"{c['added']} | {c['missed']} | {c['true_negatives']} | "
                     f"{'yes' if v.export_mismatches == 0 else f'{v.export_mismatches} rows differ'} |")
    return "\n".join(lines)


def _variant(name: str, model, train_rows: DataFrame, test_rows: DataFrame) -> Variant:
    counts = train_rows.agg(F.count(F.lit(1)).alias("rows"), F.sum(LABEL).alias("positives")).first()
    variant = Variant(name, model, int(counts["rows"]), int(counts["positives"] or 0))
    train_metrics, _ = evaluate(model, train_rows, "train")
    test_metrics, confusion = evaluate(model, test_rows, "test")
    variant.metrics, variant.confusion = {**train_metrics, **test_metrics}, confusion
    return variant


def _log_variant(variant: Variant, test_rows: DataFrame, lineage: dict, depth: int, bins: int,
                 config: TrainConfig) -> str:
    """The variant's child run: params, metrics, plots, the tree and the exported pyfunc; its run id."""
    import mlflow

    from lakeside.usecases.fraud import export, plots

    experiment = mlflow.active_run().info.experiment_id
    with mlflow.start_run(experiment_id=experiment, run_name=variant.name, nested=True,
                          tags={**lineage, "variant": variant.name}) as run, \
            tempfile.TemporaryDirectory(prefix="fraud-tree-") as folder:
        mlflow.log_params({"variant": variant.name, "max_depth": depth, "max_bins": bins, "seed": config.seed,
                           "train_rows": variant.train_rows, "train_positives": variant.train_positives,
                           "balanced": variant.name == "balanced"})
        saved = Path(folder, "spark_pipeline")
        variant.model.write().overwrite().save(str(saved))
        tree = export.from_saved_pipeline(saved)
        variant.export_mismatches = export_mismatches(tree, spark_test_output(variant.model, test_rows))
        mlflow.log_metrics({**variant.metrics, **{f"test_{k}": v for k, v in variant.confusion.items()},
                            "export_mismatches": variant.export_mismatches, "tree_depth": tree.depth,
                            "tree_nodes": len(tree.feature)})
        if variant.export_mismatches:
            raise AssertionError(f"{variant.name}: the NumPy export differs from Spark on "
                                 f"{variant.export_mismatches} test rows")
        mlflow.log_artifacts(str(saved), "spark_pipeline")
        mlflow.log_text(variant.model.stages[-1].toDebugString, "tree/spark_debug_string.txt")
        mlflow.log_text(tree.to_text(), "tree/tree.txt")
        mlflow.log_figure(plots.confusion_matrix(variant.confusion, variant.name), "plots/confusion_matrix_test.png")
        mlflow.log_figure(plots.tree_picture(tree, variant.name), "plots/tree.png")
        _log_pyfunc(tree, Path(folder), test_rows)
        return run.info.run_id


def _log_pyfunc(tree, folder: Path, test_rows: DataFrame) -> None:
    import mlflow
    from mlflow.models import infer_signature

    from lakeside.usecases.fraud.export import TREE_FILE, TreePyfunc, answer

    path = folder / TREE_FILE
    path.write_text(json.dumps(tree.to_dict()))
    example = test_rows.select(*INPUTS).limit(5).toPandas()
    output = answer(tree, with_features(example))
    signature = infer_signature(example, output, params={"decision_path": False})
    mlflow.pyfunc.log_model(
        name="model", python_model=TreePyfunc(prepare="lakeside.usecases.fraud.features:with_features"),
        artifacts={"tree": str(path)}, signature=signature, input_example=example,
        metadata={"lakeside.task": "binary", "lakeside.classes": [0, 1], "lakeside.key": list(KEY),
                  "lakeside.categorical": list(CATEGORICAL)},
    )


def _log_grid(scores: list[tuple[int, int, float]]) -> None:
    import mlflow

    lines = ["max_depth,max_bins,cv_area_under_pr"] + [f"{d},{b},{m:.6f}" for d, b, m in scores]
    mlflow.log_text("\n".join(lines) + "\n", "cv_grid.csv")
    for d, b, m in scores:
        mlflow.log_metric(f"cv_area_under_pr_depth{d}_bins{b}", m)


def _experiment(use_case) -> str:
    from lakeside.retrain import model_name

    return model_name(use_case)
