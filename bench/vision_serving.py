"""Serving an image classifier: Lakeside's ``ImageService`` vs a plain BentoML service running the
same ONNX graph per image, vs in-process onnxruntime at batch 32, side by side in one run.

The model: a pathology head (``lakeside.vision.head``) on patches of generated slides, exported
with the backbone as one graph, logged as the vision pyfunc, registered and promoted in a
registry of this run's own (SQLite in the work dir). Servers, one worker each, both up at once:

- **lakeside**: the model's Bento (``deploy.build_bento``, kind ``image``) under ``bentoml serve``
  (``deploy.start_local``): decode off the loop, adaptive batches up to 32;
- **plain**: a minimal ``@bentoml.service`` (written to the work dir) whose ``/invocations``
  decodes the base64 picture and runs the graph on it alone.

The in-process reference decodes and runs 512 pictures, 32 a call, on a session with
onnxruntime's defaults.

``hey`` sends the same single-image bodies (``{"inputs": {"image": "<base64 PNG>"}}``) at
concurrency 1 and 32 (``bench/serving_throughput.py``'s runner: bounded request counts,
keep-alive); answers are checked against in-process predictions first. Targets (issue #16):
Lakeside at concurrency 32 >= 80% of in-process images/s, above the plain service, with a lower
p99.

    .venv/bin/python bench/vision_serving.py [--requests-c1 60] [--requests-c32 640]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _report as report  # noqa: E402
from serving_throughput import Scenario, Server, _stop_group, _wait, free_ports, hey_run, post  # noqa: E402

MODEL = "bench_pathology"
PLAIN_SERVICE = '''
import base64, io, json, os
import bentoml
import numpy as np
import onnxruntime as ort
from PIL import Image


@bentoml.service(name="plain_image", traffic={"timeout": 60})
class PlainImage:
    def __init__(self):
        self.session = ort.InferenceSession(os.environ["PLAIN_ONNX"], providers=["CPUExecutionProvider"])
        self.classes = json.loads(os.environ["PLAIN_CLASSES"])

    @bentoml.api(route="/invocations")
    def invocations(self, inputs: dict) -> dict:
        picture = Image.open(io.BytesIO(base64.b64decode(inputs["image"]))).convert("RGB").resize((224, 224))
        pixels = np.asarray(picture, dtype=np.float32)[None]
        probabilities = self.session.run(None, {"pixels": pixels})[0][0]
        best = int(probabilities.argmax())
        return {"predictions": [{"label": self.classes[best], "prob": float(probabilities[best])}]}
'''


def build_model(workdir: Path, tracking_uri: str) -> dict:
    import mlflow
    import numpy as np

    from lakeside import registry
    from lakeside.datasets import pathology_slides
    from lakeside.vision import backbone, head, patches, pyfunc, train
    from lakeside.vision.images import decode_pixels
    from lakeside.vision.runtime import OnnxModel

    points = pathology_slides.generate(workdir / "slides", slides=2, size=1024, per_label=16, seed=3)
    table, _ = pathology_slides.read_points(points)
    contents = []
    for row in table.itertuples():
        slide = pathology_slides.read_slide(workdir / "slides" / f"{row.slide_id}.png")
        contents.append(patches.png(patches.around(slide, row.x, row.y, 224)))
    labels = table["label"].to_numpy()
    features = OnnxModel(backbone.exported(workdir / "backbone")).run(decode_pixels(contents))
    first = (table["slide_id"] == table["slide_id"].iloc[0]).to_numpy()
    fitted = head.fit(features[first], labels[first], features[~first], labels[~first])
    graph = train.export_checked(fitted, contents[:4], workdir / "classifier.onnx")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(MODEL)
    with mlflow.start_run():
        info = pyfunc.log_model(graph, fitted.classes, contents[:2])
    version = registry.register_challenger(info.model_uri, MODEL, service_kind="image")
    registry.promote(MODEL, version)
    return {"graph": str(graph), "classes": fitted.classes, "contents": contents, "version": version,
            "labels": list(np.asarray(labels))}


def in_process(model: dict, batches: int = 16) -> dict:
    """Decode + resize + run, 32 pictures a call, on an onnxruntime session with its defaults
    (spinning threads: the faster way when nothing else runs beside it)."""
    import onnxruntime as ort

    from lakeside.vision.images import decode_pixels

    session = ort.InferenceSession(model["graph"], providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    contents = (model["contents"] * 8)[:32]
    session.run(None, {name: decode_pixels(contents)})
    started = time.perf_counter()
    for _ in range(batches):
        session.run(None, {name: decode_pixels(contents)})
    seconds = time.perf_counter() - started
    return {"images": 32 * batches, "seconds": seconds, "images_per_s": 32 * batches / seconds}


def start_lakeside(tracking_uri: str) -> Server:
    from lakeside.serving import deploy
    from lakeside.serving.models import resolve

    ref = resolve(MODEL, "champion", tracking_uri)
    with report.timed("build the Bento"):
        bento = deploy.build_bento(ref, "image", tracking_uri)
    url = deploy.start_local(bento, MODEL, "champion", tracking_uri, kind="image")
    pid = int((deploy.server_dir(MODEL) / "server.pid").read_text().split()[0])
    return Server("lakeside", url, pid, deploy.server_dir(MODEL) / "server.log", f"bentoml serve {bento}",
                  lambda: deploy.stop_local(MODEL))


def start_plain(workdir: Path, port: int, model: dict) -> Server:
    (workdir / "plain_image.py").write_text(PLAIN_SERVICE)
    log_path = workdir / "plain.log"
    env = {**os.environ, "PLAIN_ONNX": model["graph"], "PLAIN_CLASSES": json.dumps(model["classes"])}
    with open(log_path, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", "plain_image:PlainImage", "--host",
                                    "127.0.0.1", "--port", str(port)], cwd=workdir, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(f"{url}/readyz", 300, process, log_path)
    return Server("plain", url, process.pid, log_path, "bentoml serve plain_image:PlainImage",
                  lambda: _stop_group(process))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-c1", type=int, default=60)
    parser.add_argument("--requests-c32", type=int, default=640)
    args = parser.parse_args(argv)
    hey = shutil.which("hey")
    if hey is None:
        print("hey is missing: apt-get install hey", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-vision-serving-"))
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    ports = free_ports(2)
    os.environ.update({
        "LAKESIDE_HOME": str(workdir / "home"), "BENTOML_HOME": str(workdir / "bentoml"),
        "MLFLOW_TRACKING_URI": tracking_uri, "LAKESIDE_SERVE_WATCH_S": "0", "LAKESIDE_SERVE_HOST": "127.0.0.1",
        "LAKESIDE_SERVE_PORT": str(ports[0]), "BENTOML_DO_NOT_TRACK": "True", "LAKESIDE_SERVE_INFERENCE_LOG": "false",
    })
    servers: dict[str, Server] = {}
    try:
        model = build_model(workdir, tracking_uri)
        inproc = in_process(model)
        report.log(f"in-process: {inproc['images_per_s']:.1f} images/s at batch 32")
        body = workdir / "single.json"
        body.write_text(json.dumps({"inputs": {"image": base64.b64encode(model["contents"][0]).decode()}}))
        servers["plain"] = start_plain(workdir, ports[1], model)
        servers["lakeside"] = start_lakeside(tracking_uri)
        expected = None
        for name, server in servers.items():
            status, answer = post(server.url, json.loads(body.read_text()))
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {answer}")
            label = answer["predictions"][0]["label"]
            expected = expected or label
            if label != expected:
                raise RuntimeError(f"{name} answered {label}, the other server {expected}")
        scenarios = [Scenario("c1", "1 image, concurrency 1", args.requests_c1, 1, body, 1),
                     Scenario("c32", "1 image, concurrency 32", args.requests_c32, 32, body, 1)]
        rows, loads = [], []
        for scenario in scenarios:
            for name in ("plain", "lakeside"):
                hey_run(hey, servers[name], scenario, min(32, scenario.requests), -1)  # warm-up
                load = hey_run(hey, servers[name], scenario, scenario.requests, 0)
                loads.append(load)
                rows.append([scenario.label, name, load.answered, load.non_200, load.requests_per_s, load.p50_ms,
                             load.p99_ms, load.requests_per_s / inproc["images_per_s"], load.load_before and
                             load.load_before[0]])
        rows.append(["in-process onnxruntime, batch 32", "-", inproc["images"], 0, inproc["images_per_s"], "", "",
                     1.0, ""])
        headers = ["scenario", "server", "answered", "non-200", "images/s", "p50 ms", "p99 ms", "of in-process",
                   "load 1m"]
        print(report.table(headers, rows, title=f"bench/vision_serving.py, {os.cpu_count()} CPUs"))
        report.write_json("vision_serving", {"args": vars(args), "rows": [dict(zip(headers, r)) for r in rows]})
        return 0 if all(load.non_200 == 0 for load in loads) else 1
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
