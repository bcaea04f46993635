"""The appliances energy source: the generator's shape and determinism, the public file's header,
and ingest's refusals (off-grid and repeated times, non-numbers, humidity outside 0-100,
negative energy) with their reasons."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakeside import ingest
from lakeside.datasets import appliances_energy as energy
from lakeside.tables import Lake

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "energydata_complete_excerpt.csv"


def test_the_full_series_spans_the_public_period_at_ten_minute_steps():
    frame = energy.generate()
    assert list(frame.columns) == energy.SPEC.column_names and len(energy.FEATURES) == 28
    assert len(frame) == 19_735
    assert frame["date"].iloc[0] == pd.Timestamp("2016-01-11 17:00") and frame["date"].iloc[-1] == pd.Timestamp(
        "2016-05-27 18:00")
    assert (frame["date"].diff().iloc[1:] == pd.Timedelta(minutes=10)).all()
    assert all(str(frame[name].dtype) == "float64" for name in energy.FEATURES)
    humidity = frame[[*energy.HUMIDITIES, "RH_out"]]
    assert ((humidity >= 0) & (humidity <= 100)).all().all()
    assert (frame["Appliances"] >= 10).all() and (frame["Appliances"] % 10 == 0).all()
    assert frame["rv1"].equals(frame["rv2"])
    hourly = frame.groupby(frame["date"].dt.hour)["Appliances"].mean()
    assert hourly.loc[18:20].mean() > 1.5 * hourly.loc[1:4].mean()  # evenings use more than nights
    assert frame["T_out"].iloc[-1000:].mean() > frame["T_out"].iloc[:1000].mean() + 5  # spring is warmer


def test_same_seed_same_series_other_seed_other_series():
    first = energy.generate(500, seed=4)
    pd.testing.assert_frame_equal(first, energy.generate(500, seed=4))
    assert not first.equals(energy.generate(500, seed=5))


def test_the_public_file_loads_into_the_generator_s_shape(tmp_path):
    frame = energy.load(str(FIXTURE))
    assert list(frame.columns) == energy.SPEC.column_names and len(frame) == 5
    assert frame["date"].iloc[0] == pd.Timestamp("2016-01-11 17:00:00")
    assert frame["Appliances"].tolist() == [60.0, 60.0, 50.0, 50.0, 60.0]
    assert frame["RH_1"].iloc[0] == pytest.approx(47.5966666666667)
    assert frame.dtypes.drop("date").eq("float64").all()
    generated = energy.generate(5, seed=1)
    energy.to_raw(generated).to_csv(tmp_path / "generated.csv", index=False)
    pd.testing.assert_frame_equal(energy.load(str(tmp_path / "generated.csv")), generated)


def test_a_day_lands_its_144_steps_from_midnight():
    raw = energy.daily_raw(dt.date(2024, 3, 5), rows=2000)
    assert len(raw) == 144 and raw["date"].iloc[0] == "2024-03-05 00:00:00" and raw["date"].iloc[-1] == (
        "2024-03-05 23:50:00")


def test_ingest_quarantines_bad_rows_with_their_reasons(spark, tmp_path):
    raw = energy.to_raw(energy.generate(8, seed=2))
    raw.loc[1, "date"] = "2016-01-11 17:13:00"
    raw.loc[2, "date"] = raw.loc[0, "date"]
    raw.loc[3, "T_out"] = "n/a?"
    raw.loc[4, "RH_3"] = "104.2"
    raw.loc[5, "Appliances"] = "-10"
    path = tmp_path / "energydata_complete.csv"
    raw.to_csv(path, index=False)
    lake = Lake(tmp_path / "lake", backend="embedded", spark=spark)
    spec, day = energy.SPEC, dt.date(2016, 1, 11)
    batch = ingest.transform(ingest.extract(spark, [str(path)], spec), spec, day, "run-1")
    report = ingest.load(lake, batch, spec, day, "run-1", [str(path)], max_rejected_share=1.0)

    assert (report.rows_in, report.rows_valid, report.rows_rejected) == (8, 3, 5)
    reasons = lake.table("quarantine.appliances_energy").to_pandas().sort_values("_row")
    by_row = dict(zip(reasons["_row"] - 1, reasons["_reason"]))  # _row counts records from 1
    assert "10-minute grid" in by_row[1]
    assert "duplicate key (date): row 1 already has it" in by_row[2]
    assert "T_out" in by_row[3] and "RH_3" in by_row[4] and "Appliances" in by_row[5]
    silver = lake.table("silver.appliances_energy").to_pandas()
    assert len(silver) == 3 and np.isfinite(silver[list(energy.FEATURES)].to_numpy()).all()
