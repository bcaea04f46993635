"""The model in a process of its own, for ``LAKESIDE_SERVE_PREDICT_IN=process``.

In the default thread, every pandas and scikit-learn step of a prediction holds the interpreter
lock that the event loop needs to read and answer requests, so under concurrent load requests
wait for the model even to be parsed. A one-process pool runs the predictions beside the loop:
the loop's process only reads, checks and answers; the rows and predictions cross as pickles.
The process loads the same model from the BentoML store (its tag) when it starts.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Any

_served = None


def start(store_tag: str, alias: str | None) -> concurrent.futures.ProcessPoolExecutor:
    """A one-process pool that has loaded ``store_tag`` (waits for the load)."""
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_load, initargs=(store_tag, alias))
    pool.submit(describe).result(timeout=600)
    return pool


def predict(columns: dict[str, list[Any]]) -> list[Any]:
    """The served model's predictions (in the model's process)."""
    return _served.predict(columns)


def describe() -> dict[str, Any]:
    return _served.describe()


def _load(store_tag: str, alias: str | None) -> None:
    global _served
    import bentoml

    from lakeside.serving.models import load_stored

    _served = load_stored(bentoml.models.get(store_tag), alias=alias)
