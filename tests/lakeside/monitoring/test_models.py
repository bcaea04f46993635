"""A served model's drift against its champion's training snapshot, from its inference table:
a day like the snapshot is quiet, a day shifted by half a standard deviation is flagged, too few
rows give no verdict, and a rerun gives the same tables."""

import datetime as dt
import importlib.util
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from lakeside.monitoring import models
from lakeside.monitoring.thresholds import validate_drift
from lakeside.serving.inference import InferenceLog, InferenceRecord
from lakeside.tables import Lake

_spec = importlib.util.spec_from_file_location(
    "serving_tiny_models", Path(__file__).parents[1] / "serving" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

MODEL = "monitored_tabular"
QUIET, SHIFTED, SPARSE = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)
THRESHOLDS = validate_drift({"min_rows": 100}, "test")


def things(rows: int, seed: int, size_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"size": rng.normal(10 + size_shift, 2, rows), "rooms": rng.normal(3, 1, rows)})


def score_a_day(lake: Lake, day: dt.date, scored: pd.DataFrame, source: str) -> None:
    """``scored`` as version 0 of ``source`` and its predictions as the batch predictions of ``day``."""
    lake.table(source).overwrite(scored)
    predictions = scored[["id"]].assign(
        prediction=tiny.linear_prediction(scored[["size", "rooms"]].values.tolist(), 2.0), model_version="1",
        source_version=0, date=day, scored_at=pd.Timestamp(day, tz="UTC"))
    lake.table(f"predictions.{MODEL}").replace_where(
        f"date = '{day}'", predictions, partition_by=["date"],
        metadata={"model": MODEL, "source": source, "source_version": "0", "date": day.isoformat()})


@pytest.fixture(scope="module")
def lake(mlflow_server, tmp_path_factory):
    mlflow.set_tracking_uri(mlflow_server)
    lake = Lake(tmp_path_factory.mktemp("monitored") / "lake", backend="embedded")
    lake.table("silver.things").overwrite(things(2000, seed=1).assign(id=range(2000)))
    version = tiny.register_tabular(MODEL, slope=2.0)
    client = MlflowClient()
    client.set_model_version_tag(MODEL, version, "snapshot_table", "silver.things")
    client.set_model_version_tag(MODEL, version, "snapshot_version", "0")
    log = InferenceLog(lake.root, tmp_path_factory.mktemp("spill"))
    for day, frame in ((QUIET, things(300, seed=2)), (SHIFTED, things(300, seed=3, size_shift=1.0)),
                       (SPARSE, things(20, seed=4, size_shift=1.0))):
        for number, part in enumerate(np.array_split(frame, 3)):
            body = {"dataframe_records": part.to_dict("records")}
            answer = {"predictions": tiny.linear_prediction(part[["size", "rooms"]].values.tolist(), 2.0)}
            log.record(InferenceRecord(f"{day}-{number}", dt.datetime.combine(day, dt.time(9), dt.timezone.utc),
                                       MODEL, version, "champion", json.dumps(body).encode(),
                                       json.dumps(answer).encode(), 200, 2.0))
        log.record(InferenceRecord(f"{day}-refused", dt.datetime.combine(day, dt.time(9), dt.timezone.utc), MODEL,
                                   version, "champion", b'{"dataframe_records": [{"size": "wide"}]}',
                                   b'{"error": "size"}', 422, 1.0))
    log.flush()
    return lake


def test_a_day_like_the_snapshot_is_quiet(lake):
    finding = models.monitor(MODEL, lake, QUIET, THRESHOLDS)

    assert finding.verdict == "ok" and finding.drifted == [] and finding.recent_rows == 300
    drifts = lake.table("monitoring.drift_metrics").to_arrow().to_pandas()
    assert set(drifts["column"]) == {"size", "rooms", "prediction"} and not drifts["drifted"].any()


def test_a_half_sd_shift_is_flagged_with_its_value_and_threshold(lake):
    finding = models.monitor(MODEL, lake, SHIFTED, THRESHOLDS)

    assert finding.verdict == "drifted"
    assert any(message.startswith("size PSI ") and message.endswith("> 0.2") for message in finding.drifted)
    assert not any(message.startswith("rooms ") for message in finding.drifted)
    assert any(message.startswith("prediction ") for message in finding.drifted), "the predictions moved too"
    profiles = lake.table("monitoring.profile_metrics").to_arrow().to_pandas()
    shifted = profiles[(profiles["date"] == SHIFTED) & (profiles["column"] == "size")].set_index("sample")
    assert shifted.loc["baseline", "mean"] == pytest.approx(10, abs=0.2)
    assert shifted.loc["recent", "mean"] == pytest.approx(11, abs=0.3)
    assert shifted.loc["recent", "count"] == 300


def test_too_few_rows_give_no_verdict_and_a_rerun_the_same_tables(lake):
    finding = models.monitor(MODEL, lake, SPARSE, THRESHOLDS)
    before = lake.table("monitoring.drift_metrics").to_arrow().to_pandas()

    again = models.monitor(MODEL, lake, SPARSE, THRESHOLDS)

    assert finding.verdict == again.verdict == "insufficient data" and finding.drifted == []
    after = lake.table("monitoring.drift_metrics").to_arrow().to_pandas()
    key = ["date", "column", "metric"]
    pd.testing.assert_frame_equal(before.sort_values(key).reset_index(drop=True),
                                  after.sort_values(key).reset_index(drop=True))


def test_a_new_snapshot_is_compared_with_the_champion_s(lake):
    lake.table("silver.things").overwrite(things(2000, seed=5, size_shift=1.0).assign(id=range(2000)))
    moved = models.snapshot_drift(MODEL, "silver.things", 1, lake)
    same = models.snapshot_drift(MODEL, "silver.things", 0, lake)

    assert any(message.startswith("size PSI") for message in moved["drifted"])
    assert not any(message.startswith("rooms") for message in moved["drifted"])
    assert same["drifted"] == [] and same["champion"] == moved["champion"]
    assert models.snapshot_drift("never_registered_model", "silver.things", 0, lake) == {"drifted": [], "champion": None}


def test_a_day_of_batch_predictions_is_judged_on_the_rows_it_scored(lake):
    day = dt.date(2024, 1, 6)
    scored = things(400, seed=6, size_shift=1.0).assign(id=range(5000, 5400))
    score_a_day(lake, day, scored, "silver.scored_things")

    rows = models.batch_predictions(MODEL, lake, [day], ["size", "rooms"])
    finding = models.monitor(MODEL, lake, day, THRESHOLDS)

    assert len(rows) == 400
    assert rows["size"].tolist() == pytest.approx(scored["size"].tolist())
    assert finding.recent_rows == 400
    assert any(message.startswith("size PSI ") for message in finding.drifted)


def test_spark_writes_the_same_monitoring_rows_as_pandas(lake, spark, tmp_path):
    """Past ``spark_rows`` recent rows the batch predictions are read, joined and compared by
    Spark; the served requests join them with the batch rows' types. Same tables either way."""
    day = dt.date(2024, 1, 7)
    score_a_day(lake, day, things(500, seed=8, size_shift=0.5).assign(id=range(7000, 7500)), "silver.more_things")
    served = things(150, seed=9)
    log = InferenceLog(lake.root, tmp_path / "spill")
    log.record(InferenceRecord(
        f"{day}-served", dt.datetime.combine(day, dt.time(9), dt.timezone.utc), MODEL, "1", "champion",
        json.dumps({"dataframe_records": served.to_dict("records")}).encode(),
        json.dumps({"predictions": tiny.linear_prediction(served.values.tolist(), 2.0)}).encode(), 200, 2.0))
    log.flush()

    def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
        read = [lake.table(f"monitoring.{name}").to_arrow().to_pandas() for name in ("profile_metrics", "drift_metrics")]
        return tuple(frame[frame["date"] == day].sort_values(["column", *extra]).reset_index(drop=True)
                     for frame, extra in zip(read, (["sample"], ["metric"])))

    by_pandas = models.monitor(MODEL, lake, day, THRESHOLDS, spark_rows=10**9)
    pandas_tables = tables()
    by_spark = models.monitor(MODEL, lake, day, THRESHOLDS, spark_rows=1)
    spark_tables = tables()

    assert (by_spark.verdict, by_spark.drifted, by_spark.recent_rows) == (by_pandas.verdict, by_pandas.drifted, 650)
    for mine, theirs in zip(spark_tables, pandas_tables):
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-9)
    assert lake.table("monitoring.drift_metrics").history(1)[0].metadata["engine"] == "spark"
    assert set(spark_tables[1]["column"]) == {"size", "rooms", "prediction"}


def test_evidently_report_of_the_shifted_day_is_logged_and_names_the_shifted_column(lake):
    """Evidently's own verdict on the unshifted column is its business (at 300 rows its normed
    Wasserstein distance sits near its 0.1 threshold); the shifted one must stand out."""
    from lakeside.monitoring import report

    made = report.report(MODEL, SHIFTED, lake)
    client = MlflowClient()
    run = client.get_run(made.run_id)
    assert run.data.tags["model"] == MODEL and run.data.tags["date"] == SHIFTED.isoformat()
    html = Path(client.download_artifacts(made.run_id, "report.html")).read_text()
    assert "size" in html and "rooms" in html
    assert set(made.drift) == {"size", "rooms", "prediction"}
    assert made.drift["size"]["drifted"], made.drift
    assert made.drift["size"]["score"] > 3 * made.drift["rooms"]["score"], "the shifted column does not stand out"
    assert "size" in made.drifted and run.data.metrics["drifted_columns"] == len(made.drifted)
    assert run.data.metrics["request_rows"] == 300

    again = report.report(MODEL, SHIFTED, lake)
    assert again.run_id == made.run_id, "a rerun of the same model, version and date logs into its run"

    from lakeside.tracking import experiment_id

    with mlflow.start_run(experiment_id=experiment_id("after-the-report")) as later:
        pass
    with mlflow.start_run(run_id=later.info.run_id):  # refused if the report set a global experiment
        pass

