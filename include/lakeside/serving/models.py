"""The model a service serves: a registered MLflow model version, imported into the BentoML
model store (``bentoml.mlflow.import_model``) with labels naming the registered model, the
version and the run, and loaded as an MLflow pyfunc.

Which service class serves it is the registered model's tag ``lakeside.service_kind``
(``tabular``, ``pyfunc`` or ``image``); without the tag, ``tabular`` when the version's signature has
named columns, else ``pyfunc`` (:func:`service_kind`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from lakeside.serving.payloads import InputColumn, PayloadError, Rows, missing_integers, signature_columns, to_frame

log = logging.getLogger("bentoml.lakeside")

KIND_TAG = "lakeside.service_kind"
SERVICES = {
    "tabular": "lakeside.serving.service:TabularService",
    "pyfunc": "lakeside.serving.pyfunc_service:PyfuncService",
    "image": "lakeside.serving.image_service:ImageService",
}


@dataclass(frozen=True)
class ModelRef:
    """Which registered model version, and under which alias it was found."""

    name: str
    version: str
    alias: str | None = None
    run_id: str | None = None

    @property
    def store_tag(self) -> str:
        """Its tag in the BentoML model store, e.g. ``sales_forecast:v3``."""
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

    @property
    def metadata(self):
        return self.pyfunc.metadata

    @property
    def has_signature(self) -> bool:
        return self.metadata.signature is not None

    @property
    def input_schema(self):
        return self.metadata.get_input_schema()

    @property
    def params_schema(self):
        return self.metadata.get_params_schema()

    @property
    def takes_missing_integers(self) -> bool:
        """MLflow's schema check refuses a missing value in an integer column; a scikit-learn
        model is then called directly, with the column as float (NaN), which its imputers take."""
        return "sklearn" in self.metadata.flavors

    def check(self, rows: Rows) -> None:
        """Refuse (422, naming field and row) what parses but this model cannot take."""
        if self.takes_missing_integers:
            return
        for spec in self.signature or ():
            if spec.type in ("long", "integer") and None in rows.columns[spec.name]:
                raise PayloadError(
                    f"{spec.name!r} has a missing value; the model's signature declares it an integer column "
                    "and its flavour cannot take missing integers (log it with the column as double)",
                    field=spec.name, row=rows.columns[spec.name].index(None))

    def predict(self, columns: dict[str, list[Any]]) -> list[Any]:
        """Predictions for rows given column-wise (already checked against the signature)."""
        frame = to_frame(columns, self.signature)
        holes = missing_integers(frame, self.signature)
        if holes and self.takes_missing_integers:
            keys = [spec.frame_key for spec in self.signature if spec.name in holes]
            frame = frame.astype({key: "float64" for key in keys})
            return as_json_list(self.pyfunc.get_raw_model().predict(frame))
        return as_json_list(self.pyfunc.predict(frame))

    def describe(self) -> dict[str, Any]:
        schema, params = self.input_schema, self.params_schema
        if self.signature is not None:
            inputs = [vars(c) for c in self.signature]
        else:
            inputs = schema.to_dict() if schema is not None else None
        return {
            "name": self.ref.name, "version": self.ref.version, "alias": self.ref.alias, "run_id": self.ref.run_id,
            "store_tag": self.ref.store_tag, "model_uri": self.ref.uri, "inputs": inputs,
            "params": params.to_dict() if params is not None else None,
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
    if pyfunc.metadata.signature is None:
        log.warning("%s version %s was logged without a signature: its requests reach the model unchecked",
                    ref.name, ref.version)
    return ServedModel(ref, pyfunc, signature_columns(pyfunc.metadata.get_input_schema()))


def service_kind(name: str, version: str, tracking_uri: str | None = None) -> str:
    """The registered model's ``lakeside.service_kind`` tag, else guessed from the version's
    signature: ``tabular`` for named columns, ``pyfunc`` otherwise."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    kind = MlflowClient(tracking_uri).get_registered_model(name).tags.get(KIND_TAG)
    if kind is None:
        mlmodel = download_artifacts(artifact_uri=f"models:/{name}/{version}/MLmodel", tracking_uri=tracking_uri)
        signature = Model.load(mlmodel).signature
        schema = signature.inputs if signature is not None else None
        named_columns = schema is not None and schema.has_input_names() and not schema.is_tensor_spec()
        kind = "tabular" if named_columns else "pyfunc"
    if kind not in SERVICES:
        raise ValueError(f"{name}: tag {KIND_TAG}={kind!r} names no service; known kinds: {sorted(SERVICES)}")
    return kind


def as_json(value: Any) -> Any:
    """Any model output as JSON values: arrays and frames as (nested) lists, frames of several
    columns as records, dicts value by value."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (pd.DataFrame, pd.Series)):
        return as_json_list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return _scalar(value)


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
