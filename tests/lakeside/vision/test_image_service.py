"""The image service through its ASGI app, on a registered two-texture classifier: base64 JSON,
dataframe_records and raw bodies agree with the in-process pyfunc; each bad input is a clear 4xx."""

import base64

import mlflow
import pandas as pd
import pytest
from starlette.testclient import TestClient

from lakeside.vision import pyfunc

pytestmark = pytest.mark.usefixtures("mlflow_server")
MODEL = "textures_image"


@pytest.fixture(scope="module")
def version(mlflow_server, fitted, two_textures, classifier_graph):
    from lakeside import registry

    mlflow.set_tracking_uri(mlflow_server)
    contents, _, _ = two_textures
    mlflow.set_experiment(MODEL)
    with mlflow.start_run():
        info = pyfunc.log_model(classifier_graph, fitted.classes, contents[:2])
    version = registry.register_challenger(info.model_uri, MODEL, service_kind="image")
    registry.promote(MODEL, version)
    return version


@pytest.fixture(scope="module")
def client(version):
    from lakeside.serving.image_service import ImageService

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_CONFIG_OPTIONS", "services.lakeside_image.metrics.enabled=false")
        patch.setenv("LAKESIDE_SERVE_MODEL", MODEL)
        patch.setenv("LAKESIDE_SERVE_MAX_ROWS", "8")
        patch.setenv("LAKESIDE_SERVE_MAX_BODY_MB", "0.2")
        with TestClient(ImageService.to_asgi(), raise_server_exceptions=False) as test_client:
            yield test_client


def png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    fields = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", fields) + chunk(b"IDAT", zlib.compress(b"\0" * 16))


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def test_base64_records_raw_and_in_process_agree(client, version, two_textures):
    contents, _, _ = two_textures
    expected = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}").predict(
        pd.DataFrame({"image": [b64(c) for c in contents[20:24]]})).to_dict(orient="records")

    single = client.post("/invocations", json={"inputs": {"image": b64(contents[20])}})
    records = client.post("/invocations", json={"dataframe_records": [{"image": b64(c)} for c in contents[20:24]]})
    raw = client.post("/invocations", content=contents[21], headers={"Content-Type": "image/png"})

    assert single.status_code == 200 and records.status_code == 200 and raw.status_code == 200
    assert single.json()["predictions"][0]["label"] == expected[0]["label"]
    assert [p["label"] for p in records.json()["predictions"]] == [e["label"] for e in expected]
    assert records.json()["predictions"][1]["prob"] == pytest.approx(expected[1]["prob"], abs=1e-5)
    assert raw.json()["label"] == expected[1]["label"]
    assert raw.json()["prob"] == pytest.approx(expected[1]["prob"], abs=1e-5)
    assert (single.headers["x-model-name"], single.headers["x-model-version"]) == (MODEL, version)
    assert client.get("/model").json()["service"] == "image"


def test_bad_inputs_are_4xx_naming_field_and_row(client, two_textures):
    contents, _, _ = two_textures
    good = b64(contents[0])
    truncated = b64(contents[1][:300])
    big = png_header(7000, 6000)  # 42 MP announced by a 60-byte file: refused before decoding

    cases = [
        (client.post("/invocations", json={"dataframe_records": [{"image": good}, {"image": "%%%"}]}),
         422, "image", 1, "base64"),
        (client.post("/invocations", json={"inputs": [{"image": good}, {"image": b64(b"text, not a picture")}]}),
         422, "image", 1, "not an image"),
        (client.post("/invocations", json={"inputs": [{"image": good}, {"image": good}, {"image": truncated}]}),
         422, "image", 2, "truncated"),
        (client.post("/invocations", content=big, headers={"Content-Type": "image/png"}), 413, "image", 0,
         "too many pixels"),
        (client.post("/invocations", content=b"x" * 250_000, headers={"Content-Type": "image/png"}), 413, None,
         None, "over the limit"),
        (client.post("/invocations", content=b"GIF89a", headers={"Content-Type": "image/gif"}), 415,
         "content-type", None, "image/gif"),
        (client.post("/invocations", json={"inputs": [{"image": good}] * 9}), 413, None, None, "too many rows"),
        (client.post("/invocations", json={"inputs": [{"picture": good}]}), 422, "picture", 0, "unknown column"),
    ]
    for answer, status, field, row, words in cases:
        body = answer.json()
        assert answer.status_code == status, body
        assert body.get("field") == field and body.get("row") == row, body
        assert words in body["error"], body
