import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import faults, loans

PUBLIC_FILE = """\
Notes offered by Prospectus (https://www.lendingclub.com/info/prospectus.action)
"id","member_id","loan_amnt","term","int_rate","grade","emp_length","annual_inc","verification_status","issue_d","loan_status","addr_state","dti","earliest_cr_line","revol_util","total_pymnt"
"1077501","1296599","5000"," 36 months"," 10.65%","B","10+ years","24000","Verified","Dec-2011","Fully Paid","AZ","27.65","Jan-1985","83.7%","5863.155187"
"1077430","1314167","2500"," 60 months"," 15.27%","C","< 1 year","30000","Source Verified","Dec-2011","Charged Off","GA","1","Apr-1999","9.4%","1014.53"
"1077175","1313524","2400"," 36 months"," 15.96%","C","n/a","12252","Not Verified","Dec-2011","Fully Paid","IL","8.72","Nov-2001","","3005.666844"

Total amount funded in policy code 1: 471701350
"""


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return loans.generate(20_000, seed=7)


def test_columns_and_types_follow_the_spec(sample):
    assert list(sample.columns) == loans.SPEC.column_names
    assert sample["id"].dtype == "int64" and sample["emp_length"].dtype == "int32"
    assert all(sample[c].dtype == "float64" for c in ("loan_amnt", "int_rate", "annual_inc", "dti", "revol_util"))
    assert isinstance(sample.loc[0, "issue_d"], dt.date) and sample.loc[0, "issue_d"].day == 1
    assert sample["id"].is_unique


def test_values_stay_in_their_domains(sample):
    assert set(sample["grade"]) == set(loans.GRADES)
    assert set(sample["term"]) == set(loans.TERMS)
    assert set(sample["verification_status"]) == set(loans.VERIFICATION)
    assert set(sample["loan_status"]) == set(loans.STATUSES)
    assert sample["int_rate"].between(5, 31).all() and sample["emp_length"].between(0, 10).all()
    assert (sample["earliest_cr_line"] < sample["issue_d"]).all()


def test_same_seed_same_loans():
    pd.testing.assert_frame_equal(loans.generate(500, seed=3), loans.generate(500, seed=3))
    assert not loans.generate(500, seed=3).equals(loans.generate(500, seed=4))


def test_interest_rate_rises_with_grade_term_and_dti(sample):
    by_grade = sample.groupby("grade")["int_rate"].mean()
    assert by_grade.is_monotonic_increasing and by_grade["G"] - by_grade["A"] > 15
    same_grade = sample[sample["grade"] == "C"]
    assert same_grade.groupby("term")["int_rate"].mean().diff().iloc[-1] > 1.5
    residual = sample["int_rate"] - sample["grade"].map(by_grade)
    assert np.corrcoef(residual, sample["dti"])[0, 1] > 0.2


def test_a_linear_model_on_the_loan_columns_explains_most_of_the_rate(sample):
    features = pd.get_dummies(sample[["grade", "term"]], dtype=float).assign(
        dti=sample["dti"], revol_util=sample["revol_util"], year=[d.year for d in sample["issue_d"]]
    )
    design = np.column_stack([features.to_numpy(), np.ones(len(features))])
    coef, *_ = np.linalg.lstsq(design, sample["int_rate"].to_numpy(), rcond=None)
    residual = sample["int_rate"].to_numpy() - design @ coef
    r2 = 1 - residual.var() / sample["int_rate"].var()
    assert r2 > 0.9


def test_worse_grades_charge_off_more(sample):
    charged = (sample["loan_status"] == "Charged Off").groupby(sample["grade"]).mean()
    assert charged["G"] > 3 * charged["A"]


def test_daily_batches_have_distinct_ids_and_the_day_s_month():
    first = loans.daily_batch(dt.date(2024, 1, 1), 100)
    second = loans.daily_batch(dt.date(2024, 1, 2), 100)
    assert set(first["id"]).isdisjoint(second["id"])
    assert set(second["issue_d"]) == {dt.date(2024, 1, 1)}
    pd.testing.assert_frame_equal(first, loans.daily_batch(dt.date(2024, 1, 1), 100))


def test_raw_text_uses_the_public_file_formats():
    raw = loans.to_raw(loans.generate(200, seed=1))
    assert raw["term"].isin([" 36 months", " 60 months"]).all()
    assert raw["issue_d"].str.fullmatch(r"[A-Z][a-z]{2}-\d{4}").all()
    assert raw["emp_length"].str.fullmatch(r"(< 1 year|1 year|[2-9] years|10\+ years)").all()


def test_raw_text_parses_back_to_the_same_loans():
    typed = loans.generate(300, seed=2)
    back = loans.SPEC.typed(loans.to_raw(typed))
    pd.testing.assert_frame_equal(back, typed, check_dtype=False)


def test_load_reads_the_public_file(tmp_path):
    path = tmp_path / "LoanStats3a.csv"
    path.write_text(PUBLIC_FILE)
    frame = loans.load(str(path))
    assert frame["id"].tolist() == [1077501, 1077430, 1077175]
    assert frame["int_rate"].tolist() == [10.65, 15.27, 15.96]
    assert frame["term"].tolist() == ["36 months", "60 months", "36 months"]
    assert frame["emp_length"].tolist() == [10, 0, pd.NA]
    assert frame["issue_d"].tolist() == [dt.date(2011, 12, 1)] * 3
    assert frame["revol_util"].iloc[:2].tolist() == [83.7, 9.4] and pd.isna(frame["revol_util"].iloc[2])


def test_load_names_the_missing_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("id,loan_amnt,grade\n1,1000,A\n")
    with pytest.raises(ValueError, match="missing columns: term, int_rate"):
        loans.load(str(path))


def test_faults_break_about_the_asked_share_and_duplicate_some_keys():
    raw = loans.to_raw(loans.generate(4000, seed=5))
    broken = faults.inject(raw, loans.SPEC, share=0.05, seed=1)
    duplicates = broken["id"].duplicated().sum()
    changed = (broken.iloc[: len(raw)] != raw).any(axis=1).sum()
    assert len(broken) == len(raw) + duplicates
    assert 0.02 * len(raw) < changed + duplicates < 0.08 * len(raw)
    pd.testing.assert_frame_equal(broken, faults.inject(raw, loans.SPEC, share=0.05, seed=1))


def test_load_reads_a_real_export_with_its_quirks():
    frame = loans.load(str(Path(__file__).resolve().parents[2] / "fixtures" / "LoanStats3a_excerpt.csv"))
    assert len(frame) == 12 and frame["id"].is_unique
    first = frame.set_index("id").loc[1075269]
    assert (first["int_rate"], first["term"], first["emp_length"]) == (7.90, "36 months", 3)
    assert "Does not meet the credit policy. Status:Fully Paid" in set(frame["loan_status"])
