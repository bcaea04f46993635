"""Registry hygiene: no version without a signature, and no alias moves to a version whose
logged request its Bento does not answer 200 (a real Bento build and ``bentoml serve``)."""

import mlflow
import pytest
from mlflow import MlflowClient

from lakeside import registry
from lakeside.serving.replay import REPLAY_TAG, ReplayFailed

pytestmark = [pytest.mark.usefixtures("mlflow_server"), pytest.mark.slow]

FAILING_CODE = '''
import mlflow


class RefusesEverything(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        raise ValueError("this model cannot predict")


mlflow.models.set_model(RefusesEverything())
'''


@pytest.fixture(autouse=True)
def replay_on(monkeypatch, mlflow_server):
    monkeypatch.setenv("LAKESIDE_REGISTRY_REPLAY", "bento")
    mlflow.set_tracking_uri(mlflow_server)


def log_linear(signature: bool = True) -> str:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0], "rooms": [1.0, 3.0, 2.0]})
    model = LinearRegression().fit(frame, 2 * frame["size"] + frame["rooms"])
    extra = {"signature": mlflow.models.infer_signature(frame, model.predict(frame)),
             "input_example": frame.head(2)} if signature else {}
    with mlflow.start_run():
        return mlflow.sklearn.log_model(model, name="model", **extra).model_uri


def log_failing(tmp_path) -> str:
    import pandas as pd

    code = tmp_path / "refuses.py"
    code.write_text(FAILING_CODE)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with mlflow.start_run():
        return mlflow.pyfunc.log_model(name="model", python_model=str(code), input_example=frame,
                                       signature=mlflow.models.infer_signature(frame, [0.0, 0.0]),
                                       pip_requirements=["mlflow"]).model_uri


def test_a_version_whose_bento_answers_its_logged_request_becomes_challenger():
    version = registry.register_challenger(log_linear(), "replayed_linear", service_kind="tabular")

    model_version = MlflowClient().get_model_version("replayed_linear", version)
    assert model_version.tags[REPLAY_TAG] == "200"
    assert model_version.tags["lakeside.replay_bento"] == f"lakeside-replayed_linear:v{version}"
    assert MlflowClient().get_registered_model("replayed_linear").aliases == {"challenger": version}


def test_a_version_whose_bento_fails_its_request_keeps_the_alias_where_it_was(tmp_path):
    with pytest.raises(ReplayFailed, match="answered 500"):
        registry.register_challenger(log_failing(tmp_path), "replay_refused", service_kind="tabular")

    [version] = MlflowClient().search_model_versions("name='replay_refused'")
    assert version.tags[REPLAY_TAG].startswith("failed: replay_refused version 1: its logged request")
    assert MlflowClient().get_registered_model("replay_refused").aliases == {}


def test_a_model_without_a_signature_is_refused_at_registration_and_at_the_gate(tmp_path):
    with pytest.raises(registry.MissingSignatureError, match="has no signature"):
        registry.register_challenger(log_linear(signature=False), "unsigned_linear")
    assert MlflowClient().search_model_versions("name='unsigned_linear'") == []

    registered = mlflow.register_model(log_linear(signature=False), "unsigned_linear")
    from lakeside.snapshot import Snapshot

    decision = registry.gate("unsigned_linear", registered.version, Snapshot("silver.none", str(tmp_path), 0, ("id",)),
                             target="y", thresholds={"metric": "rmse"})
    assert not decision.promoted
    assert decision.reason.startswith("no signature")
    assert MlflowClient().get_model_version("unsigned_linear", registered.version).tags["gate.reason"] == \
        decision.reason
