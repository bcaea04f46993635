"""What a served model takes beyond plain columns: missing integers, integer column names."""

import mlflow
import pytest

from lakeside.serving.models import load, resolve
from lakeside.serving.payloads import PayloadError, parse

pytestmark = pytest.mark.usefixtures("mlflow_server")


@pytest.fixture(scope="module")
def awkward(mlflow_server, tiny):
    mlflow.set_tracking_uri(mlflow_server)
    tiny.register_awkward_columns("awkward_columns")
    return load(resolve("awkward_columns", "champion", mlflow_server))


def test_a_missing_integer_and_an_integer_column_name_are_served(awkward):
    assert [c.name for c in awkward.signature] == ["0", "7"]
    rows = parse({"dataframe_records": [{"0": None, "7": 1.0}, {"0": 4, "7": 0.5}]}, awkward.signature, 10)

    awkward.check(rows)

    assert awkward.predict(rows.columns) == pytest.approx([3.0, 4.5])


def test_a_flavour_that_cannot_take_missing_integers_is_refused_naming_field_and_row(awkward, monkeypatch):
    rows = parse({"columns": [0, 7], "data": [[1, 2.0], [None, 1.0]]}, awkward.signature, 10)
    monkeypatch.setattr(type(awkward), "takes_missing_integers", property(lambda self: False))

    with pytest.raises(PayloadError) as refused:
        awkward.check(rows)

    assert (refused.value.status, refused.value.field, refused.value.row) == (422, "0", 1)


def test_a_model_process_predicts_what_the_served_model_predicts(awkward):
    import asyncio
    import os

    from lakeside.serving import worker
    from lakeside.serving.batching import AdaptiveBatcher

    rows = parse({"dataframe_records": [{"0": None, "7": 1.0}, {"0": 4, "7": 0.5}]}, awkward.signature, 10)
    pool = worker.start(awkward.ref.store_tag, "champion")
    try:
        batcher = AdaptiveBatcher(worker.predict, executor=pool)

        async def two_requests():
            return await asyncio.gather(batcher.predict(rows.columns, 2), batcher.predict(rows.columns, 2))

        answers = asyncio.run(two_requests())
        assert pool.submit(os.getpid).result() != os.getpid()
    finally:
        pool.shutdown()
    assert answers == [pytest.approx([3.0, 4.5])] * 2
