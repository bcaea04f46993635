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
              run_id: str, holdout: dict[str, float]) -> nbformat.NotebookNode:
    """The notebook reproducing one trial (``run_id``) whose logged holdout metrics are ``holdout``."""
    call = family.estimator(params, seed)
    spark = family.engine == "spark"
    if spark:
        call = with_label(call, data.target)
    cells = [
        new_markdown_cell(_introduction(family, data, run_id, holdout)),
        new_code_cell(_imports(spark)),
        new_code_cell(_data_cell(data, spark)),
        new_code_cell(_features_cell(family, data, spark)),
        new_code_cell(estimator_code(call)),
        new_code_cell(_fit_cell(spark)),
        new_code_cell(_metrics_cell(holdout["rmse"]), metadata={"tags": [RESULT_TAG]}),
    ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "lakeside": {"family": family.name, "run_id": run_id, "table": data.snapshot.table,
                     "table_version": data.snapshot.version, "logged_holdout_rmse": holdout["rmse"]},
    })
    nbformat.validate(notebook)
    return notebook


def _introduction(family: Family, data: SearchData, run_id: str, holdout: dict[str, float]) -> str:
    snapshot = data.snapshot
    return "\n".join([
        f"# {family.name}: {family.description}",
        "",
        f"The best `{family.name}` trial of a Lakeside model search (MLflow run `{run_id}`), as code.",
        (f"It trains on `{snapshot.table}` version {snapshot.version} (`{snapshot.uri}`) to predict "
         f"`{data.target}`, and should print the holdout RMSE the search logged: {holdout['rmse']!r} "
         f"(MAE {holdout['mae']!r}, R² {holdout['r2']!r})."),
        "",
        "Every cell is editable: change the features, the estimator or its parameters and run again.",
    ])


def _imports(spark: bool) -> str:
    if spark:
        return "\n".join([
            "import json", "", "import numpy as np", "from pyspark.ml import Pipeline", "",
            "from lakeside.automl.features import FeatureRoles",
            "from lakeside.automl.spark_ml import feature_stages",
            "from lakeside.snapshot import Snapshot, load, split",
            "from lakeside.spark import get_spark", "",
            'spark = get_spark("automl-notebook")',
        ])
    return "\n".join([
        "import json", "", "import numpy as np", "from sklearn.pipeline import Pipeline",
        "from threadpoolctl import threadpool_limits", "",
        "from lakeside.automl.features import FeatureRoles, build_preprocessor",
        "from lakeside.snapshot import Snapshot, load, split",
    ])


def _data_cell(data: SearchData, spark: bool) -> str:
    lines = [
        f"snapshot = {data.snapshot!r}",
        f"target = {data.target!r}",
        f"feature_columns = {data.feature_columns!r}",
        "",
        'frame = load(snapshot).sort_values(list(snapshot.key), kind="mergesort").reset_index(drop=True)',
        "frame = frame[frame[target].notna()].reset_index(drop=True)",
        "train, holdout = split(frame, snapshot)",
        'y_holdout = holdout[target].astype("float64").to_numpy()',
    ]
    if spark:
        lines += [
            "train_frame = spark.createDataFrame(train[feature_columns + [target]])",
            "holdout_frame = spark.createDataFrame(holdout[feature_columns])",
        ]
    else:
        lines += ['X_train, y_train = train[feature_columns], train[target].astype("float64").to_numpy()',
                  "X_holdout = holdout[feature_columns]"]
    return "\n".join(lines + ['print(f"{len(train)} training rows, {len(holdout)} holdout rows")'])


def _features_cell(family: Family, data: SearchData, spark: bool) -> str:
    fields = [f"    {f.name}={getattr(data.roles, f.name)!r}," for f in dataclasses.fields(data.roles)]
    roles = "roles = FeatureRoles(\n" + "\n".join(fields) + "\n)"
    if spark:
        return roles + "\nfeature_pipeline = feature_stages(roles)"
    return roles + f"\npreprocessor = build_preprocessor(roles, scale={family.scale!r})"


def _fit_cell(spark: bool) -> str:
    if spark:
        return "\n".join([
            "model = Pipeline(stages=feature_pipeline + [estimator]).fit(train_frame)",
            'predictions = model.transform(holdout_frame).select("prediction").toPandas()',
            'predicted = predictions["prediction"].to_numpy(dtype="float64")',
        ])
    return "\n".join([
        'model = Pipeline([("features", preprocessor), ("model", estimator)])',
        "with threadpool_limits(limits=1):",
        "    model.fit(X_train, y_train)",
        '    predicted = np.asarray(model.predict(X_holdout), dtype="float64")',
    ])


def _metrics_cell(logged_rmse: float) -> str:
    return "\n".join([
        "error = predicted - y_holdout",
        "holdout_rmse = float(np.sqrt(np.mean(error ** 2)))",
        "holdout_mae = float(np.mean(np.abs(error)))",
        f"logged_holdout_rmse = {logged_rmse!r}",
        'print(json.dumps({"holdout_rmse": holdout_rmse, "holdout_mae": holdout_mae,',
        '                  "logged_holdout_rmse": logged_holdout_rmse}))',
    ])


def estimator_code(call: Call) -> str:
    """The estimator cell's source (imports and the constructor call)."""
    return "\n".join(call.imports()) + f"\n\nestimator = {call.code()}"
