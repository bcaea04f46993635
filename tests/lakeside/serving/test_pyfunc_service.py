"""The pyfunc service through its ASGI app: a custom ``mlflow.pyfunc.PythonModel`` on a tensor
signature with a ``factor`` param, and the same model logged without a signature."""

import logging

import mlflow
import pytest
from starlette.testclient import TestClient

pytestmark = pytest.mark.usefixtures("mlflow_server")

MODEL = "row_sums_asgi"
ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]


@pytest.fixture(scope="module")
def version(mlflow_server, tiny):
    mlflow.set_tracking_uri(mlflow_server)
    return tiny.register_pyfunc(MODEL)


@pytest.fixture(scope="module")
def client(version):
    """One app for the module, without BentoML's request metrics: BentoML registers them once
    per process, and the tabular service's tests have made their app already."""
    from lakeside.serving.pyfunc_service import PyfuncService

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_CONFIG_OPTIONS", "services.lakeside_pyfunc.metrics.enabled=false")
        patch.setenv("LAKESIDE_SERVE_MODEL", MODEL)
        patch.setenv("LAKESIDE_SERVE_MAX_ROWS", "20")
        with TestClient(PyfuncService.to_asgi(), raise_server_exceptions=False) as test_client:
            yield test_client


def test_inputs_arrays_are_answered_and_params_change_the_answer(client, version):
    plain = client.post("/invocations", json={"inputs": ROWS})
    tripled = client.post("/invocations", json={"inputs": ROWS, "params": {"factor": 3}})

    assert plain.status_code == 200
    assert plain.json() == {"predictions": [6.0, 15.5]}
    assert tripled.status_code == 200
    assert tripled.json() == {"predictions": [18.0, 46.5]}
    assert (plain.headers["x-model-name"], plain.headers["x-model-version"]) == (MODEL, version)
    assert plain.headers["x-model-alias"] == "champion"


def test_integers_are_taken_as_the_float_tensor_they_fit(client):
    answer = client.post("/invocations", json={"inputs": [[1, 2, 3]]})

    assert (answer.status_code, answer.json()) == (200, {"predictions": [6.0]})


@pytest.mark.parametrize("body, status, field, words", [
    ({"inputs": [[1.0, 2.0]]}, 422, "inputs", "(any, 3)"),
    ({"inputs": [1.0, 2.0, 3.0]}, 422, "inputs", "(any, 3)"),
    ({"inputs": [[1.0, 2.0, 3.0], [4.0, 5.0]]}, 422, "inputs", "ragged"),
    ({"inputs": [["a", "b", "c"]]}, 422, "inputs", "numbers"),
    ({"inputs": [[1.0, 2.0, 3.0]] * 21}, 413, None, "too many rows"),
    ({"inputs": ROWS, "params": {"speed": 2}}, 422, "speed", "unknown param"),
    ({"inputs": ROWS, "params": {"factor": "big"}}, 422, "factor", "factor"),
    ({"dataframe_records": [{"a": 1}]}, 400, "inputs", "tensors"),
    ({}, 400, "inputs", "tensors"),
])
def test_bad_tensors_and_params_are_a_4xx_naming_the_field(client, body, status, field, words):
    answer = client.post("/invocations", json=body)

    assert answer.status_code == status
    error = answer.json()
    assert error.get("field") == field
    assert words in error["error"]
    assert client.post("/invocations", json={"inputs": ROWS}).status_code == 200


def test_model_tells_the_tensor_input_and_the_params(client, version):
    answer = client.get("/model").json()

    assert (answer["name"], answer["version"], answer["service"]) == (MODEL, version, "pyfunc")
    assert answer["inputs"] == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]
    assert [p["name"] for p in answer["params"]] == ["factor"]


def test_a_version_without_signature_is_served_with_a_warning(client, version, tiny):
    unsigned = tiny.register_pyfunc(MODEL, signature=False)
    warnings: list[str] = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("bentoml.lakeside")
    logger.addHandler(handler)
    try:
        reloaded = client.post("/model/reload").json()
    finally:
        logger.removeHandler(handler)
    answer = client.post("/invocations", json={"inputs": ROWS})
    with_params = client.post("/invocations", json={"inputs": ROWS, "params": {"factor": 2}})

    assert reloaded["version"] == unsigned != version
    assert reloaded["inputs"] is None and reloaded["params"] is None
    assert any(MODEL in w and "without a signature" in w for w in warnings), warnings
    assert (answer.status_code, answer.json()) == (200, {"predictions": [6.0, 15.5]})
    assert answer.headers["x-model-version"] == unsigned
    assert with_params.status_code == 422 and with_params.json()["field"] == "factor"
