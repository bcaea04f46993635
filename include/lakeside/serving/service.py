"""Lakeside's prediction service: any registered MLflow model, served by BentoML.

    bentoml serve lakeside.serving.service:Predictor          # from include/, or
    bentoml serve <bento tag built by lakeside.serving.deploy>

Endpoints: ``POST /invocations`` (the four MLflow shapes, see :mod:`.payloads`),
``GET /model`` (what is served), ``POST /model/reload`` (look up the alias now),
``GET /healthz`` ``/livez`` ``/readyz``, ``GET /metrics`` (Prometheus), ``/docs`` (OpenAPI).
Every answer carries ``X-Request-ID`` and the ``X-Model-Name/-Version/-Alias`` served.

Configuration (environment): ``LAKESIDE_SERVE_MODEL`` (registered name), ``LAKESIDE_SERVE_ALIAS``
(``champion``), ``LAKESIDE_SERVE_MODEL_TAG`` (a BentoML store tag to start from, set in Bentos),
``LAKESIDE_SERVE_WATCH_S`` (how often to look up the alias; 0: never), ``LAKESIDE_SERVE_API_KEY``
or ``LAKESIDE_SERVE_API_KEY_FILE`` (when set, requests need ``Authorization: Bearer <key>`` or
``X-API-Key``; probes, metrics and docs stay open),
``LAKESIDE_SERVE_MAX_ROWS``, ``LAKESIDE_SERVE_MAX_BATCH_ROWS``, ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

import bentoml
from fastapi import FastAPI
from starlette.responses import JSONResponse

from lakeside.serving import ServeSettings, serve_settings
from lakeside.serving.batching import AdaptiveBatcher
from lakeside.serving.guard import RequestGuard
from lakeside.serving.models import ModelRef, ServedModel, load, load_stored, resolve
from lakeside.serving.payloads import LEGACY_SPLIT, PayloadError, parse

log = logging.getLogger("bentoml.lakeside")

batch_rows = bentoml.metrics.Histogram(
    name="lakeside_batch_rows", documentation="Rows per model call (adaptive batching).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
batch_requests = bentoml.metrics.Histogram(
    name="lakeside_batch_requests", documentation="Requests per model call (adaptive batching).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
rejected = bentoml.metrics.Counter(
    name="lakeside_rejected_requests", documentation="Requests answered 4xx, by status.", labelnames=["status"],
)
served_version = bentoml.metrics.Gauge(
    name="lakeside_served_model_version", documentation="The registered model version being served.",
    labelnames=["model"],
)

admin = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@dataclass
class Live:
    """The served model and its batcher; replaced as a whole when the alias moves."""

    model: ServedModel
    batcher: AdaptiveBatcher

    @property
    def headers(self) -> dict[str, str]:
        ref = self.model.ref
        return {"X-Model-Name": ref.name, "X-Model-Version": ref.version, "X-Model-Alias": ref.alias or ""}


@bentoml.service(name="lakeside", traffic={"timeout": 60}, http={"cors": {"enabled": False}})
@bentoml.asgi_app(admin, path="/")
class Predictor:
    def __init__(self) -> None:
        self.settings: ServeSettings = serve_settings()
        self._switch_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.live = self._live(self._first_model())
        self._stop = threading.Event()
        if self.settings.watch_s > 0 and self.settings.tracking_uri:
            threading.Thread(target=self._watch, name="lakeside-alias-watch", daemon=True).start()

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
        self._loop = self._loop or asyncio.get_running_loop()
        live = self.live
        body = {"columns": columns, "data": data, "dataframe_split": dataframe_split,
                "dataframe_records": dataframe_records, "inputs": inputs}
        try:
            rows = parse(body, live.model.signature, self.settings.max_rows)
        except PayloadError as error:
            rejected.labels(status=str(error.status)).inc()
            return JSONResponse(error.to_json(), status_code=error.status, headers=live.headers)
        predictions = await live.batcher.predict(rows.columns, rows.count)
        answer = predictions if rows.shape == LEGACY_SPLIT else {"predictions": predictions}
        return JSONResponse(answer, headers=live.headers)

    @admin.get("/model")
    def model(self) -> dict[str, Any]:
        """The model being served: registered name, version, alias, run, input columns."""
        return {**self.live.model.describe(), "watch_s": self.settings.watch_s}

    @admin.post("/model/reload")
    def reload(self) -> dict[str, Any]:
        """Look up the alias in the registry now and switch if it moved."""
        self.check_alias()
        return self.model()

    def __is_ready__(self) -> bool:
        return self.live is not None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()

    def check_alias(self) -> bool:
        """Switch to the version the alias points at, if it moved; ``True`` when it switched.

        The new model is loaded beside the old one; requests already holding the old one finish
        on it, and its batcher is retired once its queue is empty.
        """
        with self._switch_lock:
            current = self.live.model.ref
            ref = resolve(self.settings.model_name, self.settings.alias, self.settings.tracking_uri)
            if ref.version == current.version and ref.name == current.name:
                return False
            new = self._live(load(ref))
            old, self.live = self.live, new
        log.info("switched %s@%s from version %s to %s", ref.name, ref.alias, current.version, ref.version)
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(old.batcher.retire(), self._loop)
        return True

    def _first_model(self) -> ServedModel:
        config = self.settings
        if config.model_tag:
            return load_stored(bentoml.models.get(config.model_tag), alias=config.alias)
        if not config.tracking_uri:
            raise RuntimeError("no model to serve: set LAKESIDE_SERVE_MODEL_TAG or MLFLOW_TRACKING_URI")
        ref: ModelRef = resolve(config.model_name, config.alias, config.tracking_uri)
        return load(ref)

    def _live(self, model: ServedModel) -> Live:
        served_version.labels(model=model.ref.name).set(float(model.ref.version))

        def observe(rows: int, requests: int) -> None:
            batch_rows.observe(rows)
            batch_requests.observe(requests)

        return Live(model, AdaptiveBatcher(model.predict, self.settings.max_batch_rows, observe))

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.watch_s):
            try:
                self.check_alias()
            except Exception as error:  # noqa: BLE001 - the registry may be down a while; keep serving
                log.warning("alias check failed (still serving version %s): %s", self.live.model.ref.version, error)


Predictor.add_asgi_middleware(RequestGuard)
