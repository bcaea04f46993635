import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import paysim

SILVER_DTYPES = {"int": "int32", "double": "float64", "string": "object"}

PUBLIC_LINES = """\
step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud
1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0
1,TRANSFER,181.0,C1305486145,181.0,0.0,C553264065,0.0,0.0,1,0
1,CASH_OUT,181.0,C840083671,181.0,0.0,C38997010,21182.0,0.0,1,0
1,DEBIT,5337.77,C712410124,41720.0,36382.23,C195600860,41898.0,40348.79,0,0
2,CASH_IN,143236.26,C1862994526,0.0,0.0,C1602498539,608932.17,97263.78,0,0
"""


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return paysim.generate(20_000, seed=3)


def test_columns_and_dtypes_follow_the_spec(log):
    assert list(log.columns) == paysim.SPEC.column_names
    for column in paysim.SPEC.columns:
        assert str(log[column.name].dtype) == SILVER_DTYPES[column.kind], column.name
    assert len(log) == 20_000


def test_same_seed_same_frame_other_seed_other_frame():
    first = paysim.generate(2_000, seed=7)
    pd.testing.assert_frame_equal(first, paysim.generate(2_000, seed=7))
    assert not first.equals(paysim.generate(2_000, seed=8))


def test_values_stay_in_the_spec_domain(log):
    assert log["step"].between(1, 744).all()
    assert set(log["type"]) == set(paysim.TYPES)
    money = ["amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest"]
    assert (log[money] >= 0).all().all()
    assert log["nameOrig"].str.fullmatch(r"C\d+").all()
    assert log["nameDest"].str.fullmatch(r"[CM]\d+").all()
    assert set(log["isFraud"]) <= {0, 1} and set(log["isFlaggedFraud"]) <= {0, 1}
    assert not log.duplicated(list(paysim.SPEC.key)).any()
    assert log["step"].is_monotonic_increasing


def test_type_mix_is_the_public_one(log):
    share = log["type"].value_counts(normalize=True)
    for kind, expected in paysim.TYPE_SHARES.items():
        assert share[kind] == pytest.approx(expected, abs=0.015 if expected > 0.05 else 0.004), kind


def test_origin_balances_move_by_the_amount(log):
    cash_in = log["type"] == "CASH_IN"
    change = log["newbalanceOrig"] - log["oldbalanceOrg"]
    assert np.allclose(change[cash_in], log.loc[cash_in, "amount"], atol=0.005)
    assert np.allclose(change[~cash_in], -log.loc[~cash_in, "amount"], atol=0.005)
    assert ((log["newbalanceOrig"] <= 12) & (log["oldbalanceOrg"] > 0)).any(), "some customers empty their account"


def test_customer_destinations_move_by_the_amount_and_merchants_have_no_balance(log):
    merchant = log["nameDest"].str.startswith("M")
    assert (merchant == (log["type"] == "PAYMENT")).all()
    assert (log.loc[merchant, ["oldbalanceDest", "newbalanceDest"]] == 0).all().all()
    customers = log[~merchant]
    change = customers["newbalanceDest"] - customers["oldbalanceDest"]
    sign = np.where(customers["type"] == "CASH_IN", -1, 1)
    assert np.allclose(change, sign * customers["amount"], atol=0.005)


def test_fraud_is_a_transfer_to_a_mule_then_a_cash_out_that_drains_it(log):
    fraud = log[log["isFraud"] == 1]
    assert set(fraud["type"]) == {"TRANSFER", "CASH_OUT"}
    assert len(fraud) / len(log) == pytest.approx(paysim.FRAUD_SHARE, abs=0.0005)
    transfers = fraud[fraud["type"] == "TRANSFER"]
    cash_outs = fraud[fraud["type"] == "CASH_OUT"].set_index("nameOrig")
    assert len(transfers) == len(cash_outs)
    mule_out = cash_outs.loc[transfers["nameDest"]]
    assert (mule_out["step"].to_numpy() == transfers["step"].to_numpy()).all()
    assert (mule_out["amount"].to_numpy() == transfers["amount"].to_numpy()).all()
    assert (mule_out["oldbalanceOrg"].to_numpy() == transfers["newbalanceDest"].to_numpy()).all()
    assert (mule_out["newbalanceOrig"] == 0).all()
    whole_balance = transfers["amount"] == np.minimum(transfers["oldbalanceOrg"], paysim.MAX_FRAUD_TRANSFER)
    assert whole_balance.all()


def test_only_fraudulent_transfers_over_the_limit_are_flagged(log):
    expected = (log["isFraud"] == 1) & (log["type"] == "TRANSFER") & (log["amount"] > paysim.FLAG_LIMIT)
    assert expected.any()
    assert (log["isFlaggedFraud"] == expected.astype(int)).all()


def test_a_daily_batch_holds_the_days_steps_and_lands_as_text():
    first, last = paysim.daily_batch(dt.date(2024, 1, 1), 500, seed=1), paysim.daily_batch(dt.date(2024, 1, 31), 500)
    assert set(paysim.day_of(first["step"])) == {0} and first["step"].min() >= 1
    assert set(paysim.day_of(last["step"])) == {30}
    assert first["step"].is_monotonic_increasing and not first.duplicated(list(paysim.SPEC.key)).any()
    raw = paysim.daily_raw(dt.date(2024, 1, 2), 50, seed=1)
    assert list(raw.columns) == paysim.SPEC.column_names and raw.map(lambda v: isinstance(v, str)).all().all()


def test_generated_balances_pass_every_row_check():
    """The generator's rows add up where PaySim's do: the ingest's row checks refuse none of them."""
    log = paysim.generate(20_000, seed=4)
    debit = log["type"].isin(paysim.DEBITS)
    tolerance = paysim.BALANCE_TOLERANCE
    assert not (debit & (log["newbalanceOrig"] > log["oldbalanceOrg"] + tolerance)).any()
    assert not (debit & (log["newbalanceOrig"] < log["oldbalanceOrg"] - log["amount"] - tolerance)).any()
    merchant = log["nameDest"].str.startswith("M")
    assert (log.loc[merchant, ["oldbalanceDest", "newbalanceDest"]] == 0).all().all()


def test_load_reads_the_public_format(tmp_path):
    path = tmp_path / "PS_20174392719_1491204439457_log.csv"
    path.write_text(PUBLIC_LINES)
    loaded = paysim.load(str(path))
    assert list(loaded.columns) == paysim.SPEC.column_names
    assert loaded.dtypes.astype(str).tolist() == paysim.generate(10).dtypes.astype(str).tolist()
    assert loaded.loc[0, "amount"] == 9839.64 and loaded.loc[0, "nameDest"] == "M1979787155"
    assert loaded["isFraud"].tolist() == [0, 1, 1, 0, 0]
    assert loaded["step"].tolist() == [1, 1, 1, 1, 2]


def test_generated_rows_survive_the_public_text_format(tmp_path):
    log = paysim.generate(3_000, seed=5)
    path = tmp_path / "log.csv"
    paysim.to_raw(log).to_csv(path, index=False)
    pd.testing.assert_frame_equal(paysim.load(str(path)), log)


def test_load_names_the_missing_columns(tmp_path):
    path = tmp_path / "partial.csv"
    path.write_text("step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest\n1,PAYMENT,1.0,C1,2.0,1.0,M2\n")
    with pytest.raises(ValueError, match="oldbalanceDest, newbalanceDest, isFraud, isFlaggedFraud"):
        paysim.load(str(path))
