"""Glass-box notebooks: a family's best trial as editable code that reproduces it.

The notebook loads the same table version, orders, filters and splits the rows as the search
did (:mod:`.data`), builds the same feature roles and the estimator from the same
:class:`~lakeside.automl.families.Call` (written out with literal parameters), fits under the
same thread limit and prints its holdout RMSE next to the one the search logged. The cell
tagged ``holdout-metrics`` prints them as one JSON line.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lakeside.automl.data import SearchData
from lakeside.automl.families import Call, Family
from lakeside.automl.spark_ml import with_label

RESULT_TAG = "holdout-metrics"


def glass_box(family: Family, params: dict[str, Any], seed: int, data: SearchData, *,
              run_id: str, holdout: dict[str, float], metric: str = "rmse") -> nbformat.NotebookNode:
    """The notebook reproducing one trial (``run_id``) whose logged holdout metrics are ``holdout``."""
    call = family.estimator(params, seed, data.task, data.balance)
    spark = family.engine == "spark"
    if spark:
        call = with_label(call, data.target, data.task)
    cells = [
        new_markdown_cell(_introduction(family, data, run_id, holdout, metric)),
        new_code_cell(_imports(spark)),
        new_code_cell(_data_cell(data, spark, family)),
        new_code_cell(_features_cell(family, data, spark)),
        new_code_cell(estimator_code(call)),
        new_code_cell(_fit_cell(spark, data.is_classification)),
        new_code_cell(_metrics_cell(data, metric, holdout[metric]), metadata={"tags": [RESULT_TAG]}),
    ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "lakeside": {"family": family.name, "run_id": run_id, "table": data.snapshot.table, "task": data.task,
                     "table_version": data.snapshot.version, "metric": metric,
                     f"logged_holdout_{metric}": holdout[metric]},
    })
    nbformat.validate(notebook)
    return notebook


def _introduction(family: Family, data: SearchData, run_id: str, holdout: dict[str, float], metric: str) -> str:
    snapshot = data.snapshot
    others = ", ".join(f"{name} {value!r}" for name, value in holdout.items() if name != metric)
    return "\n".join([
        f"# {family.name}: {family.description}",
        "",
        f"The best `{family.name}` trial of a Lakeside model search (MLflow run `{run_id}`), as code.",
        (f"It trains on `{snapshot.table}` version {snapshot.version} (`{snapshot.uri}`) to predict "
         f"`{data.target}` ({data.task}), and should print the holdout {metric} the search logged: "
         f"{holdout[metric]!r} ({others})."),
        "",
        "Every cell is editable: change the features, the estimator or its parameters and run again.",
    ])


def _imports(spark: bool) -> str:
    common = [
        "import json", "", "import numpy as np", "",
        "from lakeside import metrics",
        "from lakeside.automl.data import canonical_rows, capped_rows, target_values, undersample",
        "from lakeside.automl.features import FeatureRoles",
        "from lakeside.snapshot import Snapshot, load, split",
    ]
    if spark:
        return "\n".join([
            *common, "from pyspark.ml import Pipeline",
            "from lakeside.automl.spark_ml import ROW, feature_stages, holdout_output, label_stages, training_columns",
            "from lakeside.spark import get_spark", "",
            'spark = get_spark("automl-notebook")',
        ])
    return "\n".join([
        *common, "from sklearn.pipeline import Pipeline", "from threadpoolctl import threadpool_limits",
        "from lakeside.automl.features import build_preprocessor",
        "from lakeside.automl.training import class_probabilities",
    ])


def _data_cell(data: SearchData, spark: bool, family: Family) -> str:
    lines = [
        f"snapshot = {data.snapshot!r}",
        f"target = {data.target!r}",
        f"task = {data.task!r}",
        f"classes = {list(data.classes)!r}",
        f"feature_columns = {data.feature_columns!r}",
        "",
        "frame = canonical_rows(load(snapshot), snapshot, target, task=task)",
        "train, holdout = split(frame, snapshot)",
        "fit_rows = np.arange(len(train))",
    ]
    if data.balance == "undersample":
        lines.append(f"fit_rows = undersample(fit_rows, target_values(train, target, task)[fit_rows], seed={data.seed!r})")
    if family.max_train_rows is not None and len(data.train) > family.max_train_rows:
        lines.append(f"fit_rows = capped_rows(fit_rows, {family.max_train_rows!r}, seed={data.seed!r})  "
                     f"# {family.name} fits on at most {family.max_train_rows} rows")
    lines += [
        "y_train = target_values(train, target, task)[fit_rows]",
        "y_holdout = target_values(holdout, target, task)",
    ]
    if spark:
        lines += [
            "train_rows = training_columns(train.iloc[fit_rows][feature_columns + [target]], target, classes, train[target])",
            "train_frame = spark.createDataFrame(train_rows)",
            "holdout_frame = spark.createDataFrame(holdout[feature_columns].assign(**{ROW: np.arange(len(holdout))}))",
        ]
    else:
        lines += ["X_train = train[feature_columns].iloc[fit_rows]", "X_holdout = holdout[feature_columns]"]
    return "\n".join(lines + ['print(f"{len(fit_rows)} training rows, {len(holdout)} holdout rows")'])


def _features_cell(family: Family, data: SearchData, spark: bool) -> str:
    fields = [f"    {f.name}={getattr(data.roles, f.name)!r}," for f in dataclasses.fields(data.roles)]
    roles = "roles = FeatureRoles(\n" + "\n".join(fields) + "\n)"
    if spark:
        return roles + "\nfeature_pipeline = feature_stages(roles)"
    return roles + f"\npreprocessor = build_preprocessor(roles, scale={family.scale!r})"


def _fit_cell(spark: bool, classification: bool) -> str:
    if spark:
        tail = " + label_stages(classes)" if classification else ""
        return "\n".join([
            f"model = Pipeline(stages=feature_pipeline + [estimator]{tail}).fit(train_frame)",
            f"output = holdout_output(model, holdout_frame, classification={classification!r})",
        ])
    predict = ("    output = class_probabilities(model, X_holdout, classes)" if classification else
               '    output = np.asarray(model.predict(X_holdout), dtype="float64")')
    return "\n".join([
        'model = Pipeline([("features", preprocessor), ("model", estimator)])',
        "with threadpool_limits(limits=1):",
        "    model.fit(X_train, y_train)",
        predict,
    ])


def _metrics_cell(data: SearchData, metric: str, logged: float) -> str:
    given = ("probabilities=output, classes=classes" if data.is_classification else "predicted=output")
    return "\n".join([
        f"holdout_metrics = metrics.compute(task, y_holdout, {given},",
        f"                                  positive={data.positive!r}, threshold={data.threshold!r})",
        f"logged_holdout_{metric} = {logged!r}",
        "print(json.dumps({**{f\"holdout_{name}\": value for name, value in holdout_metrics.items()},",
        f"                  \"logged_holdout_{metric}\": logged_holdout_{metric}}}))",
    ])


def estimator_code(call: Call) -> str:
    """The estimator cell's source (imports and the constructor call)."""
    return "\n".join(call.imports()) + f"\n\nestimator = {call.code()}"
