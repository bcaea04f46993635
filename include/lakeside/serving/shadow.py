"""Shadow scoring: a share of live requests is also scored by another alias (``challenger`` by
default), off the request path, and both answers are recorded side by side.

The service answers its caller with the primary's predictions first and then only *offers* the
request to :class:`ShadowScorer` (``put_nowait`` on a bounded queue: a full queue drops the
request and counts it). One worker thread takes the requests and runs the shadow model in its
own prediction thread, waiting at most ``timeout_s``: a shadow that raises is recorded with its
error, one that hangs is recorded as timed out (and later requests queue behind it until the
queue drops them). Nothing of this is awaited by a request. Tabular requests (jobs with
``columns``) are gathered for up to ``linger_s`` (nobody waits for them) and predicted in one
call, as the primary's adaptive batches are; each one's ``shadow_latency_ms`` is that call's
time. A pipeline's fixed cost per call is what a shadow costs the primary on a shared CPU, so
few larger calls keep that cost near the share of rows shadowed.

Records go to ``inference.<model>_shadow`` (:func:`lakeside.shadow_evidence.table_name`) through
:class:`ShadowLog`, the inference log's writer (batched appends, spill on failure). Columns:
``request_id``, ``timestamp``, ``date``, ``model_name``, ``rows``, ``primary_version``,
``primary_alias``, ``primary_predictions`` (JSON), ``primary_latency_ms``, ``shadow_version``,
``shadow_alias``, ``shadow_predictions`` (JSON, null on error), ``shadow_latency_ms``,
``shadow_error``. The gate reads them through :mod:`lakeside.shadow_evidence`.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bentoml
import pyarrow as pa

from lakeside import shadow_evidence
from lakeside.serving.inference import InferenceLog, _arrow
from lakeside.serving.models import ModelRef, ServedModel

log = logging.getLogger("bentoml.lakeside.shadow")

SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("date", pa.date32()),
    ("model_name", pa.string()),
    ("rows", pa.int64()),
    ("primary_version", pa.string()),
    ("primary_alias", pa.string()),
    ("primary_predictions", pa.string()),
    ("primary_latency_ms", pa.float64()),
    ("shadow_version", pa.string()),
    ("shadow_alias", pa.string()),
    ("shadow_predictions", pa.string()),
    ("shadow_latency_ms", pa.float64()),
    ("shadow_error", pa.string()),
])

shadow_requests = bentoml.metrics.Counter(
    name="lakeside_shadow_requests",
    documentation="Requests offered to the shadow model, by outcome (scored, error, timeout, dropped).",
    labelnames=["model", "version", "outcome"],
)
shadow_latency = bentoml.metrics.Histogram(
    name="lakeside_shadow_latency_seconds", documentation="The shadow model's prediction time per request.",
    labelnames=["model", "version"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@dataclass(frozen=True)
class ShadowJob:
    """One answered request to score again with the shadow model (``score(model) -> answer``)."""

    request_id: str
    arrived: dt.datetime
    rows: int
    primary: ModelRef
    primary_predictions: Any
    primary_latency_ms: float
    shadow: ServedModel
    score: Callable[[ServedModel], Any]
    columns: dict[str, list[Any]] | None = None
    """The checked rows column-wise, when ``shadow.predict(columns)`` can score them (then
    waiting jobs are predicted together)."""


@dataclass(frozen=True)
class ShadowRecord:
    job: ShadowJob
    predictions: Any
    latency_ms: float
    error: str | None

    def row(self, max_field_bytes: int) -> dict[str, Any]:
        job, shadow = self.job, self.job.shadow.ref
        return {
            "request_id": job.request_id, "timestamp": job.arrived.isoformat(), "model_name": job.primary.name,
            "rows": job.rows, "primary_version": job.primary.version, "primary_alias": job.primary.alias,
            "primary_predictions": _json(job.primary_predictions, max_field_bytes),
            "primary_latency_ms": round(job.primary_latency_ms, 3),
            "shadow_version": shadow.version, "shadow_alias": shadow.alias,
            "shadow_predictions": None if self.error else _json(self.predictions, max_field_bytes),
            "shadow_latency_ms": round(self.latency_ms, 3), "shadow_error": self.error,
        }


def _json(value: Any, limit: int) -> str | None:
    text = json.dumps(value)
    return text if len(text) <= limit else None


class ShadowLog(InferenceLog):
    """The inference log's writer, appending shadow records to ``inference.<model>_shadow``."""

    def table_name(self, model: str) -> str:
        return shadow_evidence.table_name(model)

    def arrow(self, rows: list[dict[str, Any]]) -> pa.Table:
        return _arrow(rows, SCHEMA)


class ShadowScorer:
    """A bounded queue of shadow jobs and the worker thread that scores them."""

    def __init__(self, sink: Callable[[], Any], timeout_s: float = 5.0, max_queue: int = 1000,
                 max_batch_rows: int = 1024, linger_s: float = 1.0) -> None:
        self._sink = sink
        self.timeout_s = timeout_s
        self.max_batch_rows = max_batch_rows
        self.linger_s = linger_s
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(max_queue)
        self._predict = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakeside-shadow-predict")
        self._thread = threading.Thread(target=self._run, name="lakeside-shadow", daemon=True)
        self._thread.start()
        self.counts = {"scored": 0, "error": 0, "timeout": 0, "dropped": 0}

    def offer(self, job: ShadowJob) -> bool:
        """Queue ``job`` without waiting; False (dropped, counted) when the queue is full."""
        try:
            self._queue.put_nowait(job)
            return True
        except queue.Full:
            self._count(job, "dropped")
            return False

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Stop taking jobs (those queued are dropped); a hanging prediction is left to itself."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._predict.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch, stop = self._gather(job)
            try:
                self._score(batch)
            except Exception:  # noqa: BLE001 - the worker must outlive any one job
                log.exception("shadow scoring of request %s failed", job.request_id)
            if stop:
                return

    def _gather(self, first: ShadowJob) -> tuple[list[ShadowJob], bool]:
        """``first`` and the jobs waiting that can be predicted with it in one call; whether the
        stop sign came. A job that cannot join is scored on its own meanwhile."""
        if first.columns is None:
            return [first], False
        batch, rows = [first], first.rows
        until = time.monotonic() + self.linger_s
        while rows < self.max_batch_rows:
            remaining = until - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            if job.columns is None or job.shadow is not first.shadow or list(job.columns) != list(first.columns):
                self._score([job])
                continue
            batch.append(job)
            rows += job.rows
        return batch, False

    def _score(self, batch: list[ShadowJob]) -> None:
        started = time.perf_counter()
        if len(batch) == 1:
            future = self._predict.submit(batch[0].score, batch[0].shadow)
        else:
            merged = {name: [value for job in batch for value in job.columns[name]] for name in batch[0].columns}
            future = self._predict.submit(batch[0].shadow.predict, merged)
        answers, error = [None] * len(batch), None
        try:
            predictions = future.result(timeout=self.timeout_s)
            outcome = "scored"
            if len(batch) == 1:
                answers = [predictions]
            else:
                edges = [0]
                for job in batch:
                    edges.append(edges[-1] + job.rows)
                answers = [list(predictions[a:b]) for a, b in zip(edges, edges[1:])]
        except concurrent.futures.TimeoutError:
            future.cancel()
            error, outcome = f"timeout: no answer within {self.timeout_s:g} s", "timeout"
        except Exception as failure:  # noqa: BLE001 - a failing shadow is a finding, not an outage
            error, outcome = f"{type(failure).__name__}: {failure}"[:2000], "error"
        elapsed = time.perf_counter() - started
        sink = self._sink()
        for job, answer in zip(batch, answers):
            self._count(job, outcome)
            if outcome == "scored":
                shadow_latency.labels(model=job.primary.name, version=job.shadow.ref.version).observe(elapsed)
            if sink is not None:
                sink.record(ShadowRecord(job, answer, elapsed * 1000, error))

    def _count(self, job: ShadowJob, outcome: str) -> None:
        self.counts[outcome] += 1
        shadow_requests.labels(model=job.primary.name, version=job.shadow.ref.version, outcome=outcome).inc()


_active: ShadowLog | None = None
_active_lock = threading.Lock()


def active_log() -> ShadowLog:
    """This process's shadow log, started on first use (whether or not inference logging is on:
    shadow scoring exists to be recorded)."""
    global _active
    from lakeside.config import serving, settings

    with _active_lock:
        if _active is None:
            config = serving()
            _active = ShadowLog(
                settings().lake_root, Path(config.inference_spill_dir) / "shadow", max_queue=config.inference_queue,
                flush_s=config.shadow_flush_s, flush_records=config.inference_flush_records,
                max_field_bytes=config.inference_max_field_bytes,
            ).start()
            atexit.register(close_log)
        return _active


def close_log() -> None:
    """Drain and stop this process's shadow log (the service's shutdown)."""
    global _active
    with _active_lock:
        current, _active = _active, None
    if current is not None:
        current.close()
