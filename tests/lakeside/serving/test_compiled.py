"""Compiled models: the ONNX form reproduces each scikit-learn family's pipeline on loans-like
rows (text numbers, dates, missing and unknown categories), a model without a converter falls
back with its reason, and a served version answers through onnxruntime as its pyfunc would."""

from __future__ import annotations

import json
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline

from lakeside.automl.families import FAMILIES
from lakeside.automl.features import build_preprocessor, infer_roles
from lakeside.automl.training import sklearn_pipeline
from lakeside.datasets import loans
from lakeside.serving import compiled
from lakeside.serving.compiled import CompiledModel, FeedPreparation, compile_pipeline

TARGETS = {"regression": "int_rate", "binary": "loan_status", "multiclass": "grade"}
DROPPED = ["id", "total_pymnt", "int_rate", "loan_status"]
DATES = ["issue_d", "earliest_cr_line"]
PARAMS = {
    "linear": {"kind": "elastic_net", "alpha": 0.01, "l1_ratio": 0.5},
    "logistic": {"C": 1.0},
    "knn": {"n_neighbors": 5, "weights": "uniform", "p": 2},
    "random_forest": {"n_estimators": 20, "max_depth": 8, "min_samples_leaf": 2, "max_features": 0.5},
    "hist_gradient_boosting": {"learning_rate": 0.1, "max_iter": 30, "max_leaf_nodes": 16, "min_samples_leaf": 10,
                               "l2_regularization": 1e-3},
    "lightgbm": {"n_estimators": 30, "learning_rate": 0.1, "num_leaves": 16, "min_child_samples": 10,
                 "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1e-3},
    "svr": {"C": 3.0, "epsilon": 0.1, "gamma": 0.05},
}
CASES = [(task, name) for task in TARGETS for name, family in FAMILIES.items()
         if family.engine == "sklearn" and family.supports(task) and name != "hist_gradient_boosting"]


def training_rows(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """Generated loans with the gaps real ones have: missing numbers, dates and categories."""
    frame = loans.generate(rows, seed=seed)
    rng = np.random.default_rng(seed)
    frame["emp_length"] = frame["emp_length"].astype("float64").mask(rng.random(rows) < 0.1)
    frame["revol_util"] = frame["revol_util"].mask(rng.random(rows) < 0.1)
    frame["addr_state"] = frame["addr_state"].mask(rng.random(rows) < 0.1)
    frame.loc[rng.random(rows) < 0.05, "verification_status"] = "n/a"
    frame["earliest_cr_line"] = frame["earliest_cr_line"].mask(rng.random(rows) < 0.05)
    return frame


def holdout_rows(rows: int = 150, seed: int = 2) -> pd.DataFrame:
    """Rows as requests bring them: numbers as text (and text that is no number), ISO date text,
    categories never seen in training, blanks."""
    frame = training_rows(rows, seed)
    emp = frame["emp_length"].astype(object)
    emp[::4] = [f" {v:g} " if pd.notna(v) else "n/a" for v in frame["emp_length"][::4]]
    emp[1::9] = "ten"
    frame["emp_length"] = emp
    frame.loc[::7, "addr_state"] = "ZZ"
    frame.loc[::11, "verification_status"] = "Unheard of"
    frame.loc[::5, "term"] = None
    issued = frame["issue_d"].astype(object)
    issued[::3] = [d.isoformat() for d in frame["issue_d"][::3]]
    frame["issue_d"] = issued
    return frame


def features_of(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    return frame.drop(columns=[c for c in [*DROPPED, TARGETS[task]] if c in frame])


@pytest.fixture(scope="module")
def rows():
    return training_rows(), holdout_rows()


def fitted(task: str, family: str, rows) -> Pipeline:
    train, _ = rows
    features = features_of(train, task)
    ordinals = {} if task == "multiclass" else {"grade": tuple("ABCDEFG")}
    pipeline = sklearn_pipeline(infer_roles(features, ordinals), FAMILIES[family], PARAMS[family], 0, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline.fit(features, train[TARGETS[task]])


def test_feed_preparation_gives_the_column_transformer_s_exact_matrix(rows):
    train, holdout = rows
    features = features_of(train, "regression")
    preprocessor = build_preprocessor(infer_roles(features, {"grade": tuple("ABCDEFG")}), scale=True)
    preprocessor.fit(features)
    feed = FeedPreparation(preprocessor)
    served = features_of(holdout, "regression")
    as_dates = served.assign(**{c: pd.to_datetime(served[c]) for c in DATES})

    for frame in (served, as_dates, served.head(1), as_dates.iloc[[3]]):
        assert np.array_equal(feed(frame), preprocessor.transform(frame), equal_nan=True)


@pytest.mark.parametrize("task, family", CASES)
def test_compiled_form_reproduces_the_pipeline_on_every_holdout_row(task, family, rows):
    pipeline = fitted(task, family, rows)
    holdout = features_of(rows[1], task)

    result = compile_pipeline(pipeline, holdout)

    assert result.runtime == "onnx", result.reason
    assert result.rows_checked == len(holdout)
    model = CompiledModel(pipeline, result.onnx_bytes)
    served = holdout.assign(**{c: pd.to_datetime(holdout[c]) for c in DATES})
    for frame in (holdout, served, served.head(1)):
        if task == "regression":
            assert np.abs(model.predict(frame) - pipeline.predict(frame)).max() <= 1e-6
        else:
            assert np.array_equal(model.predict(frame), pipeline.predict(frame))
            assert np.abs(model.scores(frame) - pipeline.predict_proba(frame)).max() <= 1e-6


class MedianOfRow(RegressorMixin, BaseEstimator):
    """An estimator no converter knows."""

    def fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.median(np.asarray(X, dtype="float64"), axis=1)


def test_an_estimator_without_converter_falls_back_with_its_reason(rows):
    train, holdout = rows
    features = features_of(train, "regression")
    pipeline = Pipeline([("features", build_preprocessor(infer_roles(features), scale=True)),
                         ("model", MedianOfRow())]).fit(features, train["int_rate"])

    result = compile_pipeline(pipeline, features_of(holdout, "regression"))

    assert result.runtime == "none"
    assert "MedianOfRow" in result.reason
    assert result.onnx_bytes is None


def test_a_model_that_is_not_a_pipeline_of_features_and_estimator_falls_back(rows):
    train, holdout = rows
    from sklearn.linear_model import Ridge

    X = train[["loan_amnt", "dti"]]
    result = compile_pipeline(Ridge().fit(X, train["int_rate"]), holdout[["loan_amnt", "dti"]])

    assert result.runtime == "none"
    assert "not a Pipeline" in result.reason


def test_k_neighbours_by_distance_is_kept_only_where_it_matches(rows):
    """skl2onnx's distance-weighted kNN does not always match scikit-learn: whatever it gives,
    the verdict follows the measured difference."""
    pipeline = fitted("regression", "knn", rows)
    pipeline.steps[1][1].set_params(weights="distance")
    holdout = features_of(rows[1], "regression")

    result = compile_pipeline(pipeline, holdout)

    assert result.max_abs_diff is not None
    assert (result.runtime == "onnx") == (result.max_abs_diff <= compiled.TOLERANCE)


# --- registered and served -------------------------------------------------------------------

MODEL = "compiled_loans"
CLASSIFIER = "compiled_loans_status"


def log_and_register(pipeline: Pipeline, train: pd.DataFrame, name: str) -> str:
    """Like the model search: integer columns widened to double in the signature."""
    inputs = train.astype({c: "float64" for c in train.columns if pd.api.types.is_integer_dtype(train[c])})
    signature = mlflow.models.infer_signature(inputs, pipeline.predict(train.head(5)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(pipeline, name="model", signature=signature,
                                            serialization_format="cloudpickle", input_example=inputs.head(3))
    version = str(mlflow.register_model(info.model_uri, name, await_registration_for=0).version)
    client = MlflowClient()
    client.set_registered_model_tag(name, "lakeside.service_kind", "tabular")
    client.set_registered_model_alias(name, "champion", version)
    return version


def served_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{c: pd.to_datetime(frame[c]) for c in DATES})


def test_hist_gradient_boosting_falls_back_to_its_pyfunc_naming_why(rows):
    pipeline = fitted("regression", "hist_gradient_boosting", rows)

    result = compile_pipeline(pipeline, features_of(rows[1], "regression"))

    assert result.runtime == "none"
    assert "private attributes" in result.reason


@pytest.fixture(scope="module")
def registered(mlflow_server, rows):
    mlflow.set_tracking_uri(mlflow_server)
    train, holdout = rows
    out = {}
    for name, task, family in ((MODEL, "regression", "lightgbm"), (CLASSIFIER, "binary", "logistic")):
        pipeline = fitted(task, family, rows)
        features = served_frame(features_of(train, task))
        version = log_and_register(pipeline.fit(features, train[TARGETS[task]]), features, name)
        result = compiled.compile_version(name, version, served_frame(features_of(holdout, task)))
        out[name] = (version, pipeline, result)
    return out


def test_registration_logs_the_verified_graph_and_tags_the_version(registered, rows):
    version, _, result = registered[MODEL]
    client = MlflowClient()

    tags = client.get_model_version(MODEL, version).tags
    assert tags[compiled.RUNTIME_TAG] == "onnx", tags.get(compiled.REASON_TAG)
    assert float(tags[compiled.MAX_DIFF_TAG]) <= compiled.TOLERANCE
    run_id = client.get_model_version(MODEL, version).run_id
    logged = {a.path for a in client.list_artifacts(run_id, compiled.ARTIFACT_DIR)}
    assert logged == {"compiled/model.onnx", "compiled/verification.json"}
    verification = json.loads(open(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="compiled/verification.json")).read())
    assert verification["rows_checked"] == len(rows[1]) and verification["runtime"] == "onnx"


def test_a_model_that_is_no_scikit_learn_pipeline_is_tagged_none(mlflow_server, tiny):
    mlflow.set_tracking_uri(mlflow_server)
    version = tiny.register_pyfunc("compiled_not_sklearn")

    result = compiled.compile_version("compiled_not_sklearn", version, pd.DataFrame({"a": [1.0]}))

    assert result.runtime == "none" and "not a scikit-learn model" in result.reason
    assert MlflowClient().get_model_version("compiled_not_sklearn", version).tags[compiled.RUNTIME_TAG] == "none"


def request_columns(frame: pd.DataFrame) -> dict[str, list]:
    """Rows as a JSON body brings them (dates as ISO text, NaN as null)."""
    out = {}
    for column in frame.columns:
        out[column] = [None if pd.isna(v) else v.isoformat() if hasattr(v, "isoformat") else v
                       for v in frame[column]]
    return out


def test_the_classifier_answers_the_same_classes_through_onnx_and_pyfunc(registered, rows, monkeypatch):
    from lakeside.serving.models import ModelRef, load

    version, pipeline, _ = registered[CLASSIFIER]
    ref = ModelRef(CLASSIFIER, version, "champion")
    columns = request_columns(served_frame(features_of(training_rows(40, seed=9), "binary")))

    onnx_served = load(ref)
    monkeypatch.setenv("LAKESIDE_SERVE_RUNTIME", "pyfunc")
    pyfunc_served = load(ref)

    assert (onnx_served.runtime, pyfunc_served.runtime) == ("onnx", "pyfunc")
    assert onnx_served.predict(columns) == pyfunc_served.predict(columns)
    assert set(onnx_served.predict(columns)) <= set(pipeline.classes_)


def test_the_service_answers_through_onnx_and_says_so(registered, rows, tmp_path_factory):
    """The service instance itself (its ASGI app is built once per process, by test_service)."""
    import asyncio

    from lakeside.serving.service import TabularService

    version, pipeline, _ = registered[MODEL]
    frame = served_frame(features_of(training_rows(30, seed=5), "regression"))
    columns = list(frame.columns)
    data = [list(r) for r in zip(*request_columns(frame).values())]

    async def ask():
        service = TabularService.inner()
        try:
            many = await service.invocations(dataframe_split={"columns": columns, "data": data})
            one = await service.invocations(dataframe_records=[dict(zip(columns, data[0]))])
            return service.describe(), many, one
        finally:
            service.shutdown()

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(tmp_path_factory.mktemp("compiled-home")))
        patch.setenv("LAKESIDE_SERVE_MODEL", MODEL)
        patch.setenv("LAKESIDE_SERVE_INFERENCE_LOG", "false")
        described, many, one = asyncio.run(ask())

    assert described["runtime"] == "onnx" and described["version"] == version
    assert many.status_code == 200, many.body
    assert many.headers["x-model-version"] == version
    expected = pipeline.predict(frame)
    assert np.abs(np.array(json.loads(many.body)["predictions"]) - expected).max() <= 1e-6
    assert json.loads(one.body)["predictions"] == pytest.approx([expected[0]], abs=1e-6)


def test_a_failing_compilation_leaves_the_registration_alone(registered):
    """Last in the module: it re-tags the classifier's version."""
    from lakeside.retrain import compile_registered

    version, _, _ = registered[CLASSIFIER]
    unreadable = {"table": "silver.none"}  # no version, no key: the snapshot cannot be read

    outcome = compile_registered(CLASSIFIER, version, unreadable, "loan_status")

    assert outcome["runtime"] == "none" and "compiling failed" in outcome["reason"]
    assert MlflowClient().get_model_version(CLASSIFIER, version).tags[compiled.RUNTIME_TAG] == "none"
    assert MlflowClient().get_model_version_by_alias(CLASSIFIER, "champion").version == version
