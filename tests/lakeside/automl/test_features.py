import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakeside.automl.families import FAMILIES, Call, families_for, resolve
from lakeside.automl.features import FeatureRoles, build_preprocessor, infer_roles, to_dates, to_number
from lakeside.datasets import loans

LEAKAGE = ["id", "int_rate", "loan_status", "total_pymnt"]


@pytest.fixture(scope="module")
def typed():
    return loans.generate(300, seed=3).drop(columns=LEAKAGE)


GRADES = {"grade": ("A", "B", "C", "D", "E", "F", "G")}


def test_roles_of_the_silver_loans_follow_silver_types_and_declared_ordinals(typed):
    roles = infer_roles(typed, GRADES)
    assert roles == FeatureRoles(
        numeric=("loan_amnt", "emp_length", "annual_inc", "dti", "revol_util"),
        date=("issue_d", "earliest_cr_line"),
        ordinal={"grade": ("A", "B", "C", "D", "E", "F", "G")},
        categorical=("term", "verification_status", "addr_state"),
    )
    assert eval(repr(roles), {"FeatureRoles": FeatureRoles}) == roles
    assert infer_roles(typed).ordinal == {} and "grade" in infer_roles(typed).categorical


def test_request_shaped_values_give_the_same_features_as_silver_ones(typed):
    """A served model gets JSON: dates as ISO text, integers as floats."""
    fitted = build_preprocessor(infer_roles(typed, GRADES), scale=True).fit(typed)
    as_json = typed.assign(issue_d=typed["issue_d"].map(lambda d: d.isoformat()),
                           emp_length=typed["emp_length"].astype("float64"))
    np.testing.assert_allclose(fitted.transform(as_json), fitted.transform(typed))
    as_timestamps = typed.assign(issue_d=pd.to_datetime(typed["issue_d"]))
    np.testing.assert_allclose(fitted.transform(as_timestamps), fitted.transform(typed))


def test_dates_become_year_month_and_credit_history_months(typed):
    row = typed.head(1).assign(issue_d=[dt.date(2015, 4, 1)], earliest_cr_line=["1999-12-01"])
    preprocessor = build_preprocessor(infer_roles(typed, GRADES), scale=False).fit(typed)
    features = dict(zip(preprocessor.get_feature_names_out(), preprocessor.transform(row)[0], strict=True))
    assert features["issue_d_year"] == 2015 and features["issue_d_month"] == 4
    assert features["earliest_cr_line_year"] == 1999 and features["earliest_cr_line_month"] == 12
    assert features["issue_d_minus_earliest_cr_line_months"] == 15 * 12 + 4
    assert features["grade"] == "ABCDEFG".index(row["grade"].iloc[0])


def test_request_text_parsing_knows_no_source_formats():
    parsed = to_number(pd.Series(["12.5", " 3 ", "36 months", "13.56%", "n/a", None]))
    np.testing.assert_array_equal(parsed, [12.5, 3, np.nan, np.nan, np.nan, np.nan])
    dates = to_dates(pd.Series(["2015-04", dt.date(2016, 5, 1), "2017-06-01", None, "Apr-2015"], dtype=object))
    assert list(dates.dt.strftime("%Y-%m").fillna("-")) == ["2015-04", "2016-05", "2017-06", "-", "-"]


def test_unseen_categories_and_missing_values_still_predict(typed):
    preprocessor = build_preprocessor(infer_roles(typed, GRADES), scale=True).fit(typed)
    odd = typed.head(2).assign(addr_state=["ZZ", None], grade=["Q", None], dti=[np.nan, np.nan])
    assert np.isfinite(preprocessor.transform(odd)).all()


def test_calls_build_what_their_code_says():
    call = FAMILIES["svr"].estimator({"C": 1.5, "epsilon": 0.1, "gamma": 0.01}, 0)
    weighted = FAMILIES["lightgbm"].estimator({"n_estimators": 10}, 0, "binary", balance="class_weight")
    assert weighted.target == "lightgbm.LGBMClassifier" and weighted.kwargs["class_weight"] == "balanced"
    namespace: dict = {}
    exec("\n".join(call.imports()) + f"\nestimator = {call.code()}", namespace)
    assert repr(namespace["estimator"]) == repr(call.build())
    assert Call("sklearn.linear_model.Ridge", {}).code() == "Ridge()"


def test_unknown_family_or_one_that_does_not_take_the_task_is_refused():
    with pytest.raises(ValueError, match="unknown model families.*linear"):
        resolve(["linear", "deep_learning"])
    with pytest.raises(ValueError, match="do not take multiclass tasks"):
        resolve(["logistic", "spark_gbt"], "multiclass")
    assert [f.name for f in resolve(None, "binary")] == families_for("binary")
    assert {"logistic", "knn", "random_forest", "hist_gradient_boosting", "lightgbm", "spark_decision_tree",
            "spark_random_forest", "spark_gbt"} <= set(families_for("binary"))
    assert "spark_gbt" not in families_for("multiclass") and "logistic" not in families_for("regression")
