"""``TabularService``: a registered model that takes named columns, served by BentoML.

    bentoml serve lakeside.serving.service:TabularService     # from include/, or
    bentoml serve <bento tag built by lakeside.serving.deploy>

Endpoints: ``POST /invocations`` (the four MLflow shapes, see :mod:`.payloads`),
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

from lakeside.serving.base import Live, ModelService, admin_app, batch_requests, batch_rows
from lakeside.serving.batching import AdaptiveBatcher
from lakeside.serving.guard import RequestGuard
from lakeside.serving.models import ServedModel
from lakeside.serving.payloads import LEGACY_SPLIT, PayloadError, parse


@bentoml.service(name="lakeside", traffic={"timeout": 60}, http={"cors": {"enabled": False}})
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
    ) -> Any:
        """Predictions for the rows sent in one of four shapes: ``{"columns", "data"}`` (answered
        with a bare list), ``dataframe_split``, ``dataframe_records`` or ``inputs`` (answered
        with ``{"predictions": [...]}``). Rows are checked against the model's signature: a
        problem is answered 4xx with ``{"error", "field", "row"}``."""
        self.remember_loop()
        live = self.route()
        body = {"columns": columns, "data": data, "dataframe_split": dataframe_split,
                "dataframe_records": dataframe_records, "inputs": inputs}
        try:
            rows = parse(body, live.model.signature, self.settings.max_rows)
        except PayloadError as error:
            return self.refuse(error, live)
        started = time.perf_counter()
        predictions = await live.runner.predict(rows.columns, rows.count)
        self.answered(live, started, predictions, rows.count, lambda model: model.predict(rows.columns), rows.columns)
        answer = predictions if rows.shape == LEGACY_SPLIT else {"predictions": predictions}
        return JSONResponse(answer, headers=live.headers)

    def make_live(self, model: ServedModel) -> Live:
        def observe(rows: int, requests: int) -> None:
            batch_rows.observe(rows)
            batch_requests.observe(requests)

        return Live(model, AdaptiveBatcher(model.predict, self.settings.max_batch_rows, observe))

    def retire(self, old: Live) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(old.runner.retire(), self._loop)


TabularService.add_asgi_middleware(RequestGuard)
