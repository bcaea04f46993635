"""``PyfuncService``: any MLflow pyfunc model (custom ``mlflow.pyfunc.PythonModel`` included),
served by BentoML.

    bentoml serve lakeside.serving.pyfunc_service:PyfuncService

``POST /invocations`` takes what the model's signature describes:

- tensors (``TensorSpec``): ``{"inputs": [[...], ...]}`` or ``{"inputs": {"name": [[...]]}}``,
  checked for shape and dtype;
- named columns: the four shapes of :mod:`.payloads` (``dataframe_split``,
  ``dataframe_records``, ``inputs`` records or columns, ``columns``/``data``), checked as the
  tabular service checks them;
- no signature (accepted; a warning is logged when the model loads): ``inputs`` arrays as
  numpy arrays, records as a DataFrame, ``dataframe_split``/``dataframe_records`` as a
  DataFrame, passed on unchecked.

``params`` are checked against the signature's params schema (an unknown name or a wrong type
is a 422 naming it) and passed to ``predict``. A model checks what a signature cannot say (a
count must not be negative) by raising :class:`~.payloads.PayloadError` from ``predict``: it
is answered with its status, field and row, like the service's own checks. Answers are ``{"predictions": ...}`` (a bare list
for the ``columns``/``data`` shape); problems ``{"error", "field", "row"}`` with a 4xx. One
request is predicted at a time, in a worker thread (models need not be thread-safe; requests
carry their own params, so they are not batched together). ``GET /model``, reload, headers,
metrics and the API key as in :mod:`.service`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import bentoml
from starlette.responses import JSONResponse

from lakeside.serving.base import Live, ModelService, admin_app, service_config
from lakeside.serving.guard import RequestGuard
from lakeside.serving.models import ServedModel, as_json
from lakeside.serving.payloads import LEGACY_SPLIT, PayloadError, parse
from lakeside.serving.tensors import check_params, free_inputs, tensor_inputs


@bentoml.service(**service_config("lakeside_pyfunc"))
@bentoml.asgi_app(admin_app(), path="/")
class PyfuncService(ModelService):
    kind = "pyfunc"

    @bentoml.api(route="/invocations")
    async def invocations(
        self,
        inputs: Any = None,
        params: dict[str, Any] | None = None,
        dataframe_split: dict[str, Any] | None = None,
        dataframe_records: list[dict[str, Any]] | None = None,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
    ) -> Any:
        """Predictions for ``inputs`` (arrays, named arrays or records) or a DataFrame shape, with
        optional ``params`` for the model's ``predict``; answered ``{"predictions": ...}``."""
        live = self.route()
        body = {"inputs": inputs, "dataframe_split": dataframe_split, "dataframe_records": dataframe_records,
                "columns": columns, "data": data}
        try:
            model_input, shape = self._model_input(live.model, body)
            checked = check_params(params, live.model.params_schema)
        except PayloadError as error:
            return self.refuse(error, live)
        started = time.perf_counter()
        try:
            predictions = await asyncio.get_running_loop().run_in_executor(
                live.runner, _predict, live.model, model_input, checked)
        except PayloadError as error:  # the model's own check of its input's values
            return self.refuse(error, live)
        except Exception as error:
            if getattr(error, "error_code", None) == "INVALID_PARAMETER_VALUE":  # MLflow's schema enforcement
                return self.refuse(PayloadError(str(getattr(error, "message", error))), live)
            raise
        self.answered(live, started, predictions, _count(model_input),
                      lambda model: _predict(model, model_input, checked))
        answer = predictions if shape == LEGACY_SPLIT else {"predictions": predictions}
        return JSONResponse(answer, headers=live.headers)

    def make_live(self, model: ServedModel) -> Live:
        return Live(model, concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakeside-pyfunc"))

    def _model_input(self, model: ServedModel, body: dict[str, Any]) -> tuple[Any, str]:
        max_rows = self.settings.max_rows
        schema = model.input_schema
        given = [key for key, value in body.items() if value is not None]
        if schema is not None and schema.is_tensor_spec():
            if given != ["inputs"]:
                raise PayloadError("this model takes tensors: send {\"inputs\": [[...], ...]}", status=400,
                                   field="inputs")
            return tensor_inputs(body["inputs"], schema, max_rows), "inputs"
        if model.signature is not None or given != ["inputs"]:
            rows = parse(body, model.signature, max_rows)
            return _frame(rows.columns, model), rows.shape
        return free_inputs(body["inputs"], max_rows), "inputs"


def _frame(columns: dict[str, list[Any]], model: ServedModel):
    import pandas as pd

    frame = pd.DataFrame(columns)
    for spec in model.signature or ():
        if not spec.required and frame[spec.name].isna().all():
            frame = frame.drop(columns=spec.name)  # an optional column the request left out stays out
        elif spec.type == "datetime":
            frame[spec.name] = pd.to_datetime(frame[spec.name])
    return frame


def _count(model_input: Any) -> int:
    """Rows of a model input (the first axis of an array, a frame's rows, a dict's first array)."""
    if isinstance(model_input, dict):
        model_input = next(iter(model_input.values()), [])
    try:
        return len(model_input)
    except TypeError:
        return 1


def _predict(model: ServedModel, model_input: Any, params: dict[str, Any] | None) -> Any:
    return as_json(model.pyfunc.predict(model_input, params=params))


PyfuncService.add_asgi_middleware(RequestGuard)
