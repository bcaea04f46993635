"""The service's front door (ASGI middleware): a request id on every request and answer, one
log line per request, the optional API key (from the environment or a file that may change while serving), and a cap on the body size.

Probes, metrics and docs stay open without the key, so orchestrators and scrapers need no secret.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
import uuid
from typing import Any

from lakeside.config import serving

log = logging.getLogger("bentoml.lakeside.requests")

_KEY_FILE_CACHE: dict[os.PathLike, tuple[int, str | None]] = {}
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics", "/docs", "/docs.json", "/schema.json", "/"})


class RequestGuard:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.max_body_bytes = serving().max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex[:16]
        path = scope.get("path", "")
        started = time.perf_counter()
        status: list[int] = [0]

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        refusal = self._refusal(path, headers)
        if refusal is not None:
            await _answer(send_with_id, *refusal)
        else:
            await self.app(scope, receive, send_with_id)
        if path not in OPEN_PATHS:
            log.info("request_id=%s %s %s -> %s in %.1f ms", request_id, scope.get("method"), path, status[0],
                     (time.perf_counter() - started) * 1000)

    def _refusal(self, path: str, headers: dict[str, str]) -> tuple[int, dict] | None:
        api_key = current_api_key()
        if api_key and path not in OPEN_PATHS and not _has_key(headers, api_key):
            return 401, {"error": "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"}
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, {"error": f"body of {int(length)} bytes is over the limit of {self.max_body_bytes}"}
        return None


def current_api_key() -> str | None:
    """``LAKESIDE_SERVE_API_KEY``, else the content of ``LAKESIDE_SERVE_API_KEY_FILE`` (read when it
    changes, so a key can be set, rotated or removed without a restart); None: no auth."""
    config = serving()
    if config.api_key:
        return config.api_key
    path = config.api_key_file
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
