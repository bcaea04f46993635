"""The request guard around a tiny ASGI app: the request id and the request line, on and off."""

import logging

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from lakeside.serving.guard import RequestGuard


async def predict(request):
    return JSONResponse({"ok": True})


def guarded(monkeypatch, access_log: str) -> TestClient:
    monkeypatch.setenv("LAKESIDE_SERVE_ACCESS_LOG", access_log)
    monkeypatch.delenv("LAKESIDE_SERVE_API_KEY", raising=False)
    monkeypatch.delenv("LAKESIDE_SERVE_API_KEY_FILE", raising=False)
    return TestClient(RequestGuard(Starlette(routes=[Route("/predict", predict, methods=["POST"])])))


@pytest.mark.parametrize("access_log, lines", [("true", 1), ("false", 0)])
def test_the_request_line_follows_the_access_log_switch(monkeypatch, caplog, access_log, lines):
    client = guarded(monkeypatch, access_log)
    with caplog.at_level(logging.INFO, logger="bentoml.lakeside.requests"):
        answer = client.post("/predict", json={}, headers={"X-Request-Id": "abc123"})

    assert answer.status_code == 200 and answer.headers["x-request-id"] == "abc123"
    logged = [r.getMessage() for r in caplog.records if r.name == "bentoml.lakeside.requests"]
    assert len(logged) == lines
    if lines:
        assert logged[0].startswith("request_id=abc123 testclient:50000 POST /predict "
                                    "(type=application/json,length=2) -> 200 (type=application/json,length=11) in ")


def test_a_key_set_while_serving_is_asked_for(monkeypatch):
    client = guarded(monkeypatch, "false")
    assert client.post("/predict", json={}).status_code == 200
    monkeypatch.setenv("LAKESIDE_SERVE_API_KEY", "s3cret")
    assert client.post("/predict", json={}).status_code == 401
    assert client.post("/predict", json={}, headers={"X-API-Key": "s3cret"}).status_code == 200
