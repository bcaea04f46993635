import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakeside.automl.families import FAMILIES, Call, resolve
from lakeside.automl.features import FeatureRoles, build_preprocessor, infer_roles, to_dates, to_number
from lakeside.datasets import loans

LEAKAGE = ["id", "int_rate", "loan_status", "total_pymnt"]


@pytest.fixture(scope="module")
def typed():
    return loans.generate(300, seed=3).drop(columns=LEAKAGE)


def test_roles_of_the_silver_loans(typed):
    roles = infer_roles(typed)
    assert roles == FeatureRoles(
        numeric=("loan_amnt", "term", "emp_length", "annual_inc", "dti", "revol_util"),
        date=("issue_d", "earliest_cr_line"),
        ordinal={"grade": ("A", "B", "C", "D", "E", "F", "G")},
        categorical=("verification_status", "addr_state"),
    )
    assert eval(repr(roles), {"FeatureRoles": FeatureRoles}) == roles


def test_raw_text_columns_give_the_same_features_as_typed_ones(typed):
    raw = loans.to_raw(loans.generate(300, seed=3)).drop(columns=LEAKAGE)
    assert infer_roles(raw) == infer_roles(typed)
    fitted = build_preprocessor(infer_roles(typed), scale=True).fit(typed)
    np.testing.assert_allclose(fitted.transform(raw), fitted.transform(typed))
    as_timestamps = typed.assign(issue_d=pd.to_datetime(typed["issue_d"]),
                                 emp_length=typed["emp_length"].astype("float64"))
    np.testing.assert_allclose(fitted.transform(as_timestamps), fitted.transform(typed))


def test_dates_become_year_month_and_credit_history_months(typed):
    row = typed.head(1).assign(issue_d=[dt.date(2015, 4, 1)], earliest_cr_line=["Dec-1999"])
    preprocessor = build_preprocessor(infer_roles(typed), scale=False).fit(typed)
    features = dict(zip(preprocessor.get_feature_names_out(), preprocessor.transform(row)[0], strict=True))
    assert features["issue_d_year"] == 2015 and features["issue_d_month"] == 4
    assert features["earliest_cr_line_year"] == 1999 and features["earliest_cr_line_month"] == 12
    assert features["issue_d_minus_earliest_cr_line_months"] == 15 * 12 + 4
    assert features["grade"] == "ABCDEFG".index(row["grade"].iloc[0])


def test_text_parsing():
    parsed = to_number(pd.Series([" 36 months", "10+ years", "< 1 year", "13.56%", "1,000", "n/a", None]))
    np.testing.assert_array_equal(parsed, [36, 10, 0, 13.56, 1000, np.nan, np.nan])
    dates = to_dates(pd.Series(["Apr-2015", dt.date(2016, 5, 1), "2017-06-01", None, "junk"], dtype=object))
    assert list(dates.dt.strftime("%Y-%m").fillna("-")) == ["2015-04", "2016-05", "2017-06", "-", "-"]


def test_unseen_categories_and_missing_values_still_predict(typed):
    preprocessor = build_preprocessor(infer_roles(typed), scale=True).fit(typed)
    odd = typed.head(2).assign(addr_state=["ZZ", None], grade=["Q", None], dti=[np.nan, np.nan])
    assert np.isfinite(preprocessor.transform(odd)).all()


def test_calls_build_what_their_code_says():
    call = FAMILIES["svr"].estimator({"C": 1.5, "epsilon": 0.1, "gamma": 0.01}, 0)
    namespace: dict = {}
    exec("\n".join(call.imports()) + f"\nestimator = {call.code()}", namespace)
    assert repr(namespace["estimator"]) == repr(call.build())
    assert Call("sklearn.linear_model.Ridge", {}).code() == "Ridge()"


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown model families.*linear"):
        resolve(["linear", "deep_learning"])
    assert len(FAMILIES) >= 6
