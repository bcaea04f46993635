"""Tiny registered models for the serving tests, logged into the session's MLflow server:
a linear regressor on named columns (``tabular``), a custom ``mlflow.pyfunc.PythonModel`` on a
(-1, 3) float tensor with a ``factor`` param (``pyfunc``), and the same custom model logged
without a signature. Each is registered, tagged ``lakeside.service_kind`` and made ``champion``.

The e2e tests load this file by path (the test tree is not a package).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

KIND_TAG = "lakeside.service_kind"
COLUMNS = ["size", "rooms"]
EXPERIMENT = "lakeside-tests-serving"

PYFUNC_CODE = '''
import mlflow
import numpy as np


class RowSums(mlflow.pyfunc.PythonModel):
    """Each row's sum times the ``factor`` param (1.0 unless given)."""

    def predict(self, context, model_input, params=None):
        factor = float((params or {}).get("factor", 1.0))
        return np.asarray(model_input, dtype="float64").sum(axis=1) * factor


mlflow.models.set_model(RowSums())
'''


def linear_prediction(rows: list[list[float]], slope: float) -> list[float]:
    """What the tabular model answers: ``slope * size + 10 * rooms``."""
    return [slope * size + 10 * rooms for size, rooms in rows]


def register_tabular(name: str, slope: float = 2.0) -> str:
    """A linear regressor ``slope * size + 10 * rooms`` on two double columns; its version."""
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "rooms": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]})
    target = slope * frame["size"] + 10 * frame["rooms"]
    model = LinearRegression().fit(frame, target)
    signature = mlflow.models.infer_signature(frame, model.predict(frame))
    with mlflow.start_run(experiment_id=_experiment()):
        info = mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=frame.head(2),
                                        registered_model_name=name)
    return _champion(name, info.registered_model_version, "tabular")


def register_pyfunc(name: str, signature: bool = True) -> str:
    """The custom row-sum model (tensor (-1, 3) float64, param ``factor``); its version."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec, Schema, TensorSpec

    code = Path(tempfile.mkdtemp(prefix="lakeside-pyfunc-")) / "row_sums.py"
    code.write_text(PYFUNC_CODE)
    extra = {}
    if signature:
        extra["signature"] = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype("float64"), (-1, 3))]),
            outputs=Schema([TensorSpec(np.dtype("float64"), (-1,))]),
            params=ParamSchema([ParamSpec("factor", "double", 1.0)]),
        )
        extra["input_example"] = np.array([[1.0, 2.0, 3.0]])
    with mlflow.start_run(experiment_id=_experiment()):
        info = mlflow.pyfunc.log_model(name="model", python_model=str(code), registered_model_name=name,
                                       pip_requirements=["mlflow", "numpy"], **extra)
    return _champion(name, info.registered_model_version, "pyfunc")


def _champion(name: str, version, kind: str) -> str:
    client = MlflowClient()
    client.set_registered_model_tag(name, KIND_TAG, kind)
    client.set_registered_model_alias(name, "champion", str(version))
    return str(version)


def _experiment() -> str:
    from lakeside.tracking import experiment_id

    return experiment_id(EXPERIMENT)


def register_awkward_columns(name: str) -> str:
    """A scikit-learn pipeline on columns named by the integers ``0`` and ``7``: ``0`` a pandas
    nullable integer column (signature ``long``, optional; a missing value is imputed with the
    training mean 2), ``7`` a double; the prediction is their sum. Its version."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    frame = pd.DataFrame({0: pd.array([1, 2, None, 3], dtype="Int64"), 7: [1.0, 0.0, 2.0, 5.0]})
    target = frame[0].astype("float64").fillna(2.0) + frame[7]
    model = make_pipeline(SimpleImputer(), LinearRegression()).fit(frame.astype("float64"), target)
    signature = mlflow.models.infer_signature(frame, target.to_numpy())
    with mlflow.start_run(experiment_id=_experiment()):
        info = mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=frame.head(2),
                                        serialization_format="cloudpickle", registered_model_name=name)
    return _champion(name, info.registered_model_version, "tabular")
