"""The energy windows job with lookback 12 / horizon 6: inputs precede targets, no window crosses
a split or its gap, a hole in the grid is skipped and counted, and the scaler sees only training
rows (poisoned validation and test values leave every training tensor as it was)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import appliances_energy as energy
from lakeside.forecast import lstm
from lakeside.tables import Lake

JOB = Path(__file__).resolve().parents[2] / "jobs" / "energy_windows.py"
LOOKBACK, HORIZON, ROWS = 12, 6, 400
HOLE = slice(362, 364)  # two missing steps inside the test part


def load_job():
    spec = importlib.util.spec_from_file_location("energy_windows_job", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def series() -> pd.DataFrame:
    frame = energy.generate(ROWS, seed=6)
    return frame.drop(index=frame.index[HOLE]).reset_index(drop=True)


def cut(spark, root: Path, frame: pd.DataFrame):
    lake = Lake(root, backend="embedded", spark=spark)
    lake.table("silver.appliances_energy").overwrite(frame)
    facts = load_job().run(lake, LOOKBACK, HORIZON, run_id="test-run")
    windows = lake.table("gold.energy_windows").to_pandas().sort_values("anchor").reset_index(drop=True)
    features = lake.table("gold.energy_features").to_pandas().sort_values("row").reset_index(drop=True)
    return facts, windows, features, lake


@pytest.fixture(scope="module")
def clean(spark, tmp_path_factory):
    return cut(spark, tmp_path_factory.mktemp("energy-clean"), series())


def test_inputs_precede_targets_and_values_are_the_raw_series(clean):
    facts, windows, features, _ = clean
    assert (windows["anchor"] - windows["first_row"] == LOOKBACK - 1).all()
    assert (windows["target_row"] - windows["anchor"] == HORIZON).all()
    assert (windows["target_time"] > windows["anchor_time"]).all()
    raw = series()
    assert np.allclose(windows["target_value"], raw["Appliances"].to_numpy()[windows["target_row"]])
    assert facts["rows"] == len(raw) == len(features)


def test_no_window_crosses_a_split_or_its_gap_and_skips_are_counted(clean):
    facts, windows, _, _ = clean
    bounds, gap = facts["bounds"], LOOKBACK + HORIZON
    assert bounds["gap"] == gap
    for split in ("train", "val", "test"):
        start, end = bounds[split]
        part = windows[windows["split"] == split]
        assert len(part) and (part["first_row"] >= start).all() and (part["target_row"] < end).all(), split
    assert bounds["val"][0] - bounds["train"][1] == gap and bounds["test"][0] - bounds["val"][1] == gap
    train_rows = windows.loc[windows["split"] == "train", "target_row"].max()
    assert train_rows < windows.loc[windows["split"] == "val", "first_row"].min() - HORIZON
    counts = facts["counts"]
    positions = facts["rows"] - (LOOKBACK - 1) - HORIZON
    assert sum(counts.values()) == positions
    assert counts["skipped_hole"] == LOOKBACK + HORIZON - 1  # every window over the missing steps
    assert counts["skipped_gap"] > 0 and counts["windows_test"] == (windows["split"] == "test").sum()


def test_the_scaler_is_fitted_on_training_rows_only(spark, tmp_path, clean):
    facts, windows, features, _ = clean
    train_end = facts["bounds"]["train"][1]
    scaled_train = features.loc[: train_end - 1, list(energy.FEATURES)]
    assert np.allclose(scaled_train.mean(), 0.0, atol=1e-9)

    poisoned = series()
    later = poisoned.index >= train_end
    poisoned.loc[later, list(energy.FEATURES)] = poisoned.loc[later, list(energy.FEATURES)] * 100 + 7
    facts_p, windows_p, features_p, _ = cut(spark, tmp_path / "lake", poisoned)
    assert facts_p["scaler"] == facts["scaler"]
    train = windows[windows["split"] == "train"]
    pd.testing.assert_frame_equal(train, windows_p[windows_p["split"] == "train"])

    config = lstm.Config(lookback_steps=LOOKBACK, sample_every=1, targets=(HORIZON,))
    tensors = [lstm.gather(frame[list(energy.FEATURES)].to_numpy(np.float32), train["anchor"].to_numpy(), config)
               for frame in (features, features_p)]
    assert tensors[0].shape == (len(train), LOOKBACK, 28)
    assert np.array_equal(tensors[0], tensors[1])
    assert not np.allclose(features.loc[train_end:, "T1"], features_p.loc[train_end:, "T1"])


def test_the_windows_commit_records_what_the_trainer_reads_back(clean):
    from lakeside.snapshot import take
    from lakeside.usecases.energy_lstm import data

    facts, windows, _, lake = clean
    pinned = take(lake.table("gold.energy_windows"), ("anchor",))
    loaded = data.load(pinned)
    assert loaded.facts["features_version"] == facts["features_version"] and loaded.facts["run_id"] == "test-run"
    assert loaded.features.shape == (facts["rows"], 28)
    assert np.allclose(loaded.raw_target, series()["Appliances"].to_numpy())
    assert np.array_equal(loaded.anchors("test"), windows.loc[windows["split"] == "test", "anchor"].to_numpy())
    with pytest.raises(ValueError, match="need windows cut for them"):
        loaded.check_reach(LOOKBACK, HORIZON + 1)
