"""Inference tables: every ``POST /invocations`` request and its answer (refusals included), one
Delta table per served model, ``inference.<model>``, partitioned by ``date``.

Writing stays off the request path: the request guard hands a record to :meth:`InferenceLog.record`,
which only enqueues it (a bounded queue). A writer thread appends the queue to the tables with
delta-rs every ``flush_s`` seconds or as soon as ``flush_records`` are waiting. When the queue is
full, records spill to JSON lines under the spill folder (``$LAKESIDE_HOME/serving/inference/``)
and the next pass appends them; a failed write keeps its records and is retried on the next pass.
:meth:`InferenceLog.close` (the service's shutdown, on SIGTERM) drains queue and spill.

Columns: ``request_id`` (the ``X-Request-ID``), ``timestamp`` (UTC, arrival), ``date``,
``model_name``, ``model_version``, ``model_alias``, ``request`` and ``response`` (JSON text,
null past ``max_field_bytes`` with ``truncated`` true), ``status_code``, ``execution_time_ms``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import queue
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bentoml
import pyarrow as pa

log = logging.getLogger("bentoml.lakeside.inference")

SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("date", pa.date32()),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("model_alias", pa.string()),
    ("request", pa.string()),
    ("response", pa.string()),
    ("truncated", pa.bool_()),
    ("status_code", pa.int32()),
    ("execution_time_ms", pa.float64()),
])

queue_depth = bentoml.metrics.Gauge(
    name="lakeside_inference_queue_depth", documentation="Inference records waiting to be written.",
)
spilled_records = bentoml.metrics.Counter(
    name="lakeside_inference_spilled_records", documentation="Inference records spilled to disk (queue full).",
)
write_errors = bentoml.metrics.Counter(
    name="lakeside_inference_write_errors", documentation="Failed appends to inference tables (retried).",
)


@dataclass(frozen=True)
class InferenceRecord:
    """One request and its answer, as the request guard saw them."""

    request_id: str
    timestamp: dt.datetime
    model_name: str
    model_version: str | None
    model_alias: str | None
    request: bytes
    response: bytes
    status_code: int
    execution_time_ms: float

    def row(self, max_field_bytes: int) -> dict[str, Any]:
        request = _text(self.request, max_field_bytes)
        response = _text(self.response, max_field_bytes)
        return {
            "request_id": self.request_id,
            "timestamp": self.timestamp.isoformat(),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_alias": self.model_alias,
            "request": request,
            "response": response,
            "truncated": request is None or response is None,
            "status_code": self.status_code,
            "execution_time_ms": round(self.execution_time_ms, 3),
        }


def _text(body: bytes, limit: int) -> str | None:
    if len(body) > limit:
        return None
    return body.decode("utf-8", errors="replace")


def table_name(model: str) -> str:
    """``inference.<model>``, the model name made a valid table name."""
    return f"inference.{re.sub(r'[^0-9A-Za-z_]', '_', model)}"


class InferenceLog:
    """A bounded queue of records and the thread that appends them to the inference tables."""

    def __init__(self, lake_root: str | Path, spill_dir: str | Path, *, max_queue: int = 10_000,
                 flush_s: float = 2.0, flush_records: int = 1_000, max_field_bytes: int = 1024 * 1024) -> None:
        self.lake_root = str(lake_root)
        self.spill_dir = Path(spill_dir)
        self.flush_s = flush_s
        self.flush_records = flush_records
        self.max_field_bytes = max_field_bytes
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(max_queue)
        self._pending: list[dict[str, Any]] = []  # rows of a failed write: retried first
        self._spill_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.spilled = 0
        self.errors = 0

    def start(self) -> "InferenceLog":
        self._thread = threading.Thread(target=self._run, name="lakeside-inference-log", daemon=True)
        self._thread.start()
        return self

    def record(self, record: Any) -> None:
        """Enqueue a record (anything with ``row(max_field_bytes)``, an :class:`InferenceRecord`
        here) without waiting; a full queue spills it to disk."""
        row = record.row(self.max_field_bytes)
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._spill([row])
        depth = self._queue.qsize()
        queue_depth.set(depth)
        if depth >= self.flush_records:
            self._wake.set()

    def flush(self) -> int:
        """Append what is pending, queued and spilled; the number of rows written. Rows whose
        append failed stay pending (past the queue's size, spilled again)."""
        with self._flush_lock:
            rows, self._pending = self._pending, []
            while True:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            queue_depth.set(self._queue.qsize())
            claimed = self._claim_spills()
            rows += [row for path in claimed for row in _read_lines(path)]
            failed = self._append(rows)
            self._keep(failed)
            for path in claimed:
                path.unlink(missing_ok=True)
            return len(rows) - len(failed)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the writer and write everything left; what cannot be written stays spilled."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush()
        with self._flush_lock:
            if self._pending:
                self._spill(self._pending)
                self._pending = []

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the writer must outlive any one bad pass
                log.exception("inference log pass failed; records kept for the next pass")

    def _append(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append rows to their model's table; the rows that could not be written."""
        from lakeside.tables import Lake

        lake = Lake(self.lake_root, backend="embedded")
        by_model: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_model.setdefault(row["model_name"], []).append(row)
        failed: list[dict[str, Any]] = []
        for model, model_rows in by_model.items():
            try:
                lake.table(self.table_name(model)).append(self.arrow(model_rows), partition_by=["date"])
                self.written += len(model_rows)
            except Exception as error:  # noqa: BLE001 - kept and retried: the lake may be busy or full
                self.errors += 1
                write_errors.inc()
                log.warning("could not append %d records to %s (kept for the next pass): %s",
                            len(model_rows), self.table_name(model), error)
                failed += model_rows
        return failed

    def table_name(self, model: str) -> str:
        """The table a model's records go to (a subclass may write another table)."""
        return table_name(model)

    def arrow(self, rows: list[dict[str, Any]]) -> pa.Table:
        return _arrow(rows)

    def _keep(self, rows: list[dict[str, Any]]) -> None:
        self._pending = rows + self._pending
        overflow = len(self._pending) - self._queue.maxsize
        if overflow > 0:
            self._spill(self._pending[:overflow])
            self._pending = self._pending[overflow:]

    def _spill(self, rows: list[dict[str, Any]]) -> None:
        with self._spill_lock:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            with open(self.spill_dir / f"spill-{os.getpid()}.jsonl", "a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in rows)
            self.spilled += len(rows)
        spilled_records.inc(len(rows))

    def _claim_spills(self) -> list[Path]:
        """Spill files renamed so that new spills go to a fresh file while these are written."""
        if not self.spill_dir.is_dir():
            return []
        with self._spill_lock:
            claimed = []
            for path in sorted(self.spill_dir.glob("spill-*.jsonl")):
                target = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}.claimed")
                path.rename(target)
                claimed.append(target)
            return claimed


def _read_lines(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _arrow(rows: list[dict[str, Any]], schema: pa.Schema = SCHEMA) -> pa.Table:
    """Rows (``timestamp`` as ISO text, no ``date``) as a table of ``schema``."""
    columns = {name: [row[name] for row in rows] for name in schema.names if name not in ("timestamp", "date")}
    stamps = [dt.datetime.fromisoformat(row["timestamp"]) for row in rows]
    columns["timestamp"] = stamps
    columns["date"] = [stamp.date() for stamp in stamps]
    return pa.table({name: pa.array(columns[name], type=schema.field(name).type) for name in schema.names})


_active: InferenceLog | None = None
_active_lock = threading.Lock()


def active() -> InferenceLog | None:
    """This process's inference log, started on first use; None when logging is off."""
    global _active
    from lakeside.config import serving, settings

    if _active is not None:
        return _active
    config = serving()
    if not config.inference_log:
        return None
    with _active_lock:
        if _active is None:
            home = settings()
            _active = InferenceLog(
                home.lake_root, config.inference_spill_dir, max_queue=config.inference_queue,
                flush_s=config.inference_flush_s, flush_records=config.inference_flush_records,
            ).start()
            atexit.register(close_active)
        return _active


def close_active() -> None:
    """Drain and stop this process's inference log (the service's shutdown)."""
    global _active
    with _active_lock:
        current, _active = _active, None
    if current is not None:
        current.close()


def compact(lake_root: str | Path, day: dt.date) -> dict[str, int]:
    """Rewrite each inference table's files of ``day`` into few large ones (the writer appends a
    small file every few seconds); the number of files removed per table."""
    from deltalake import DeltaTable

    removed = {}
    for log_dir in sorted(Path(lake_root, "inference").glob("*/_delta_log")):
        table = DeltaTable(str(log_dir.parent))
        metrics = table.optimize.compact(partition_filters=[("date", "=", day.isoformat())])
        removed[f"inference.{log_dir.parent.name}"] = int(metrics.get("numFilesRemoved", 0))
    return removed
