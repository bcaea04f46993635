"""A real ``bentoml serve`` of a Bento built from the registry, on a loopback port: the
reference request, the four shapes, every class of bad input, the API key switched on and off
while serving, and a champion switch reaching the running server with no failed request."""

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import mlflow
import pytest

from lakeside.examples import iris
from lakeside.registry import promote

pytestmark = pytest.mark.slow

MODEL = "iris_e2e"
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
REFERENCE_REQUEST = {"columns": COLUMNS, "data": [[5.2, 3.4, 1.3, 0.3], [6.0, 3.1, 5.0, 1.81]]}
RECORDS = [dict(zip(COLUMNS, row)) for row in REFERENCE_REQUEST["data"]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url, path, body=None, raw=None, headers=None, method=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"{url}{path}", data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def server(mlflow_server, tmp_path_factory):
    from lakeside.serving import deploy

    home = tmp_path_factory.mktemp("serving")
    key_file = home / "api-key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_SERVE_PORT", str(free_port()))
        patch.setenv("LAKESIDE_SERVE_WATCH_S", "1")
        patch.setenv("LAKESIDE_SERVE_MAX_ROWS", "50")
        patch.setenv("LAKESIDE_SERVE_API_KEY_FILE", str(key_file))
        mlflow.set_tracking_uri(mlflow_server)
        first = iris.register(MODEL)
        deployment = deploy.deploy(MODEL, target="local")
        pid = int((home / "serving" / "server.pid").read_text())
        try:
            yield {"url": deployment.endpoint, "deployment": deployment, "first": first, "pid": pid,
                   "key_file": key_file, "deploy": deploy}
        finally:
            deploy.stop_local()


def test_deploy_built_a_bento_of_the_champion_and_serves_it(server):
    import bentoml

    deployment = server["deployment"]
    assert (deployment.action, deployment.version) == ("started", server["first"])
    bento = bentoml.bentos.get(deployment.bento)
    assert str(bento.tag) == f"lakeside-{MODEL}:v{server['first']}"
    assert bento.info.labels["registered_model"] == MODEL and bento.info.labels["model_version"] == server["first"]
    assert [str(m.tag) for m in bento.info.models] == [f"{MODEL}:v{server['first']}"]


def test_the_reference_request_gets_one_prediction_per_row(server):
    status, headers, body = call(server["url"], "/invocations", REFERENCE_REQUEST)

    assert status == 200
    assert json.loads(body) == [0, 2]
    assert headers["x-model-name"] == MODEL and headers["x-model-alias"] == "champion"
    assert headers["x-request-id"]


@pytest.mark.parametrize("body", [
    {"dataframe_split": REFERENCE_REQUEST},
    {"dataframe_records": RECORDS},
    {"inputs": RECORDS},
])
def test_the_mlflow_2_shapes(server, body):
    status, _, answer = call(server["url"], "/invocations", body)

    assert (status, json.loads(answer)) == (200, {"predictions": [0, 2]})


@pytest.mark.parametrize("body, raw, status, field, row", [
    ({"columns": COLUMNS[:3], "data": [[5.2, 3.4, 1.3]]}, None, 422, "petal width (cm)", None),
    ({"dataframe_records": [RECORDS[0], {**RECORDS[1], "colour": "blue"}]}, None, 422, "colour", 1),
    ({"dataframe_records": [RECORDS[0], {**RECORDS[1], "sepal width (cm)": "wide"}]}, None, 422, "sepal width (cm)", 1),
    (None, b'{"dataframe_records": [{"sepal length (cm)": NaN, "sepal width (cm)": 3.4, "petal length (cm)": 1.3, '
           b'"petal width (cm)": 0.3}]}', 422, "sepal length (cm)", 0),
    ({"inputs": RECORDS * 26}, None, 413, None, None),
    ({"rows": [[1, 2, 3, 4]]}, None, 400, None, None),
    (None, b'{"columns": ["a"', 400, None, None),
])
def test_bad_input_is_a_clear_4xx_and_the_server_stays_up(server, body, raw, status, field, row):
    answer_status, _, answer = call(server["url"], "/invocations", body, raw=raw)

    assert answer_status == status
    error = json.loads(answer)
    assert error["error"]
    if field is not None:
        assert (error["field"], error.get("row")) == (field, row)
    assert call(server["url"], "/invocations", REFERENCE_REQUEST)[0] == 200


def test_probes_metrics_docs_and_model(server):
    url = server["url"]
    assert call(url, "/healthz")[0] == 200 and call(url, "/readyz")[0] == 200
    status, _, metrics = call(url, "/metrics")
    assert status == 200 and "lakeside_batch_rows_bucket" in metrics and "lakeside_served_model_version" in metrics
    assert "/invocations" in json.loads(call(url, "/docs.json")[2])["paths"]
    model = json.loads(call(url, "/model")[2])
    assert (model["name"], model["alias"]) == (MODEL, "champion")
    assert [c["name"] for c in model["inputs"]] == COLUMNS


def test_the_api_key_switched_on_and_off_while_serving(server):
    url, key_file = server["url"], server["key_file"]
    assert call(url, "/invocations", REFERENCE_REQUEST)[0] == 200
    key_file.write_text("e2e-secret\n")
    try:
        assert call(url, "/invocations", REFERENCE_REQUEST)[0] == 401
        assert call(url, "/invocations", REFERENCE_REQUEST, headers={"X-API-Key": "wrong"})[0] == 401
        assert call(url, "/invocations", REFERENCE_REQUEST, headers={"Authorization": "Bearer e2e-secret"})[0] == 200
        assert call(url, "/model")[0] == 401
        assert call(url, "/readyz")[0] == 200
    finally:
        key_file.unlink()
    assert call(url, "/invocations", REFERENCE_REQUEST)[0] == 200


def test_a_new_champion_reaches_the_running_server_with_no_failed_request(server):
    url = server["url"]
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            status, headers, _ = call(url, "/invocations", {"dataframe_records": RECORDS})
            seen.append((status, headers.get("x-model-version", "")))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        second = iris.register(MODEL, seed=1)
        promote(MODEL, second)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(v == second for _, v in seen[-3:]):
            time.sleep(0.5)
        time.sleep(1)
    finally:
        stop.set()
        sender.join()

    versions = [v for _, v in seen]
    assert {s for s, _ in seen} == {200}
    assert versions[0] == server["first"] and versions[-1] == second
    assert versions.index(second) > 0 and set(versions[versions.index(second):]) == {second}
    assert int((server["deploy"].server_dir() / "server.pid").read_text()) == server["pid"]
    os.kill(server["pid"], 0)

    again = server["deploy"].deploy(MODEL, target="local")
    assert (again.version, again.action, again.bento) == (second, "unchanged", f"lakeside-{MODEL}:v{second}")
