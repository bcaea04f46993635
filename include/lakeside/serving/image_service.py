"""``ImageService``: an image classifier (:mod:`lakeside.vision.pyfunc`) served by BentoML.

    bentoml serve lakeside.serving.image_service:ImageService

``POST /invocations`` takes

- JSON (``application/json``): ``{"inputs": {"image": "<base64>"}}``, ``{"inputs": [{"image": ...}, ...]}``,
  ``{"dataframe_records": [{"image": ...}, ...]}`` or ``dataframe_split``; answered
  ``{"predictions": [{"label": "suv", "prob": 0.97}, ...]}``;
- a raw picture (``image/jpeg``, ``image/png``, ``image/tiff``); answered ``{"label", "prob"}``.

Pictures are decoded and resized off the event loop, in one thread, then go to the model through
the adaptive batcher (:mod:`.batching`): single-image requests arriving together are predicted as
one batch (up to 8 images). A bad request never reaches the model, so it never fails others' batch, and is
answered 4xx with ``{"error", "field", "row"}``: a body over the size cap or a picture over the
pixel limit 413, another content type 415, bad base64 / not an image / truncated or corrupt 422
with the decoder's reason, naming the row. ``GET /model``, reload, headers, metrics, API key as in
:mod:`.service`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from typing import Any

import bentoml
import numpy as np
from fastapi import Depends, Request
from starlette.responses import JSONResponse

from lakeside.serving.base import Live, ModelService, admin_app, batch_requests, batch_rows, service_config
from lakeside.serving.batching import AdaptiveBatcher
from lakeside.serving.guard import RequestGuard
from lakeside.serving.models import ServedModel
from lakeside.serving.payloads import InputColumn, PayloadError, parse

RAW_TYPES = ("image/jpeg", "image/png", "image/tiff")
MAX_BATCH = 8
"""Images per model call. onnxruntime runs the backbone fastest at 4-8 images a call on 2 cores
(242 images/s, 221 at 32), and a request that just missed a batch waits for a shorter one: at
concurrency 32, batches of 8 answered as many images a second as batches of 32 with a p99 of
about 300 ms instead of 540-690 (bench/vision_serving.py)."""
DECODE_THREADS = 1
"""One thread decodes: with the loop's default pool (six threads on 2 cores) decoding competed with
onnxruntime's threads, and at concurrency 32 the service answered 75.6 images/s; with one, 99-103
(bench/vision_serving.py, 141 in process)."""
IMAGE_SIGNATURE = [InputColumn("image", "string")]


def image_app():
    app = admin_app()

    @app.post("/invocations")
    async def invocations(request: Request, service: Any = Depends(bentoml.get_current_service)):
        """Labels and probabilities of base64 images (JSON) or of one raw JPEG/PNG/TIFF body."""
        return await service.invoke(request)

    return app


@bentoml.service(**service_config("lakeside_image"))
@bentoml.asgi_app(image_app(), path="/")
class ImageService(ModelService):
    kind = "image"

    def __init__(self) -> None:
        super().__init__()
        self._decode_pool = concurrent.futures.ThreadPoolExecutor(max_workers=DECODE_THREADS,
                                                                  thread_name_prefix="decode")

    async def invoke(self, request: Request) -> JSONResponse:
        self.remember_loop()
        live = self.live
        try:
            values, raw = await self._images(request)
            loop = asyncio.get_running_loop()
            batch = await loop.run_in_executor(self._decode_pool, self._pixels, live, values)
        except PayloadError as error:
            return self.refuse(error, live)
        predictions = await live.runner.predict({"pixels": list(batch)}, len(batch))
        return JSONResponse(predictions[0] if raw else {"predictions": predictions}, headers=live.headers)

    def make_live(self, model: ServedModel) -> Live:
        classifier = model.pyfunc.unwrap_python_model()

        def predict(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
            from lakeside.vision.pyfunc import answer

            probabilities = classifier.graph.run(np.stack(columns["pixels"]), batch=MAX_BATCH)
            return answer(probabilities, classifier.classes).to_dict(orient="records")

        def observe(rows: int, requests: int) -> None:
            batch_rows.observe(rows)
            batch_requests.observe(requests)

        return Live(model, AdaptiveBatcher(predict, MAX_BATCH, observe))

    def retire(self, old: Live) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(old.runner.retire(), self._loop)

    async def _images(self, request: Request) -> tuple[list[Any], bool]:
        """(the request's images as base64 strings or bytes, whether it was a raw body)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if len(body) > self.settings.max_body_bytes:
            raise PayloadError(f"body of {len(body)} bytes is over the limit of {self.settings.max_body_bytes}",
                               status=413)
        if kind in RAW_TYPES:
            if not body:
                raise PayloadError("empty body: send the picture's bytes", field="body", row=0)
            return [body], True
        if kind != "application/json":
            raise PayloadError(f"content type {kind or 'none'!r} is not accepted: send application/json "
                               f"(base64 images) or one of {', '.join(RAW_TYPES)}", status=415,
                               field="content-type")
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise PayloadError(f"the body is not valid JSON: {error}", status=400) from None
        if not isinstance(payload, dict):
            raise PayloadError("the JSON body must be an object such as {\"inputs\": {\"image\": \"<base64>\"}}",
                               status=400)
        rows = parse(payload, IMAGE_SIGNATURE, self.settings.max_rows)
        return rows.columns["image"], False

    @staticmethod
    def _pixels(live: Live, values: list[Any]) -> np.ndarray:
        from lakeside.vision.images import pixels
        from lakeside.vision.pyfunc import pictures

        classifier = live.model.pyfunc.unwrap_python_model()
        return pixels(pictures(values, classifier.max_pixels), classifier.size)


ImageService.add_asgi_middleware(RequestGuard)
