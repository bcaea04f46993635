"""The JVM-free export of a fitted Spark tree: the same predictions and probabilities as Spark's
``transform`` on every row, decision paths whose conditions hold for their row, and the pyfunc's
answers."""

import re

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import paysim
from lakeside.usecases.fraud import INPUTS, export, rules
from lakeside.usecases.fraud.features import with_features, with_spark_features
from lakeside.usecases.fraud.training import TrainConfig, pipeline, spark_test_output


@pytest.fixture(scope="module")
def labelled():
    log = paysim.generate(3_000, seed=21)
    return log.assign(label=rules.load().label_frame(log)[0])


@pytest.fixture(scope="module")
def fitted(spark, labelled, tmp_path_factory):
    depth, bins = 5, 10
    frame = with_spark_features(spark.createDataFrame(labelled))
    estimator, _ = pipeline(TrainConfig(), depth, bins)
    model = estimator.fit(frame)
    path = tmp_path_factory.mktemp("tree") / "pipeline"
    model.write().save(str(path))
    return model, export.from_saved_pipeline(path), frame


def test_export_predicts_what_spark_predicts_on_every_row(fitted):
    model, tree, frame = fitted
    spark_out = spark_test_output(model, frame)
    answer = export.answer(tree, with_features(spark_out[list(INPUTS)]), decision_path=True)

    assert len(answer) == len(spark_out) == 3_000
    assert (answer["prediction"].to_numpy() == spark_out["prediction"].to_numpy()).all()
    np.testing.assert_allclose(answer["1"].to_numpy(), spark_out["p1"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(answer["0"] + answer["1"], 1.0)
    assert spark_out["prediction"].nunique() == 2  # the tree learned both classes


def test_the_tree_uses_the_type_as_a_category(fitted):
    _, tree, _ = fitted
    assert tree.features[0] == "type" and sorted(tree.categories["type"]) == sorted(paysim.TYPES)
    assert any(tree.left_categories), "expected a categorical split on the string-indexed type"


def _holds(condition: str, row: pd.Series) -> bool:
    name, op, value = re.fullmatch(r"(\w+) (<=|>|in|not in) (.+)", condition).groups()
    if op in ("in", "not in"):
        inside = row[name] in {v.strip() for v in value.strip("{}").split(",")}
        return inside if op == "in" else not inside
    threshold = float(value)
    # the text shows six significant digits: compare with that much slack
    return row[name] <= threshold * (1 + 1e-5) + 1e-9 if op == "<=" else row[name] > threshold * (1 - 1e-5) - 1e-9


def test_every_condition_of_a_decision_path_holds_for_its_row(fitted, labelled):
    _, tree, _ = fitted
    rows = with_features(labelled.head(200))
    answer = export.answer(tree, rows, decision_path=True)
    for (_, row), path, predicted in zip(rows.iterrows(), answer["decision_path"], answer["prediction"]):
        *conditions, leaf = path
        assert leaf.startswith(f"predict {predicted} (p=")
        assert conditions and all(_holds(c, row) for c in conditions), (path, row.to_dict())


def test_the_pyfunc_answers_probabilities_and_paths_on_request(fitted, labelled, tmp_path):
    import json

    import mlflow

    _, tree, _ = fitted
    path = tmp_path / export.TREE_FILE
    path.write_text(json.dumps(tree.to_dict()))
    saved = tmp_path / "model"
    rows = labelled[list(INPUTS)].head(3)
    signature = mlflow.models.infer_signature(rows, export.answer(tree, with_features(rows)),
                                              params={"decision_path": False})
    mlflow.pyfunc.save_model(saved, python_model=export.TreePyfunc(prepare="lakeside.usecases.fraud.features:with_features"),
                             artifacts={"tree": str(path)}, signature=signature)
    model = mlflow.pyfunc.load_model(str(saved))

    plain = model.predict(rows)
    explained = model.predict(rows, params={"decision_path": True})
    assert list(plain.columns) == ["0", "1"]
    assert list(explained.columns) == ["0", "1", "prediction", "decision_path"]
    assert all(isinstance(p, list) and p[-1].startswith("predict") for p in explained["decision_path"])
    with pytest.raises(Exception, match="row 1: type 'WIRE' is not one of"):
        model.predict(rows.assign(type=["PAYMENT", "WIRE", "DEBIT"]))
