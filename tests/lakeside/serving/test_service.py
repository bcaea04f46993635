"""The tabular service through its ASGI app, on a real MLflow registry."""

import json

import mlflow
import pytest
from mlflow import MlflowClient
from starlette.testclient import TestClient

pytestmark = pytest.mark.usefixtures("mlflow_server")

MODEL = "tabular_asgi"
COLUMNS = ["size", "rooms"]
ROWS = [[1.0, 1.0], [3.0, 2.5]]
REFERENCE_REQUEST = {"columns": COLUMNS, "data": ROWS}


@pytest.fixture(scope="module")
def first_version(mlflow_server, tiny):
    mlflow.set_tracking_uri(mlflow_server)
    return tiny.register_tabular(MODEL, slope=2.0)


@pytest.fixture(scope="module")
def client(first_version, tmp_path_factory):
    """One app for the module (BentoML registers its metrics once per process)."""
    from lakeside.serving.service import TabularService

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(tmp_path_factory.mktemp("tabular-asgi-home")))
        patch.setenv("LAKESIDE_SERVE_MODEL", MODEL)
        patch.setenv("LAKESIDE_SERVE_MAX_ROWS", "10000")
        patch.setenv("LAKESIDE_SERVE_MAX_BODY_MB", "1")
        with TestClient(TabularService.to_asgi(), raise_server_exceptions=False) as test_client:
            yield test_client


def expected(slope=2.0):
    return pytest.approx([slope * size + 10 * rooms for size, rooms in ROWS])


def records(request=REFERENCE_REQUEST):
    return [dict(zip(request["columns"], row)) for row in request["data"]]


def test_the_reference_request_gets_a_bare_list_with_one_class_per_row(client, first_version):
    answer = client.post("/invocations", json=REFERENCE_REQUEST)

    assert answer.status_code == 200
    assert answer.json() == expected()
    assert answer.headers["x-model-name"] == MODEL
    assert answer.headers["x-model-version"] == first_version
    assert answer.headers["x-model-alias"] == "champion"
    assert answer.headers["x-request-id"]


@pytest.mark.parametrize("body", [
    {"dataframe_split": REFERENCE_REQUEST},
    {"dataframe_records": records()},
    {"inputs": records()},
    {"inputs": {c: [row[i] for row in REFERENCE_REQUEST["data"]] for i, c in enumerate(REFERENCE_REQUEST["columns"])}},
])
def test_mlflow_2_shapes_get_predictions_in_an_object(client, body):
    answer = client.post("/invocations", json=body)

    assert answer.status_code == 200
    assert answer.json()["predictions"] == expected()


def test_the_caller_s_request_id_comes_back(client):
    answer = client.post("/invocations", json=REFERENCE_REQUEST, headers={"X-Request-ID": "abc-123"})

    assert answer.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize("body, status, field, row", [
    ({"columns": COLUMNS[:1], "data": [[5.2]]}, 422, "rooms", None),
    ({"dataframe_records": [records()[0], {**records()[1], "colour": "blue"}]}, 422, "colour", 1),
    ({"dataframe_records": [records()[0], {**records()[1], "size": "wide"}]}, 422, "size", 1),
    ({"dataframe_records": [{**records()[0], "rooms": None}]}, 422, "rooms", 0),
    ({"inputs": records() * 5001}, 413, None, None),
    ({"rows": []}, 400, None, None),
])
def test_bad_input_is_a_4xx_naming_field_and_row(client, body, status, field, row):
    answer = client.post("/invocations", json=body)

    assert answer.status_code == status
    error = answer.json()
    assert error.get("field") == field
    assert error.get("row") == row
    assert error["error"]


def test_malformed_json_is_a_400_and_the_service_keeps_answering(client):
    broken = client.post("/invocations", content=b'{"columns": [', headers={"Content-Type": "application/json"})
    wrong_type = client.post("/invocations", json={"columns": "not a list", "data": [[1]]})

    assert broken.status_code == 400
    assert "json" in broken.text.lower()
    assert wrong_type.status_code == 400
    assert "columns" in wrong_type.text
    assert client.post("/invocations", json=REFERENCE_REQUEST).status_code == 200


def test_model_tells_what_is_served(client, first_version):
    answer = client.get("/model", follow_redirects=False).json()

    assert answer["name"] == MODEL
    assert answer["version"] == first_version
    assert answer["alias"] == "champion"
    assert answer["model_uri"] == f"models:/{MODEL}/{first_version}"
    assert [c["name"] for c in answer["inputs"]] == COLUMNS
    assert answer["service"] == "tabular"
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_the_api_key_when_set(client, monkeypatch):
    monkeypatch.setenv("LAKESIDE_SERVE_API_KEY", "s3cret")
    missing = client.post("/invocations", json=REFERENCE_REQUEST)
    wrong = client.post("/invocations", json=REFERENCE_REQUEST, headers={"Authorization": "Bearer nope"})
    bearer = client.post("/invocations", json=REFERENCE_REQUEST, headers={"Authorization": "Bearer s3cret"})
    header = client.get("/model", headers={"X-API-Key": "s3cret"})
    model_without = client.get("/model", follow_redirects=False)
    probe = client.get("/readyz")

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "API key" in missing.json()["error"]
    assert bearer.status_code == 200 and bearer.json() == expected()
    assert header.status_code == 200
    assert model_without.status_code == 401
    assert probe.status_code == 200


def test_a_new_champion_is_served_after_reload_without_a_new_app(client, first_version, tiny):
    second = tiny.register_tabular(MODEL, slope=5.0)
    MlflowClient().set_registered_model_alias(MODEL, "champion", first_version)

    before = client.post("/invocations", json=REFERENCE_REQUEST)
    MlflowClient().set_registered_model_alias(MODEL, "champion", second)
    reloaded = client.post("/model/reload").json()
    after = client.post("/invocations", json=REFERENCE_REQUEST)

    assert before.headers["x-model-version"] == first_version
    assert reloaded["version"] == second != first_version
    assert before.json() == expected(2.0)
    assert after.status_code == 200 and after.json() == expected(5.0)
    assert after.headers["x-model-version"] == second


def test_each_request_and_its_answer_land_in_the_model_s_inference_table(client, first_version):
    from deltalake import DeltaTable

    from lakeside.config import settings
    from lakeside.serving import inference

    bad = {"dataframe_records": [{**records()[0], "size": "wide"}]}
    answer = client.post("/invocations", json=REFERENCE_REQUEST, headers={"X-Request-ID": "log-ok"})
    assert answer.status_code == 200
    assert client.post("/invocations", json=bad, headers={"X-Request-ID": "log-bad"}).status_code == 422
    inference.active().flush()

    table = DeltaTable(str(settings().lake_root / "inference" / MODEL)).to_pyarrow_table().to_pylist()
    logged = {row["request_id"]: row for row in table if row["request_id"].startswith("log-")}
    assert set(logged) == {"log-ok", "log-bad"}
    ok, refused = logged["log-ok"], logged["log-bad"]
    assert (ok["status_code"], ok["model_name"]) == (200, MODEL)
    assert ok["model_version"] == answer.headers["x-model-version"] and ok["model_alias"] == "champion"
    assert json.loads(ok["request"]) == REFERENCE_REQUEST and json.loads(ok["response"]) == answer.json()
    assert refused["status_code"] == 422 and json.loads(refused["response"])["field"] == "size"
    assert ok["execution_time_ms"] > 0 and ok["date"] == ok["timestamp"].date()


def oip_body(rows=ROWS):
    return {"id": "req-7", "inputs": [
        {"name": name, "shape": [len(rows)], "datatype": "FP64", "data": [row[i] for row in rows]}
        for i, name in enumerate(COLUMNS)]}


def test_an_open_inference_protocol_body_gets_outputs_naming_the_version(client):
    served = client.get("/model").json()["version"]
    legacy = client.post("/invocations", json=REFERENCE_REQUEST).json()
    per_column = client.post("/invocations", json=oip_body())
    one_tensor = client.post("/invocations", json={"inputs": [
        {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": ROWS}]})

    assert per_column.status_code == 200, per_column.text
    answer = per_column.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (MODEL, served, "req-7")
    [output] = answer["outputs"]
    assert (output["name"], output["shape"], output["datatype"]) == ("predictions", [2], "FP64")
    assert output["data"] == pytest.approx(legacy)
    assert one_tensor.json()["outputs"][0]["data"] == pytest.approx(legacy)


@pytest.mark.parametrize("tensors, status, field", [
    ([{"name": "size", "shape": [3], "datatype": "FP64", "data": [1.0, 2.0]},
      {"name": "rooms", "shape": [3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}], 400, "inputs[0].data"),
    ([{"name": "size", "shape": [1], "datatype": "FP64", "data": [1.0]},
      {"name": "rooms", "shape": [1], "datatype": "BYTES", "data": ["many"]}], 422, "rooms"),
    ([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}], 422, "inputs[0].shape"),
])
def test_bad_open_inference_protocol_tensors_are_named(client, tensors, status, field):
    answer = client.post("/invocations", json={"inputs": tensors})

    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field


def test_ten_thousand_rows_in_one_body(client):
    rows = [[float(i % 97), float(i % 7)] for i in range(10_000)]
    last = client.post("/invocations", json={"columns": COLUMNS, "data": rows[-1:]}).json()

    answer = client.post("/invocations", json={"dataframe_split": {"columns": COLUMNS, "data": rows}})

    assert answer.status_code == 200, answer.text[:300]
    predictions = answer.json()["predictions"]
    assert len(predictions) == 10_000
    assert predictions[-1:] == pytest.approx(last)


def test_a_body_without_content_length_is_capped_like_the_others(client):
    small = json.dumps(REFERENCE_REQUEST).encode()
    big = json.dumps({"columns": COLUMNS, "data": [[1.0, 2.0]] * 120_000}).encode()

    def chunks(body: bytes):
        for start in range(0, len(body), 65_536):
            yield body[start:start + 65_536]

    answered = client.post("/invocations", content=chunks(small), headers={"Content-Type": "application/json"})
    refused = client.post("/invocations", content=chunks(big), headers={"Content-Type": "application/json"})

    assert answered.status_code == 200, answered.text
    assert answered.json() == client.post("/invocations", json=REFERENCE_REQUEST).json()
    assert len(big) > 1024 * 1024
    assert refused.status_code == 413
    assert "without Content-Length" in refused.json()["error"]
