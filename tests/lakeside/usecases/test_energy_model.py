"""The served energy forecaster: raw rows in, the trainer's forecasts out (scaled with the stored
scaler), several windows in one request, and every bad-input class refused with the field and
the row, never trimmed or padded."""

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets.appliances_energy import FEATURES, generate
from lakeside.forecast import lstm
from lakeside.serving.payloads import PayloadError, parse, signature_columns
from lakeside.usecases.energy_lstm import model

LOOKBACK, STEPS = 12, (3, 6)
CONFIG = lstm.Config(lookback_steps=LOOKBACK, sample_every=2, targets=STEPS, units=8, max_epochs=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import mlflow

    raw = generate(300, seed=9)
    values = raw[list(FEATURES)].to_numpy()
    scaler = {name: {"mean": float(values[:, i].mean()), "std": float(values[:, i].std())}
              for i, name in enumerate(FEATURES)}
    scaled = ((values - [scaler[n]["mean"] for n in FEATURES]) / [scaler[n]["std"] for n in FEATURES]).astype(
        np.float32)
    fitted = lstm.fit(scaled, scaled[:, 0], np.arange(LOOKBACK, 200), np.arange(210, 290), CONFIG)
    folder = tmp_path_factory.mktemp("energy-model")
    arguments = model.model_arguments(fitted.model.state_dict(), scaler, CONFIG, raw.iloc[:LOOKBACK], folder / "parts")
    mlflow.pyfunc.save_model(str(folder / "model"), **arguments)
    return {"raw": raw, "scaled": scaled, "scaler": scaler, "fitted": fitted,
            "pyfunc": mlflow.pyfunc.load_model(str(folder / "model"))}


def window(raw: pd.DataFrame, anchor: int) -> pd.DataFrame:
    return raw.iloc[anchor - LOOKBACK + 1:anchor + 1].reset_index(drop=True)


def test_the_served_model_forecasts_what_the_trainer_forecasts_from_raw_rows(saved):
    raw, anchors = saved["raw"], [40, 250]
    expected = lstm.predict(saved["fitted"].model, saved["scaled"], np.array(anchors), CONFIG)
    expected = expected * saved["scaler"]["Appliances"]["std"] + saved["scaler"]["Appliances"]["mean"]

    one = saved["pyfunc"].predict(window(raw, 40))
    assert list(one.columns) == ["date", "Appliances"] and len(one) == len(STEPS)
    assert one["date"].tolist() == [str(raw["date"].iloc[40] + pd.Timedelta(minutes=10 * s)) for s in STEPS]
    assert np.allclose(one["Appliances"], expected[0], rtol=1e-5)

    both = pd.concat([window(raw, a).assign(window_id=a) for a in anchors], ignore_index=True)
    answer = saved["pyfunc"].predict(both)
    assert answer["window_id"].tolist() == [40, 40, 250, 250]
    assert np.allclose(answer["Appliances"].to_numpy().reshape(2, 2), expected, rtol=1e-5)


def refusal(saved, frame: pd.DataFrame) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        saved["pyfunc"].predict(frame)
    assert caught.value.status == 422
    return caught.value


def test_a_window_of_another_length_is_refused_not_trimmed_or_padded(saved):
    error = refusal(saved, window(saved["raw"], 60).iloc[1:])
    assert "expected 12 rows a window, received 11" in str(error) and error.field == "date" and error.row == 0
    two = pd.concat([window(saved["raw"], 40).assign(window_id=1), window(saved["raw"], 80).iloc[:13].assign(
        window_id=2)], ignore_index=True)
    error = refusal(saved, pd.concat([two, two.iloc[[-1]]], ignore_index=True))
    assert "window 2" in str(error) and error.field == "window_id" and error.row == 12


def test_steps_that_are_not_ten_minutes_apart_name_the_first_bad_row(saved):
    rows = window(saved["raw"], 60)
    rows.loc[7:, "date"] = rows.loc[7:, "date"] + pd.Timedelta(minutes=5)
    error = refusal(saved, rows)
    assert error.field == "date" and error.row == 7 and "10 minutes" in str(error)
    shuffled = window(saved["raw"], 60).iloc[::-1].reset_index(drop=True)
    assert refusal(saved, shuffled).row == 1


def test_the_signature_refuses_missing_extra_nan_and_non_number_cells_naming_field_and_row(saved):
    columns = signature_columns(model.signature().inputs)
    rows = window(saved["raw"], 60).assign(date=lambda f: f["date"].astype(str))
    records = rows.to_dict(orient="records")
    assert parse({"dataframe_records": records}, columns, 10_000).count == LOOKBACK

    def refused(records):
        with pytest.raises(PayloadError) as caught:
            parse({"dataframe_records": records}, columns, 10_000)
        return caught.value

    missing = [dict(r) for r in records]
    del missing[3]["T_out"]
    assert (refused(missing).field, refused(missing).row) == ("T_out", 3)
    extra = [dict(r) for r in records]
    extra[0]["T10"] = 1.0
    assert (refused(extra).field, refused(extra).row) == ("T10", 0)
    nan = [dict(r) for r in records]
    nan[5]["RH_2"] = float("nan")
    assert (refused(nan).field, refused(nan).row) == ("RH_2", 5)
    text = [dict(r) for r in records]
    text[9]["Appliances"] = "sixty"
    error = refused(text)
    assert (error.field, error.row, error.status) == ("Appliances", 9, 422) and "a number" in str(error)
