"""``TabularService``: a registered model that takes named columns, served by BentoML.

    bentoml serve lakeside.serving.service:TabularService     # from include/, or
    bentoml serve <bento tag built by lakeside.serving.deploy>

Endpoints: ``POST /invocations`` (the four MLflow shapes and the Open Inference Protocol V2
body, see :mod:`.payloads`),
``GET /model`` (what is served), ``POST /model/reload`` (look up the alias now),
``GET /healthz`` ``/livez`` ``/readyz``, ``GET /metrics`` (Prometheus), ``/docs`` (OpenAPI).
Every answer carries ``X-Request-ID`` and the ``X-Model-Name/-Version/-Alias`` that answered it
(with a traffic split, the alias the request was routed to). Rows are checked against the
signature, then predicted with adaptive batching; with shadow scoring a share of them is scored
again by the shadow alias after the answer (:mod:`.shadow`).

Settings: :func:`lakeside.config.serving` (``LAKESIDE_SERVE_MODEL``, ``LAKESIDE_SERVE_ALIAS``,
``LAKESIDE_SERVE_MODEL_TAG``, ``LAKESIDE_SERVE_WATCH_S``, the API key, the limits) and
``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import bentoml
from starlette.responses import JSONResponse

from lakeside.serving.base import Live, ModelService, admin_app, batch_requests, batch_rows, service_config
from lakeside.serving.batching import AdaptiveBatcher
from lakeside.serving.guard import RequestGuard
from lakeside.serving.models import ServedModel
from lakeside.serving.payloads import LEGACY_SPLIT, OIP_V2, PayloadError, Rows, oip_answer, parse


@bentoml.service(**service_config("lakeside"))
@bentoml.asgi_app(admin_app(), path="/")
class TabularService(ModelService):
    kind = "tabular"

    @bentoml.api(route="/invocations")
    async def invocations(
        self,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
        dataframe_split: dict[str, Any] | None = None,
        dataframe_records: list[dict[str, Any]] | None = None,
        inputs: Any = None,
        params: dict[str, Any] | None = None,
        id: str | None = None,  # noqa: A002 - the Open Inference Protocol's field name
        parameters: dict[str, Any] | None = None,
    ) -> Any:
        """Predictions for the rows sent in one of five shapes: ``{"columns", "data"}`` (answered
        with a bare list), ``dataframe_split``, ``dataframe_records`` or ``inputs`` (answered
        with ``{"predictions": [...]}``), or an Open Inference Protocol V2 body
        (``{"inputs": [{"name", "shape", "datatype", "data"}]}``, answered with ``outputs``).
        Rows are checked against the model's signature: a problem is answered 4xx with
        ``{"error", "field", "row"}``. Under the ``lenient`` unknown-column policy, columns the
        model does not take are dropped and named in ``X-Dropped-Columns`` (and
        ``dropped_columns`` of an object answer)."""
        self.remember_loop()
        live = self.route()
        body = {"columns": columns, "data": data, "dataframe_split": dataframe_split,
                "dataframe_records": dataframe_records, "inputs": inputs}
        try:
            rows = parse(body, live.model.signature, self.settings.max_rows, self.settings.unknown_columns)
            live.model.check(rows)
        except PayloadError as error:
            return self.refuse(error, live)
        started = time.perf_counter()
        predictions = await live.runner.predict(rows.columns, rows.count)
        self.answered(live, started, predictions, rows.count, lambda model: model.predict(rows.columns), rows.columns)
        return self.answer(rows, predictions, live, id)

    def answer(self, rows: Rows, predictions: list[Any], live: Live, request_id: str | None) -> JSONResponse:
        """The answer in the shape the request came in."""
        headers = dict(live.headers)
        if rows.shape == LEGACY_SPLIT:
            answer: Any = predictions
        elif rows.shape == OIP_V2:
            ref = live.model.ref
            answer = oip_answer(predictions, ref.name, ref.version, request_id)
        else:
            answer = {"predictions": predictions}
        if rows.dropped:
            headers["X-Dropped-Columns"] = ",".join(rows.dropped)
            if isinstance(answer, dict):
                answer["dropped_columns"] = rows.dropped
        return JSONResponse(answer, headers=headers)

    def make_live(self, model: ServedModel) -> Live:
        def observe(rows: int, requests: int) -> None:
            batch_rows.observe(rows)
            batch_requests.observe(requests)

        if self.settings.predict_in == "process":
            from lakeside.serving import worker

            return Live(model, AdaptiveBatcher(worker.predict, self.settings.max_batch_rows, observe,
                                               executor=worker.start(model.ref.store_tag, model.ref.alias)))
        return Live(model, AdaptiveBatcher(model.predict, self.settings.max_batch_rows, observe))

    def retire(self, old: Live) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(old.runner.retire(), self._loop)


TabularService.add_asgi_middleware(RequestGuard)
