"""Real ``bentoml serve`` of Bentos built from the registry, on loopback: two models at once
(a tabular regressor on the default port, a custom pyfunc on the next one; deploying the second
leaves the first running), the request shapes, every class of bad input, tensors with
``params``, the API key switched on and off while serving, a champion switch reaching the
running server with no failed request, and stopping one model's server only."""

import importlib.util
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.slow(expected_s=95)

_spec = importlib.util.spec_from_file_location(
    "serving_tiny_models", Path(__file__).parents[1] / "lakeside" / "serving" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

TABULAR = "tabular_e2e"
PYFUNC = "row_sums_e2e"
COLUMNS = tiny.COLUMNS
ROWS = [[1.0, 1.0], [3.0, 2.5]]
REFERENCE_REQUEST = {"columns": COLUMNS, "data": ROWS}
RECORDS = [dict(zip(COLUMNS, row)) for row in ROWS]
TENSOR = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]


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


def expected(slope=2.0):
    return pytest.approx(tiny.linear_prediction(ROWS, slope))


def pid_of(deploy, model) -> int:
    return int((deploy.server_dir(model) / "server.pid").read_text().split()[0])


@pytest.fixture(scope="module")
def served(mlflow_server, tmp_path_factory):
    from lakeside.serving import deploy

    home = tmp_path_factory.mktemp("serving")
    key_file = home / "api-key"
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_SERVE_PORT", str(port))
        patch.setenv("LAKESIDE_SERVE_MODEL", TABULAR)
        patch.setenv("LAKESIDE_SERVE_WATCH_S", "1")
        patch.setenv("LAKESIDE_SERVE_MAX_ROWS", "50")
        patch.setenv("LAKESIDE_SERVE_API_KEY_FILE", str(key_file))
        mlflow.set_tracking_uri(mlflow_server)
        first = tiny.register_tabular(TABULAR, slope=2.0)
        pyfunc_version = tiny.register_pyfunc(PYFUNC)
        try:
            tabular = deploy.deploy(TABULAR, target="local")
            tabular_pid = pid_of(deploy, TABULAR)
            pyfunc = deploy.deploy(PYFUNC, target="local")
            yield {"tabular": tabular, "pyfunc": pyfunc, "url": tabular.endpoint, "pyfunc_url": pyfunc.endpoint,
                   "first": first, "pyfunc_version": pyfunc_version, "port": port, "tabular_pid": tabular_pid,
                   "key_file": key_file, "deploy": deploy}
        finally:
            deploy.stop_local()


def test_each_model_has_its_bento_and_its_service_kind(served):
    import bentoml

    tabular, pyfunc = served["tabular"], served["pyfunc"]
    assert (tabular.action, tabular.version, tabular.kind) == ("started", served["first"], "tabular")
    assert (pyfunc.action, pyfunc.version, pyfunc.kind) == ("started", served["pyfunc_version"], "pyfunc")
    bento = bentoml.bentos.get(tabular.bento)
    assert str(bento.tag) == f"lakeside-{TABULAR}:v{served['first']}"
    assert bento.info.labels["registered_model"] == TABULAR and bento.info.labels["model_version"] == served["first"]
    assert [str(m.tag) for m in bento.info.models] == [f"{TABULAR}:v{served['first']}"]
    assert bentoml.bentos.get(pyfunc.bento).info.labels["service_kind"] == "pyfunc"


def test_two_models_answer_at_once_each_on_its_own_port(served):
    deploy = served["deploy"]
    url, pyfunc_url = served["url"], served["pyfunc_url"]
    assert url == f"http://127.0.0.1:{served['port']}", "the default model gets LAKESIDE_SERVE_PORT"
    assert pyfunc_url != url
    assert deploy.endpoints() == {TABULAR: url, PYFUNC: pyfunc_url}
    assert pid_of(deploy, TABULAR) == served["tabular_pid"], "deploying the second model kept the first running"

    answers = {}

    def ask(name, target, body):
        answers[name] = [call(target, "/invocations", body) for _ in range(5)]

    senders = [threading.Thread(target=ask, args=(TABULAR, url, REFERENCE_REQUEST)),
               threading.Thread(target=ask, args=(PYFUNC, pyfunc_url, {"inputs": TENSOR}))]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    for status, headers, body in answers[TABULAR]:
        assert (status, headers["x-model-name"], headers["x-model-version"]) == (200, TABULAR, served["first"])
        assert json.loads(body) == expected()
    for status, headers, body in answers[PYFUNC]:
        assert (status, headers["x-model-name"], headers["x-model-version"]) == (200, PYFUNC, served["pyfunc_version"])
        assert json.loads(body) == {"predictions": [6.0, 15.5]}
    tabular_model, pyfunc_model = (json.loads(call(u, "/model")[2]) for u in (url, pyfunc_url))
    assert (tabular_model["name"], tabular_model["version"], tabular_model["service"]) == (
        TABULAR, served["first"], "tabular")
    assert (pyfunc_model["name"], pyfunc_model["version"], pyfunc_model["service"]) == (
        PYFUNC, served["pyfunc_version"], "pyfunc")


def test_the_custom_pyfunc_takes_arrays_with_params_and_refuses_bad_tensors(served):
    url = served["pyfunc_url"]
    plain = call(url, "/invocations", {"inputs": TENSOR})
    tripled = call(url, "/invocations", {"inputs": TENSOR, "params": {"factor": 3}})
    wrong_shape = call(url, "/invocations", {"inputs": [[1.0, 2.0]]})
    unknown_param = call(url, "/invocations", {"inputs": TENSOR, "params": {"speed": 2}})

    assert (plain[0], json.loads(plain[2])) == (200, {"predictions": [6.0, 15.5]})
    assert (tripled[0], json.loads(tripled[2])) == (200, {"predictions": [18.0, 46.5]})
    assert wrong_shape[0] == 422 and json.loads(wrong_shape[2])["field"] == "inputs"
    assert "(any, 3)" in json.loads(wrong_shape[2])["error"]
    assert unknown_param[0] == 422 and json.loads(unknown_param[2])["field"] == "speed"


@pytest.mark.parametrize("body", [
    {"dataframe_split": REFERENCE_REQUEST},
    {"dataframe_records": RECORDS},
    {"inputs": RECORDS},
])
def test_the_mlflow_2_shapes(served, body):
    status, _, answer = call(served["url"], "/invocations", body)

    assert status == 200
    assert json.loads(answer)["predictions"] == expected()


def test_the_open_inference_protocol_body(served):
    rows = REFERENCE_REQUEST["data"]
    body = {"id": "oip-1", "inputs": [{"name": name, "shape": [len(rows)], "datatype": "FP64",
                                       "data": [row[i] for row in rows]} for i, name in enumerate(COLUMNS)]}

    status, _, answer = call(served["url"], "/invocations", body)

    assert status == 200, answer
    answer = json.loads(answer)
    assert answer["id"] == "oip-1" and answer["model_name"] == TABULAR
    assert answer["outputs"][0]["data"] == expected()


@pytest.mark.parametrize("body, raw, status, field, row", [
    ({"columns": COLUMNS[:1], "data": [[5.2]]}, None, 422, "rooms", None),
    ({"dataframe_records": [RECORDS[0], {**RECORDS[1], "colour": "blue"}]}, None, 422, "colour", 1),
    ({"dataframe_records": [RECORDS[0], {**RECORDS[1], "size": "wide"}]}, None, 422, "size", 1),
    (None, b'{"dataframe_records": [{"size": NaN, "rooms": 3.0}]}', 422, "size", 0),
    ({"inputs": RECORDS * 26}, None, 413, None, None),
    ({"rows": [[1, 2]]}, None, 400, None, None),
    (None, b'{"columns": ["a"', 400, None, None),
])
def test_bad_input_is_a_clear_4xx_and_the_server_stays_up(served, body, raw, status, field, row):
    answer_status, _, answer = call(served["url"], "/invocations", body, raw=raw)

    assert answer_status == status
    error = json.loads(answer)
    assert error["error"]
    if field is not None:
        assert (error["field"], error.get("row")) == (field, row)
    assert call(served["url"], "/invocations", REFERENCE_REQUEST)[0] == 200


def test_probes_metrics_docs_and_model(served):
    url = served["url"]
    assert call(url, "/healthz")[0] == 200 and call(url, "/readyz")[0] == 200
    status, _, metrics = call(url, "/metrics")
    assert status == 200 and "lakeside_batch_rows_bucket" in metrics and "lakeside_served_model_version" in metrics
    assert "/invocations" in json.loads(call(url, "/docs.json")[2])["paths"]
    model = json.loads(call(url, "/model")[2])
    assert (model["name"], model["alias"]) == (TABULAR, "champion")
    assert [c["name"] for c in model["inputs"]] == COLUMNS


def test_the_api_key_switched_on_and_off_while_serving(served):
    url, pyfunc_url, key_file = served["url"], served["pyfunc_url"], served["key_file"]
    assert call(url, "/invocations", REFERENCE_REQUEST)[0] == 200
    key_file.write_text("e2e-secret\n")
    try:
        assert call(url, "/invocations", REFERENCE_REQUEST)[0] == 401
        assert call(pyfunc_url, "/invocations", {"inputs": TENSOR})[0] == 401
        assert call(url, "/invocations", REFERENCE_REQUEST, headers={"X-API-Key": "wrong"})[0] == 401
        assert call(url, "/invocations", REFERENCE_REQUEST, headers={"Authorization": "Bearer e2e-secret"})[0] == 200
        assert call(pyfunc_url, "/invocations", {"inputs": TENSOR}, headers={"X-API-Key": "e2e-secret"})[0] == 200
        assert call(url, "/model")[0] == 401
        assert call(url, "/readyz")[0] == 200
    finally:
        key_file.unlink()
    assert call(url, "/invocations", REFERENCE_REQUEST)[0] == 200


def test_a_new_champion_reaches_the_running_server_with_no_failed_request(served):
    url, deploy = served["url"], served["deploy"]
    pyfunc_pid = pid_of(deploy, PYFUNC)
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            status, headers, _ = call(url, "/invocations", {"dataframe_records": RECORDS})
            seen.append((status, headers.get("x-model-version", "")))

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        second = tiny.register_tabular(TABULAR, slope=5.0)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(v == second for _, v in seen[-3:]):
            time.sleep(0.5)
        time.sleep(1)
    finally:
        stop.set()
        sender.join()

    versions = [v for _, v in seen]
    assert {s for s, _ in seen} == {200}
    assert versions[0] == served["first"] and versions[-1] == second
    assert versions.index(second) > 0 and set(versions[versions.index(second):]) == {second}
    assert pid_of(deploy, TABULAR) == served["tabular_pid"]
    os.kill(served["tabular_pid"], 0)
    assert json.loads(call(url, "/invocations", REFERENCE_REQUEST)[2]) == expected(5.0)

    again = deploy.deploy(TABULAR, target="local")
    assert (again.version, again.action, again.bento) == (second, "unchanged", f"lakeside-{TABULAR}:v{second}")
    assert again.endpoint == url
    assert pid_of(deploy, PYFUNC) == pyfunc_pid, "redeploying one model leaves the other's server alone"
    assert MlflowClient().get_model_version_by_alias(TABULAR, "champion").version == second


def test_stopping_one_model_leaves_the_other_answering(served):
    deploy = served["deploy"]

    assert deploy.stop_local(PYFUNC) == [PYFUNC]

    assert deploy.endpoints() == {TABULAR: served["url"]}
    assert call(served["url"], "/invocations", REFERENCE_REQUEST)[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{served['pyfunc_url']}/readyz", timeout=5)


def test_every_request_of_32_clients_is_a_row_of_the_inference_table_after_sigterm(served):
    """Last: it stops the tabular server (SIGTERM), whose shutdown drains the inference log."""
    from concurrent.futures import ThreadPoolExecutor

    from deltalake import DeltaTable

    from lakeside.config import settings

    url, deploy = served["url"], served["deploy"]
    bad = {"dataframe_records": [{**RECORDS[0], COLUMNS[0]: "wide"}]}

    def client(number: int) -> dict[str, int]:
        statuses = {}
        for request in range(200):
            request_id = f"load-{number}-{request}"
            body = bad if request % 10 == 0 else {"dataframe_records": RECORDS}
            statuses[request_id] = call(url, "/invocations", body, headers={"X-Request-ID": request_id})[0]
        return statuses

    with ThreadPoolExecutor(32) as pool:
        sent = {key: status for statuses in pool.map(client, range(32)) for key, status in statuses.items()}
    assert len(sent) == 6400 and set(sent.values()) == {200, 422}

    deploy.stop_local(TABULAR)

    table = DeltaTable(str(settings().lake_root / "inference" / TABULAR)).to_pyarrow_table(
        columns=["request_id", "status_code", "model_name"]).to_pylist()
    logged = [row for row in table if row["request_id"].startswith("load-")]
    assert len(logged) == len(sent), "each request is recorded once"
    assert {row["request_id"]: row["status_code"] for row in logged} == sent
    assert {row["model_name"] for row in logged} == {TABULAR}
