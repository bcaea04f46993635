"""Serving registered models over HTTP with BentoML: the service (:mod:`.service`), request
shapes and checks (:mod:`.payloads`), adaptive batching (:mod:`.batching`), models from the
registry (:mod:`.models`), and building / (re)starting the service (:mod:`.deploy`).

This module is light (no BentoML, MLflow or pandas import): DAG files and the CLI read the
settings from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServeSettings:
    model_name: str
    alias: str
    model_tag: str | None
    tracking_uri: str | None
    watch_s: float
    max_rows: int
    max_batch_rows: int
    max_body_bytes: int
    host: str
    port: int


def serve_settings() -> ServeSettings:
    """The service's settings from the environment (read when called)."""
    from lakeside.retrain import model_name
    from lakeside.tracking import tracking_uri

    env = os.environ.get
    return ServeSettings(
        model_name=env("LAKESIDE_SERVE_MODEL") or model_name(),
        alias=env("LAKESIDE_SERVE_ALIAS") or "champion",
        model_tag=env("LAKESIDE_SERVE_MODEL_TAG") or None,
        tracking_uri=tracking_uri(),
        watch_s=float(env("LAKESIDE_SERVE_WATCH_S") or 15),
        max_rows=int(env("LAKESIDE_SERVE_MAX_ROWS") or 10_000),
        max_batch_rows=int(env("LAKESIDE_SERVE_MAX_BATCH_ROWS") or 1024),
        max_body_bytes=int(float(env("LAKESIDE_SERVE_MAX_BODY_MB") or 32) * 1024 * 1024),
        host=env("LAKESIDE_SERVE_HOST") or "127.0.0.1",
        port=int(env("LAKESIDE_SERVE_PORT") or 3000),
    )
