"""Batch inference on Spark: the champion's predictions for a day's rows equal
``pyfunc.predict``, a rerun gives the same table, and a source lacking an input column fails
before scoring, naming it."""

import datetime as dt
import importlib.util
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from lakeside import batch_inference
from lakeside.tables import Lake

_spec = importlib.util.spec_from_file_location(
    "serving_tiny_models", Path(__file__).parent / "serving" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

MODEL = "batch_tabular"
DAYS = [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]


@pytest.fixture(scope="module")
def champion(mlflow_server):
    mlflow.set_tracking_uri(mlflow_server)
    tiny.register_tabular(MODEL, slope=3.0)
    return batch_inference.resolve(MODEL, "champion")


@pytest.fixture()
def lake(tmp_path, spark):
    lake = Lake(tmp_path / "lake", backend="embedded", spark=spark)
    silver = pd.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "size": [1.0, 2.0, 3.5, 4.0, 0.5],
        "rooms": [1.0, 2.0, 3.0, 1.5, 2.5],
        "colour": ["red", "blue", "red", "green", "blue"],
        "_ingest_date": [DAYS[0], DAYS[0], DAYS[1], DAYS[1], DAYS[1]],
    })
    lake.table("silver.things").overwrite(silver)
    return lake


def test_each_day_gets_the_champion_s_predictions_and_a_rerun_changes_nothing(spark, lake, champion):
    for day in DAYS:
        written = batch_inference.score(spark, lake, champion, "silver.things", ["id"], day)
    first = lake.table("predictions.batch_tabular").read().toPandas().sort_values("id").reset_index(drop=True)

    source = lake.table("silver.things").read().toPandas().sort_values("id")
    expected = mlflow.pyfunc.load_model(champion.uri).predict(source[tiny.COLUMNS])
    assert first["id"].tolist() == [1, 2, 3, 4, 5] and written["rows"] == 3
    assert first["prediction"].tolist() == pytest.approx(list(expected))
    assert first["date"].tolist() == [DAYS[0]] * 2 + [DAYS[1]] * 3
    assert set(first["model_version"]) == {champion.version} and set(first["source_version"]) == {0}
    assert set(pd.to_datetime(first["scored_at"]).dt.strftime("%Y-%m-%d %H:%M")) == {"2024-01-02 00:00", "2024-01-03 00:00"}

    batch_inference.score(spark, lake, champion, "silver.things", ["id"], DAYS[0])

    again = lake.table("predictions.batch_tabular").read().toPandas().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, again)


def test_a_missing_input_column_fails_before_scoring(spark, lake, champion):
    lake.table("silver.lacking").overwrite(pd.DataFrame({"id": [1], "size": [1.0], "_ingest_date": [DAYS[0]]}))

    with pytest.raises(batch_inference.MissingInputColumns, match=r"\['rooms'\]"):
        batch_inference.score(spark, lake, champion, "silver.lacking", ["id"], DAYS[0])

    assert not lake.table("predictions.batch_tabular").exists()
