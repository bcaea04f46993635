"""The model a service serves: a registered MLflow model version, imported into the BentoML
model store (``bentoml.mlflow.import_model``) with labels naming the registered model, the
version and the run, and loaded as an MLflow pyfunc.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from lakeside.serving.payloads import InputColumn, signature_columns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """Which registered model version, and under which alias it was found."""

    name: str
    version: str
    alias: str | None = None
    run_id: str | None = None

    @property
    def store_tag(self) -> str:
        """Its tag in the BentoML model store, e.g. ``loans_int_rate:v3``."""
        return f"{store_name(self.name)}:v{self.version}"

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def labels(self) -> dict[str, str]:
        return {"registered_model": self.name, "model_version": self.version, "alias": self.alias or "",
                "run_id": self.run_id or ""}


@dataclass
class ServedModel:
    """A loaded model and what it takes."""

    ref: ModelRef
    pyfunc: Any
    signature: list[InputColumn] | None
    extra: dict[str, Any] = field(default_factory=dict)

    def predict(self, columns: dict[str, list[Any]]) -> list[Any]:
        """Predictions for rows given column-wise (already checked against the signature)."""
        import pandas as pd

        frame = pd.DataFrame(columns)
        for spec in self.signature or ():
            if spec.type == "datetime":
                frame[spec.name] = pd.to_datetime(frame[spec.name])
        return as_json_list(self.pyfunc.predict(frame))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.ref.name, "version": self.ref.version, "alias": self.ref.alias, "run_id": self.ref.run_id,
            "store_tag": self.ref.store_tag, "model_uri": self.ref.uri,
            "inputs": [vars(c) for c in self.signature] if self.signature is not None else None,
        }


def store_name(registered_name: str) -> str:
    """A registered model name as a BentoML tag name (lower case, ``[a-z0-9_.-]``)."""
    return re.sub(r"[^a-z0-9_.-]", "_", registered_name.lower())


def resolve(name: str, alias: str, tracking_uri: str | None = None) -> ModelRef:
    """The version ``alias`` points at now, from the registry."""
    from mlflow import MlflowClient

    version = MlflowClient(tracking_uri).get_model_version_by_alias(name, alias)
    return ModelRef(name, str(version.version), alias, version.run_id)


def import_version(ref: ModelRef):
    """The version in the BentoML model store, imported from MLflow unless it is there already."""
    import bentoml

    try:
        return bentoml.models.get(ref.store_tag)
    except bentoml.exceptions.NotFound:
        pass
    log.info("importing %s into the BentoML model store as %s", ref.uri, ref.store_tag)
    return bentoml.mlflow.import_model(ref.store_tag, ref.uri, labels=ref.labels(),
                                       metadata={"model_uri": ref.uri})


def load(ref: ModelRef) -> ServedModel:
    """Import (if needed) and load ``ref``."""
    return load_stored(import_version(ref), alias=ref.alias)


def load_stored(bento_model, alias: str | None = None) -> ServedModel:
    """Load a model from the BentoML store (e.g. the one packed into a Bento)."""
    import bentoml

    labels = bento_model.info.labels
    ref = ModelRef(labels.get("registered_model", bento_model.tag.name),
                   labels.get("model_version", str(bento_model.tag.version).lstrip("v")),
                   alias or labels.get("alias") or None, labels.get("run_id") or None)
    pyfunc = bentoml.mlflow.load_model(bento_model)
    return ServedModel(ref, pyfunc, signature_columns(pyfunc.metadata.get_input_schema()))


def as_json_list(predictions: Any) -> list[Any]:
    """Predictions as JSON values, one per row (a dict per row for multi-output models)."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] == 1:
            return as_json_list(predictions.iloc[:, 0])
        return [{k: _scalar(v) for k, v in row.items()} for row in predictions.to_dict(orient="records")]
    if isinstance(predictions, pd.Series):
        predictions = predictions.to_numpy()
    if isinstance(predictions, np.ndarray):
        if predictions.ndim == 2 and predictions.shape[1] == 1:
            predictions = predictions[:, 0]
        return predictions.tolist()
    return [_scalar(v) for v in predictions]


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
