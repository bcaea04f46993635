"""The generic retrain path carries use cases declared right here, in the test: a toy regression
and a toy binary classification go snapshot -> search -> register -> gate -> deploy with no
platform code touched, and both models answer at once on loopback."""

import json
import urllib.request

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from lakeside import retrain, usecases
from lakeside.serving.deploy import stop_local
from lakeside.tables import Lake
from lakeside.usecases import Search, Split, UseCase

pytestmark = pytest.mark.slow


def _rows(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    y = 3 * x1 - 2 * x2 + np.where(colour == "red", 1.5, 0.0) + rng.normal(0, 0.3, n)
    flagged = np.where(x1 + x2 + rng.normal(0, 0.5, n) > 1.0, "yes", "no")
    return pd.DataFrame({"id": np.arange(n), "x1": x1, "x2": x2, "colour": colour, "y": y, "flagged": flagged})


@pytest.fixture()
def toys(lakeside_home, mlflow_server, monkeypatch, tmp_path):
    Lake(lakeside_home / "lake", backend="embedded").table("silver.toy").overwrite(_rows())
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "toy_y.json").write_text(json.dumps({"metric": "rmse", "max": {"rmse": 1.0}}))
    (gates / "toy_flagged.json").write_text(json.dumps({"metric": "pr_auc", "min": {"pr_auc": 0.6}}))
    monkeypatch.setenv("LAKESIDE_GATES_DIR", str(gates))
    common = dict(table="silver.toy", key=("id",), description="a toy", search=Search(
        families=("linear", "logistic", "random_forest"), time_budget_s=20, cv_folds=3, max_trials_per_family=1))
    regression = usecases.declare(UseCase(
        name="toy_regression", task="regression", model_name="toy_y", target="y", exclude=("flagged",), metric="rmse",
        **{**common, "search": Search(families=("linear",), time_budget_s=20, cv_folds=3, max_trials_per_family=2)}))
    binary = usecases.declare(UseCase(
        name="toy_binary", task="binary", model_name="toy_flagged", target="flagged", exclude=("y",), metric="pr_auc",
        positive_label="yes", split=Split("stratified", holdout_fraction=0.25),
        **{**common, "search": Search(families=("logistic",), time_budget_s=20, cv_folds=3, max_trials_per_family=2)}))
    yield regression, binary
    for name in ("toy_y", "toy_flagged"):
        stop_local(name)


def test_toy_use_cases_run_the_generic_path_and_both_answer_at_once(toys, mlflow_server):
    regression, binary = toys
    outcomes = {case.name: retrain.retrain(case.name) for case in (regression, binary)}

    for case in (regression, binary):
        outcome = outcomes[case.name]
        assert outcome["decision"]["promoted"], outcome["decision"]["reason"]
        version = MlflowClient(mlflow_server).get_model_version_by_alias(case.model_name, "champion")
        assert version.tags["use_case"] == case.name and version.tags["gate.decision"] == "promoted"
    assert float(MlflowClient().get_model_version_by_alias("toy_y", "champion").tags["gate.rmse"]) < 0.6
    assert MlflowClient().get_registered_model("toy_flagged").tags["lakeside.service_kind"] == "tabular"

    row = {"x1": 2.0, "x2": -1.0, "colour": "red"}
    regression_url = outcomes["toy_regression"]["deployment"]["endpoint"]
    binary_url = outcomes["toy_binary"]["deployment"]["endpoint"]
    assert regression_url != binary_url
    assert abs(_post(regression_url, {"dataframe_records": [row]})["predictions"][0] - 9.5) < 1.0
    assert _post(binary_url, {"dataframe_records": [row, {"x1": -2.0, "x2": -1.0, "colour": "blue"}]}) == \
        {"predictions": ["yes", "no"]}
    assert _post(regression_url, {"dataframe_records": [row]})["predictions"][0] > 8


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)
