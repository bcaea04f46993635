import asyncio
import threading

import pytest

from lakeside.serving.batching import AdaptiveBatcher


class RecordingModel:
    """Doubles ``x``; records each call's rows; can be held so requests pile up behind a call."""

    def __init__(self):
        self.calls: list[list[float]] = []
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, columns):
        self.gate.wait(5)
        self.calls.append(list(columns["x"]))
        if any(v < 0 for v in columns["x"]):
            raise ValueError("negative")
        return [2 * v for v in columns["x"]]


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_lone_request_is_predicted_alone_and_at_once():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model.predict)
        return await batcher.predict({"x": [1.0, 2.0]}, 2)

    assert run(scenario()) == [2.0, 4.0]
    assert model.calls == [[1.0, 2.0]]


def test_requests_arriving_during_a_call_go_together_and_each_gets_its_own_answers():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model.predict, max_rows=100)
        model.gate.clear()
        first = asyncio.create_task(batcher.predict({"x": [0.0]}, 1))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.predict({"x": [float(i), float(i) + 0.5]}, 2)) for i in range(1, 21)]
        await asyncio.sleep(0.05)
        model.gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = run(scenario())

    assert first == [0.0]
    assert rest == [[2.0 * i, 2.0 * i + 1.0] for i in range(1, 21)]
    assert len(model.calls) == 2
    assert len(model.calls[1]) == 40


def test_a_batch_stops_growing_at_max_rows():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model.predict, max_rows=4)
        model.gate.clear()
        blocker = asyncio.create_task(batcher.predict({"x": [0.0]}, 1))
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(batcher.predict({"x": [1.0]}, 1)) for _ in range(10)]
        await asyncio.sleep(0.05)
        model.gate.set()
        await asyncio.gather(blocker, *waiting)

    run(scenario())

    assert [len(call) for call in model.calls] == [1, 4, 4, 2]


def test_a_failed_call_fails_every_request_in_it_and_the_next_call_works():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model.predict)
        model.gate.clear()
        blocker = asyncio.create_task(batcher.predict({"x": [1.0]}, 1))
        await asyncio.sleep(0.05)
        bad = asyncio.create_task(batcher.predict({"x": [-1.0]}, 1))
        good_in_bad_batch = asyncio.create_task(batcher.predict({"x": [3.0]}, 1))
        await asyncio.sleep(0.05)
        model.gate.set()
        assert await blocker == [2.0]
        for task in (bad, good_in_bad_batch):
            with pytest.raises(ValueError, match="negative"):
                await task
        return await batcher.predict({"x": [5.0]}, 1)

    assert run(scenario()) == [10.0]


def test_a_retired_batcher_finishes_what_was_queued():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model.predict)
        model.gate.clear()
        queued = [asyncio.create_task(batcher.predict({"x": [float(i)]}, 1)) for i in range(5)]
        await asyncio.sleep(0.05)
        retiring = asyncio.create_task(batcher.retire())
        await asyncio.sleep(0.05)
        model.gate.set()
        await retiring
        return await asyncio.gather(*queued)

    assert run(scenario()) == [[0.0], [2.0], [4.0], [6.0], [8.0]]
