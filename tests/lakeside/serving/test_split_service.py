"""One tabular endpoint serving champion and challenger 70/30 with the challenger shadowing every
champion answer, through the service's ASGI app on a real MLflow registry."""

import json
import threading
from collections import Counter

import bentoml
import mlflow
import prometheus_client
import pytest
from mlflow import MlflowClient
from starlette.testclient import TestClient

pytestmark = pytest.mark.usefixtures("mlflow_server")

MODEL = "traffic_split_asgi"
BODY = {"columns": ["size", "rooms"], "data": [[1.0, 1.0], [3.0, 2.5]]}


@pytest.fixture(scope="module")
def versions(mlflow_server, tiny):
    mlflow.set_tracking_uri(mlflow_server)
    champion = tiny.register_tabular(MODEL, slope=2.0)
    challenger = tiny.register_tabular(MODEL, slope=5.0)
    client = MlflowClient()
    client.set_registered_model_alias(MODEL, "champion", champion)
    client.set_registered_model_alias(MODEL, "challenger", challenger)
    return {"champion": champion, "challenger": challenger}


@pytest.fixture(scope="module")
def client(versions, tmp_path_factory):
    from lakeside.serving.service import TabularService

    with pytest.MonkeyPatch.context() as patch:
        # BentoML registers its request metrics once per process (the tabular tests' app did)
        patch.setenv("BENTOML_CONFIG_OPTIONS", "services.lakeside.metrics.enabled=false")
        patch.setenv("LAKESIDE_HOME", str(tmp_path_factory.mktemp("traffic-home")))
        patch.setenv("LAKESIDE_SERVE_MODEL", MODEL)
        patch.setenv("LAKESIDE_SERVE_WATCH_S", "0")
        patch.setenv("LAKESIDE_SERVE_SPLIT", "champion=70,challenger=30")
        patch.setenv("LAKESIDE_SERVE_SHADOW_SHARE", "1")
        with TestClient(TabularService.to_asgi(), raise_server_exceptions=False) as test_client:
            yield test_client


@pytest.fixture()
def service(client):
    return bentoml.get_current_service()


def expected(tiny, version, versions):
    slope = 2.0 if version == versions["champion"] else 5.0
    return pytest.approx(tiny.linear_prediction(BODY["data"], slope))


def test_answers_follow_the_weights_and_name_the_version_that_answered(client, versions, tiny):
    answers = [client.post("/invocations", json=BODY) for _ in range(300)]

    by_version = Counter(answer.headers["x-model-version"] for answer in answers)
    assert all(answer.status_code == 200 for answer in answers)
    assert by_version[versions["challenger"]] / 300 == pytest.approx(0.30, abs=0.08)  # 3 standard deviations
    assert set(by_version) == set(versions.values())
    for answer in answers[:50]:
        version = answer.headers["x-model-version"]
        alias = "champion" if version == versions["champion"] else "challenger"
        assert answer.headers["x-model-alias"] == alias
        assert answer.json() == expected(tiny, version, versions)


def test_a_route_key_always_reaches_the_same_version(client, versions):
    def version_for(key):
        return client.post("/invocations", json=BODY, headers={"X-Lakeside-Route-Key": key}).headers["x-model-version"]

    first = {f"user-{n}": version_for(f"user-{n}") for n in range(30)}

    assert all(version_for(key) == version for key, version in first.items())
    assert set(first.values()) == set(versions.values()), "keys spread over both versions"


def test_model_shows_the_split_and_the_shadow(client, versions):
    described = client.get("/model").json()

    assert described["version"] == versions["champion"]
    assert described["split"]["shares"] == {"champion": 0.7, "challenger": 0.3}
    assert described["split"]["versions"] == versions and described["split"]["missing"] == []
    assert described["split"]["source"] == "LAKESIDE_SERVE_SPLIT"
    assert described["shadow"]["alias"] == "challenger" and described["shadow"]["version"] == versions["challenger"]


def test_inference_rows_and_metrics_carry_the_version(client, versions):
    from deltalake import DeltaTable

    from lakeside.config import settings
    from lakeside.serving import inference

    sent = {f"ver-{n}": client.post("/invocations", json=BODY, headers={"X-Request-ID": f"ver-{n}"}) for n in range(30)}
    inference.active().flush()
    metrics = prometheus_client.generate_latest().decode()  # what /metrics shows under `bentoml serve`

    table = DeltaTable(str(settings().lake_root / "inference" / MODEL)).to_pyarrow_table().to_pylist()
    logged = {row["request_id"]: row for row in table if row["request_id"] in sent}
    assert set(logged) == set(sent)
    assert all(logged[rid]["model_version"] == answer.headers["x-model-version"] for rid, answer in sent.items())
    assert all(logged[rid]["model_alias"] == answer.headers["x-model-alias"] for rid, answer in sent.items())
    for alias, version in versions.items():
        assert f'lakeside_answered_requests_total{{alias="{alias}",model="{MODEL}",version="{version}"}}' in metrics


def test_shadow_answers_land_beside_the_champion_s(client, service, versions, tiny):
    from deltalake import DeltaTable

    from lakeside.config import settings
    from lakeside.serving import shadow

    champion_ids, before = [], sum(service.shadow.counts.values())
    for n in range(20):
        answer = client.post("/invocations", json=BODY, headers={"X-Request-ID": f"shadow-{n}"})
        if answer.headers["x-model-version"] == versions["champion"]:
            champion_ids.append(f"shadow-{n}")
    wait_until(lambda: sum(service.shadow.counts.values()) >= before + len(champion_ids))

    def landed() -> dict:
        shadow.active_log().flush()
        table = DeltaTable(str(settings().lake_root / "inference" / f"{MODEL}_shadow")).to_pyarrow_table()
        return {row["request_id"]: row for row in table.to_pylist() if row["request_id"].startswith("shadow-")}

    wait_until(lambda: set(landed()) >= set(champion_ids))  # a count is kept before its record is queued
    rows = landed()
    assert champion_ids and set(rows) == set(champion_ids), "every champion answer shadowed, no challenger answer"
    row = rows[champion_ids[0]]
    assert (row["primary_version"], row["shadow_version"]) == (versions["champion"], versions["challenger"])
    assert json.loads(row["primary_predictions"]) == pytest.approx(tiny.linear_prediction(BODY["data"], 2.0))
    assert json.loads(row["shadow_predictions"]) == pytest.approx(tiny.linear_prediction(BODY["data"], 5.0))
    assert row["primary_latency_ms"] > 0 and row["shadow_latency_ms"] > 0 and row["shadow_error"] is None


def test_a_hanging_or_failing_shadow_never_delays_or_fails_the_caller(client, service, versions, tiny, monkeypatch):
    from lakeside.serving import shadow

    release, entered = threading.Event(), threading.Event()
    challenger = service.lanes["challenger"].model

    def hang(columns):
        entered.set()
        release.wait(60)
        raise RuntimeError("challenger gave up")

    monkeypatch.setattr(service, "split", None)  # every request to the champion, every one shadowed
    monkeypatch.setattr(service.shadow, "timeout_s", 60)
    monkeypatch.setattr(challenger, "predict", hang)
    errors = service.shadow.counts["error"]
    try:
        first = client.post("/invocations", json=BODY, headers={"X-Request-ID": "hang-0"})
        assert entered.wait(30), "the shadow took the request"
        more = [client.post("/invocations", json=BODY, headers={"X-Request-ID": f"hang-{n}"}) for n in range(1, 4)]

        assert not release.is_set(), "answered while the shadow is still blocked"
        for answer in [first, *more]:
            assert answer.status_code == 200 and answer.headers["x-model-version"] == versions["champion"]
            assert answer.json() == pytest.approx(tiny.linear_prediction(BODY["data"], 2.0))
    finally:
        release.set()
    wait_until(lambda: service.shadow.counts["error"] >= errors + 4)
    shadow.active_log().flush()
    rows = shadow_rows("hang-")
    assert rows["hang-0"]["shadow_error"] == "RuntimeError: challenger gave up"
    assert rows["hang-0"]["shadow_predictions"] is None and rows["hang-0"]["primary_predictions"]


def test_each_alias_switches_when_it_moves_and_a_missing_challenger_leaves_the_champion(client, versions, tiny):
    third = tiny.register_tabular(MODEL, slope=7.0)
    mlflow_client = MlflowClient()
    mlflow_client.set_registered_model_alias(MODEL, "champion", versions["champion"])
    mlflow_client.set_registered_model_alias(MODEL, "challenger", third)
    try:
        moved = client.post("/model/reload").json()
        after = Counter(client.post("/invocations", json=BODY).headers["x-model-version"] for _ in range(60))
        assert moved["version"] == versions["champion"] and moved["split"]["versions"]["challenger"] == third
        assert set(after) == {versions["champion"], third}

        mlflow_client.delete_registered_model_alias(MODEL, "challenger")
        alone = client.post("/model/reload").json()
        served = Counter(client.post("/invocations", json=BODY).headers["x-model-version"] for _ in range(30))
        assert alone["split"]["missing"] == ["challenger"] and "challenger" not in alone["split"]["versions"]
        assert served == {versions["champion"]: 30}
    finally:
        mlflow_client.set_registered_model_alias(MODEL, "challenger", versions["challenger"])
        client.post("/model/reload")


def shadow_rows(prefix):
    from deltalake import DeltaTable

    from lakeside.config import settings

    table = DeltaTable(str(settings().lake_root / "inference" / f"{MODEL}_shadow")).to_pyarrow_table().to_pylist()
    return {row["request_id"]: row for row in table if row["request_id"].startswith(prefix)}


def wait_until(condition, seconds=30.0):
    done = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("timed out waiting")
