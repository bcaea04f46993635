"""Adaptive batching that never waits.

A request that finds the model idle is predicted at once, alone; requests that arrive while a
prediction runs queue up and go together in the next one. Under load the batches grow with the
arrival rate (up to ``max_rows``); a lone request, or one that is already a large batch, pays
no waiting time. BentoML's own batching (``@bentoml.api(batchable=True)``) waits up to its
latency budget for more requests, which costs lone requests (and rejects with 503 when the
budget is tight), and it only batches bodies that are themselves arrays, not the four
``/invocations`` shapes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

Columns = dict[str, list[Any]]


class AdaptiveBatcher:
    """Feeds ``predict(columns) -> predictions`` from concurrent requests, one call at a time.

    ``predict`` runs in ``executor``: by default a single worker thread, so the event loop keeps
    accepting requests while it runs; a one-process pool (:mod:`.worker`) takes the model off
    the loop's interpreter lock as well. ``observe(batch_rows, requests)`` is called for each
    batch (metrics).
    """

    def __init__(self, predict: Callable[[Columns], Sequence[Any]], max_rows: int = 1024,
                 observe: Callable[[int, int], None] | None = None,
                 executor: concurrent.futures.Executor | None = None):
        self._predict = predict
        self._max_rows = max_rows
        self._observe = observe
        self._queue: asyncio.Queue[tuple[Columns, int, asyncio.Future] | None] | None = None
        self._worker: asyncio.Task | None = None
        self._given_executor = executor is not None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                                           thread_name_prefix="lakeside-predict")

    async def predict(self, columns: Columns, rows: int) -> list[Any]:
        """The predictions for ``rows`` rows given column-wise."""
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        answer = asyncio.get_running_loop().create_future()
        await self._queue.put((columns, rows, answer))
        return await answer

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch, rows = [first], first[1]
            while rows < self._max_rows and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    self._queue.put_nowait(None)
                    break
                batch.append(item)
                rows += item[1]
            merged = _concat([columns for columns, _, _ in batch])
            try:
                predictions = await loop.run_in_executor(self._executor, self._predict, merged)
            except Exception as error:  # noqa: BLE001 - every waiting request gets the failure
                for _, _, answer in batch:
                    if not answer.done():
                        answer.set_exception(error)
                continue
            if self._observe:
                self._observe(rows, len(batch))
            start = 0
            for _, count, answer in batch:
                if not answer.done():
                    answer.set_result(list(predictions[start:start + count]))
                start += count

    async def retire(self) -> None:
        """Finish the requests already queued, then stop the worker (a later request restarts
        it) and a given executor (a model process is not kept for a model no longer served)."""
        if self._worker is not None and not self._worker.done():
            await self._queue.put(None)
            await self._worker
        if self._given_executor:
            self._executor.shutdown(wait=False)


def _concat(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    merged: Columns = {name: [] for name in parts[0]}
    for part in parts:
        for name, values in part.items():
            merged[name].extend(values)
    return merged
