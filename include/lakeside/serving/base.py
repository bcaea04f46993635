"""What every Lakeside service class shares: the served model and its switch to a new version
(alias watch and ``POST /model/reload``), answer headers, ``GET /model``, metrics, 4xx answers
and the request guard.

A service class derives from :class:`ModelService`, defines its own ``POST /invocations`` and
``make_live``, and mounts :func:`admin_app` (one per class) for ``/model`` and
``/model/reload``. One service instance serves one registered model; several models are
several servers (:mod:`.deploy`).

One model, several aliases: with a traffic split (:mod:`.traffic`) a request goes to the alias
:meth:`ModelService.route` picks, and with shadow scoring (:mod:`.shadow`)
:meth:`ModelService.answered` offers a share of the answered requests to the shadow alias. Each
alias is a :class:`Live` of its own, switched when its alias moves; the served alias
(``LAKESIDE_SERVE_ALIAS``) stays ``self.live``, the others are ``self.lanes``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import bentoml
from fastapi import Depends, FastAPI
from starlette.responses import JSONResponse

from lakeside.config import ServingSettings, serving
from lakeside.serving import inference, shadow, traffic
from lakeside.serving.guard import current_request
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
served_alias_version = bentoml.metrics.Gauge(
    name="lakeside_served_alias_version", documentation="The version each served alias points at (split, shadow).",
    labelnames=["model", "alias"],
)
answered_requests = bentoml.metrics.Counter(
    name="lakeside_answered_requests", documentation="Requests predicted, by the version and alias that answered.",
    labelnames=["model", "version", "alias"],
)
prediction_seconds = bentoml.metrics.Histogram(
    name="lakeside_prediction_seconds", documentation="The model step of a request (batching included), by version.",
    labelnames=["model", "version", "alias"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between two collections of the young generation once the heap is settled
(Python's default: 700; the older generations are collected every 20 collections of the one
below, against 10). With the default and an unfrozen heap, a compiled loans model answered
793 requests/s at concurrency 32 with a p99 of 75-257 ms; frozen and at 20,000, 951 requests/s
and 48 ms (bench/serving_throughput.py)."""


def settle_heap() -> None:
    """Freeze what is alive now (the libraries, the loaded models) out of the garbage collector's
    reach and collect the young generation less often.

    A served model lives for hours, but without this each full collection walks every object of
    BentoML, pandas and the model again: a pause that all requests in flight wait for, which
    was most of the tail at concurrency 32. Called once the models are loaded and again after a
    switch (unfrozen first, so the retired model can be collected; what it still holds at that
    moment is freed by reference counting).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 20, 20)


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


def service_config(name: str) -> dict[str, Any]:
    """The ``@bentoml.service`` settings every Lakeside service shares. BentoML's access log is
    off: the request guard writes the access line, with the request id (:mod:`.guard`)."""
    return {"name": name, "traffic": {"timeout": 60}, "http": {"cors": {"enabled": False}},
            "logging": {"access": {"enabled": False}}}


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
        self.lanes: dict[str, Live] = {}
        self.split: traffic.Split | None = None
        self.missing: list[str] = []
        self.shadow: shadow.ShadowScorer | None = None
        if self.settings.shadow_share > 0:
            self.shadow = shadow.ShadowScorer(shadow.active_log, self.settings.shadow_timeout_s,
                                              self.settings.shadow_queue, self.settings.max_batch_rows)
        self._arrange(starting=True)
        self._stop = threading.Event()
        if self.settings.watch_s > 0 and self.tracking_uri:
            threading.Thread(target=self._watch, name="lakeside-alias-watch", daemon=True).start()
        settle_heap()

    def make_live(self, model: ServedModel) -> Live:
        raise NotImplementedError

    def retire(self, old: Live) -> None:
        """Let the old model finish the requests it holds, then let it go."""

    def describe(self) -> dict[str, Any]:
        described = {**self.live.model.describe(), "service": self.kind, "watch_s": self.settings.watch_s}
        if self.split is not None:
            serving = {self.settings.alias: self.live.model.ref.version,
                       **{alias: lane.model.ref.version for alias, lane in self.lanes.items()}}
            described["split"] = {**self.split.describe(),
                                  "versions": {a: serving[a] for a in self.split.aliases if a in serving},
                                  "missing": self.missing}
        if self.shadow is not None:
            lane = self.lanes.get(self.settings.shadow_alias)
            described["shadow"] = {"alias": self.settings.shadow_alias, "share": self.settings.shadow_share,
                                   "version": lane.model.ref.version if lane else None,
                                   "timeout_s": self.settings.shadow_timeout_s, "queue": self.settings.shadow_queue,
                                   "pending": self.shadow.pending(), "counts": dict(self.shadow.counts)}
        return described

    def route(self) -> Live:
        """The alias that answers this request: the served one, or with a split the one it picks
        (by ``X-Lakeside-Route-Key`` when sent); an alias that is not loaded falls back to the
        served one."""
        split = self.split
        if split is None:
            return self.live
        request = current_request.get()
        alias = split.choose(request[1].get(traffic.ROUTE_KEY_HEADER) if request else None)
        return self.live if alias == self.settings.alias else self.lanes.get(alias, self.live)

    def answered(self, live: Live, started: float, predictions: Any, rows: int,
                 score: Callable[[ServedModel], Any], columns: dict[str, list[Any]] | None = None) -> None:
        """Count a predicted request for its version and, with shadow scoring, offer its share to
        the shadow alias (``score(model)`` predicts the same input; never awaited). ``columns``:
        the rows, when ``model.predict(columns)`` scores them (shadow requests are then batched)."""
        elapsed = time.perf_counter() - started
        ref = live.model.ref
        answered_requests.labels(model=ref.name, version=ref.version, alias=ref.alias or "").inc()
        prediction_seconds.labels(model=ref.name, version=ref.version, alias=ref.alias or "").observe(elapsed)
        if self.shadow is None:
            return
        lane = self.lanes.get(self.settings.shadow_alias)
        if lane is None or lane.model.ref.version == ref.version or random.random() >= self.settings.shadow_share:
            return
        request = current_request.get()
        self.shadow.offer(shadow.ShadowJob(
            request[0] if request else uuid.uuid4().hex[:16], dt.datetime.now(dt.timezone.utc), rows, ref,
            predictions, elapsed * 1000, lane.model, score, columns))

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
        if self.shadow is not None:
            self.shadow.close()
            shadow.close_log()

    def check_alias(self) -> bool:
        """Switch to the version the alias points at, if it moved; ``True`` when it switched.

        The new model is loaded beside the old one; requests already holding the old one finish
        on it.
        """
        with self._switch_lock:
            current = self.live.model.ref
            ref = resolve(current.name, self.settings.alias, self.tracking_uri)
            moved = ref.version != current.version
            if moved:
                new = self._live(load(ref))
                old, self.live = self.live, new
            lanes_moved = self._arrange()
        if moved:
            log.info("switched %s@%s from version %s to %s", ref.name, ref.alias, current.version, ref.version)
            self.retire(old)
        if moved or lanes_moved:
            settle_heap()
        return moved or lanes_moved

    def _arrange(self, starting: bool = False) -> bool:
        """Read the split again and load, switch or drop the other aliases it and the shadow
        need; True when one of them moved. An alias that points at no version is left out (its
        traffic goes to the served alias) with a warning."""
        name = self.live.model.ref.name
        split = self._read_split(name, starting)
        wanted = list(split.aliases) if split else []
        if self.shadow is not None:
            wanted.append(self.settings.shadow_alias)
        lanes: dict[str, Live] = {}
        missing: list[str] = []
        for alias in dict.fromkeys(a for a in wanted if a != self.settings.alias):
            current = self.lanes.get(alias)
            try:
                ref = resolve(name, alias, self.tracking_uri)
            except Exception as error:  # noqa: BLE001 - a missing alias or a registry away a while
                if getattr(error, "error_code", None) in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
                    if alias not in self.missing:
                        log.warning("%s@%s points at no version: its share is served by %s version %s (%s)",
                                    name, alias, self.settings.alias, self.live.model.ref.version, error)
                    missing.append(alias)
                elif current is not None:
                    log.warning("could not look %s@%s up (still serving version %s): %s", name, alias,
                                current.model.ref.version, error)
                    lanes[alias] = current
                else:
                    log.warning("could not look %s@%s up; served by %s meanwhile: %s", name, alias,
                                self.settings.alias, error)
                    missing.append(alias)
                continue
            if current is not None and current.model.ref.version == ref.version:
                lanes[alias] = current
                continue
            lanes[alias] = self.make_live(load(ref))
            served_alias_version.labels(model=name, alias=alias).set(float(ref.version))
            log.info("%s@%s: serving version %s beside %s", name, alias, ref.version, self.settings.alias)
        retired = [lane for alias, lane in self.lanes.items() if lanes.get(alias) is not lane]
        started = [alias for alias, lane in lanes.items() if self.lanes.get(alias) is not lane]
        self.lanes, self.split, self.missing = lanes, split, missing
        for old in retired:
            self.retire(old)
        return bool(retired or started)

    def _read_split(self, name: str, starting: bool) -> traffic.Split | None:
        """A split that cannot be read stops the service from starting; later (a tag changed to
        something wrong), the split stays as it was."""
        try:
            return traffic.configured_split(self.settings.split, name, self.tracking_uri)
        except traffic.SplitError as error:
            if starting:
                raise
            log.warning("%s (keeping the split as it was)", error)
            return self.split
        except Exception as error:  # noqa: BLE001 - the registry may be down a while; keep the split
            log.warning("could not read %s's tag %s (keeping the split as it was): %s", name, traffic.SPLIT_TAG, error)
            return self.split

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
