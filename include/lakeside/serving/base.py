"""What every Lakeside service class shares: the served model and its switch to a new version
(alias watch and ``POST /model/reload``), answer headers, ``GET /model``, metrics, 4xx answers
and the request guard.

A service class derives from :class:`ModelService`, defines its own ``POST /invocations`` and
``make_live``, and mounts :func:`admin_app` (one per class) for ``/model`` and
``/model/reload``. One service instance serves one registered model; several models are
several servers (:mod:`.deploy`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import bentoml
from fastapi import Depends, FastAPI
from starlette.responses import JSONResponse

from lakeside.config import ServingSettings, serving
from lakeside.serving import inference
from lakeside.serving.models import ModelRef, ServedModel, load, load_stored, resolve
from lakeside.serving.payloads import PayloadError
from lakeside.tracking import tracking_uri

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


@dataclass
class Live:
    """The served model and what feeds it (a batcher or a worker thread); replaced as a whole
    when the alias moves."""

    model: ServedModel
    runner: Any

    @property
    def headers(self) -> dict[str, str]:
        ref = self.model.ref
        return {"X-Model-Name": ref.name, "X-Model-Version": ref.version, "X-Model-Alias": ref.alias or ""}


def admin_app() -> FastAPI:
    """``GET /model`` and ``POST /model/reload`` for the service instance of this process."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/model")
    def model(service: Any = Depends(bentoml.get_current_service)) -> dict[str, Any]:
        """The model being served: registered name, version, alias, run, inputs, params."""
        return service.describe()

    @app.post("/model/reload")
    def reload(service: Any = Depends(bentoml.get_current_service)) -> dict[str, Any]:
        """Look up the alias in the registry now and switch if it moved."""
        service.check_alias()
        return service.describe()

    return app


class ModelService:
    """The shared part of the service classes (not a BentoML service by itself)."""

    kind: ClassVar[str]

    def __init__(self) -> None:
        self.settings: ServingSettings = serving()
        self.tracking_uri = tracking_uri()
        self._switch_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.live = self._live(self._first_model())
        self._stop = threading.Event()
        if self.settings.watch_s > 0 and self.tracking_uri:
            threading.Thread(target=self._watch, name="lakeside-alias-watch", daemon=True).start()

    def make_live(self, model: ServedModel) -> Live:
        raise NotImplementedError

    def retire(self, old: Live) -> None:
        """Let the old model finish the requests it holds, then let it go."""

    def describe(self) -> dict[str, Any]:
        return {**self.live.model.describe(), "service": self.kind, "watch_s": self.settings.watch_s}

    def refuse(self, error: PayloadError, live: Live) -> JSONResponse:
        rejected.labels(status=str(error.status)).inc()
        return JSONResponse(error.to_json(), status_code=error.status, headers=live.headers)

    def remember_loop(self) -> None:
        self._loop = self._loop or asyncio.get_running_loop()

    def __is_ready__(self) -> bool:
        return self.live is not None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()
        inference.close_active()

    def check_alias(self) -> bool:
        """Switch to the version the alias points at, if it moved; ``True`` when it switched.

        The new model is loaded beside the old one; requests already holding the old one finish
        on it.
        """
        with self._switch_lock:
            current = self.live.model.ref
            ref = resolve(current.name, self.settings.alias, self.tracking_uri)
            if ref.version == current.version:
                return False
            new = self._live(load(ref))
            old, self.live = self.live, new
        log.info("switched %s@%s from version %s to %s", ref.name, ref.alias, current.version, ref.version)
        self.retire(old)
        return True

    def _first_model(self) -> ServedModel:
        config = self.settings
        if config.model_tag:
            return load_stored(bentoml.models.get(config.model_tag), alias=config.alias)
        if not config.model:
            raise RuntimeError("no model to serve: set LAKESIDE_SERVE_MODEL (or LAKESIDE_SERVE_MODEL_TAG)")
        ref: ModelRef = resolve(config.model, config.alias, self.tracking_uri)
        return load(ref)

    def _live(self, model: ServedModel) -> Live:
        served_version.labels(model=model.ref.name).set(float(model.ref.version))
        return self.make_live(model)

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.watch_s):
            try:
                self.check_alias()
            except Exception as error:  # noqa: BLE001 - the registry may be down a while; keep serving
                log.warning("alias check failed (still serving version %s): %s", self.live.model.ref.version, error)
