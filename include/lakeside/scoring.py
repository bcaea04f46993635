"""Scoring a logged model on a pandas frame the way the gate needs it: values for regression,
class probabilities (in the order of the classes the model was trained on) for classification.

The model's flavour decides how: scikit-learn models give ``predict_proba``, Spark ML models the
``probability`` column (a local Spark session is started for them), other pyfuncs their
``predict`` output. The task and the class list are read from the model's MLflow metadata
(``lakeside.task``, ``lakeside.classes``, written by the model search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Scored:
    predictions: np.ndarray | None
    probabilities: np.ndarray | None
    classes: list[Any]


def input_columns(model_uri: str) -> list[str]:
    """The input columns of the model's signature; ValueError when it has none."""
    import mlflow

    signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None or not signature.inputs.has_input_names():
        raise ValueError(f"{model_uri} has no signature with named input columns; log it with a signature")
    return [str(name) for name in signature.inputs.input_names()]


def score(model_uri: str, frame: pd.DataFrame, task: str) -> Scored:
    """The model's output for ``frame`` (fed the columns of its signature)."""
    import mlflow

    info = mlflow.models.get_model_info(model_uri)
    features = frame[input_columns(model_uri)]
    if task not in ("binary", "multiclass"):
        model = mlflow.pyfunc.load_model(model_uri)
        return Scored(np.asarray(model.predict(features), dtype="float64").reshape(-1), None, [])
    classes = list((info.metadata or {}).get("lakeside.classes") or [])
    if not classes:
        raise ValueError(f"{model_uri} does not record its classes (metadata 'lakeside.classes'): "
                         "the gate cannot score its probabilities")
    if "sklearn" in info.flavors:
        from lakeside.automl.training import class_probabilities

        probabilities = class_probabilities(mlflow.sklearn.load_model(model_uri), features, classes)
    elif "spark" in info.flavors:
        probabilities = _spark_probabilities(model_uri, features)
    else:
        output = mlflow.pyfunc.load_model(model_uri).predict(features)
        if not (isinstance(output, pd.DataFrame) and [str(c) for c in output.columns] == [str(c) for c in classes]):
            raise ValueError(f"{model_uri}: a classifier pyfunc must answer one probability column per class {classes}")
        probabilities = output.to_numpy(dtype="float64")
    return Scored(None, probabilities, classes)


def _spark_probabilities(model_uri: str, features: pd.DataFrame) -> np.ndarray:
    import mlflow.spark

    from lakeside.automl.spark_ml import ROW, holdout_output
    from lakeside.spark import get_spark

    spark = get_spark("lakeside-scoring")
    model = mlflow.spark.load_model(model_uri)
    frame = spark.createDataFrame(features.assign(**{ROW: np.arange(len(features))}))
    return holdout_output(model, frame, classification=True)
