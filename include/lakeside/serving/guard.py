"""The service's front door (ASGI middleware): a request id on every request and answer, one
log line per request, the optional API key (from the environment or a file that may change while serving), a cap on the body size,
and a record of every ``/invocations`` request and answer for the model's inference table
(:mod:`.inference`).

Probes, metrics and docs stay open without the key, so orchestrators and scrapers need no secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from contextvars import ContextVar
from typing import Any

from lakeside.config import serving, serving_api_key
from lakeside.serving import inference

log = logging.getLogger("bentoml.lakeside.requests")

_KEY_FILE_CACHE: dict[os.PathLike, tuple[int, str | None]] = {}
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics", "/docs", "/docs.json", "/schema.json", "/"})
RECORDED_PATHS = frozenset({"/invocations"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
current_request: ContextVar[tuple[str, dict[str, str]] | None] = ContextVar("lakeside_request", default=None)
"""The request id and the (lower-cased) headers of the request being answered, for the service."""


class RequestGuard:
    def __init__(self, app: Any) -> None:
        self.app = app
        config = serving()
        self.max_body_bytes = config.max_body_bytes
        self.max_field_bytes = config.inference_max_field_bytes
        self.log_requests = config.access_log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex[:16]
        current_request.set((request_id, headers))
        path = scope.get("path", "")
        arrived = dt.datetime.now(dt.timezone.utc)
        started = time.perf_counter()
        answered: list[Any] = [0, ()]  # status, headers
        recorder = (_Exchange(self.max_field_bytes, headers.get("content-type", ""))
                    if path in RECORDED_PATHS and inference.active() else None)

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode("latin-1"))]
                answered[:] = message["status"], message["headers"]
            if recorder is not None:
                recorder.sent(message)
            await send(message)

        async def receive_recorded() -> dict:
            message = await receive()
            recorder.received(message)
            return message

        refusal = self._refusal(path, headers)
        if refusal is None and "content-length" not in headers and scope.get("method") in BODY_METHODS:
            receive, refusal = await self._buffer_unsized(receive)
        if refusal is not None:
            await _answer(send_with_id, *refusal)
        else:
            await self.app(scope, receive if recorder is None else receive_recorded, send_with_id)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self.log_requests and path not in OPEN_PATHS:
            _log_request(scope, headers, request_id, answered, elapsed_ms)
        if recorder is not None:
            recorder.log(request_id, arrived, answered[0], elapsed_ms)

    async def _buffer_unsized(self, receive: Any) -> tuple[Any, tuple[int, dict] | None]:
        """A body sent without Content-Length (chunked) is read here, up to the cap, before the
        service sees it: over the cap it is refused like a sized one."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return receive, (413, {"error": f"body of more than {self.max_body_bytes} bytes (sent without "
                                                f"Content-Length) is over the limit of {self.max_body_bytes}"})
            if not message.get("more_body"):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        return replay, None

    def _refusal(self, path: str, headers: dict[str, str]) -> tuple[int, dict] | None:
        api_key = current_api_key()
        if api_key and path not in OPEN_PATHS and not _has_key(headers, api_key):
            return 401, {"error": "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"}
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, {"error": f"body of {int(length)} bytes is over the limit of {self.max_body_bytes}"}
        return None


def _log_request(scope: dict, headers: dict[str, str], request_id: str, answered: list[Any], elapsed_ms: float) -> None:
    """The access line: what BentoML's access log says, plus the request id (the inference
    table's key). BentoML's own line is off (:func:`~lakeside.serving.base.service_config`): two
    lines a request cost a server 6-12% of its requests/s at concurrency 32."""
    client = scope.get("client") or ("-", 0)
    sent = {k: v for k, v in answered[1] if k in (b"content-type", b"content-length")}
    log.info("request_id=%s %s:%s %s %s (type=%s,length=%s) -> %s (type=%s,length=%s) in %.1f ms", request_id,
             client[0], client[1], scope.get("method"), scope.get("path", ""), headers.get("content-type", "-"),
             headers.get("content-length", "-"), answered[0], sent.get(b"content-type", b"-").decode("latin-1"),
             sent.get(b"content-length", b"-").decode("latin-1"), elapsed_ms)


def current_api_key() -> str | None:
    """``LAKESIDE_SERVE_API_KEY``, else the content of ``LAKESIDE_SERVE_API_KEY_FILE`` (read when it
    changes, so a key can be set, rotated or removed without a restart); None: no auth."""
    api_key, path = serving_api_key()
    if api_key:
        return api_key
    if path is None:
        return None
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    cached = _KEY_FILE_CACHE.get(path)
    if cached is None or cached[0] != stamp:
        with open(path, encoding="utf-8") as handle:
            cached = (stamp, handle.read().strip() or None)
        _KEY_FILE_CACHE[path] = cached
    return cached[1]


def _has_key(headers: dict[str, str], api_key: str) -> bool:
    given = headers.get("x-api-key") or ""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    return hmac.compare_digest(given.encode(), api_key.encode())


async def _answer(send: Any, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class _Exchange:
    """One request's body and answer as they pass, kept up to one byte over the field cap. A raw
    picture (``image/*`` or octet-stream) is recorded as its content type, size and sha256."""

    def __init__(self, cap: int, content_type: str) -> None:
        self.cap = cap
        self.content_type = content_type.split(";")[0].strip().lower()
        self.binary = self.content_type.startswith(("image/", "application/octet-stream"))
        self.request = bytearray()
        self.request_bytes = 0
        self.request_hash = hashlib.sha256()
        self.response = bytearray()
        self.headers: dict[str, str] = {}

    def received(self, message: dict) -> None:
        if message.get("type") == "http.request":
            chunk = message.get("body", b"")
            self.request_bytes += len(chunk)
            if self.binary:
                self.request_hash.update(chunk)
            else:
                self._keep(self.request, chunk)

    def request_text(self) -> bytes:
        if not self.binary:
            return bytes(self.request)
        return json.dumps({"content_type": self.content_type, "bytes": self.request_bytes,
                           "sha256": self.request_hash.hexdigest()}).encode()

    def sent(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", ())}
        elif message["type"] == "http.response.body":
            self._keep(self.response, message.get("body", b""))

    def _keep(self, buffer: bytearray, chunk: bytes) -> None:
        room = self.cap + 1 - len(buffer)
        if room > 0:
            buffer += chunk[:room]

    def log(self, request_id: str, arrived: dt.datetime, status: int, elapsed_ms: float) -> None:
        sink = inference.active()
        model = self.headers.get("x-model-name") or serving().model
        if sink is None or not model:
            return
        sink.record(inference.InferenceRecord(
            request_id=request_id, timestamp=arrived, model_name=model,
            model_version=self.headers.get("x-model-version") or None,
            model_alias=self.headers.get("x-model-alias") or None,
            request=self.request_text(), response=bytes(self.response), status_code=status,
            execution_time_ms=elapsed_ms,
        ))
