"""Before an alias moves to a version, the request MLflow logged with it
(``serving_input_example.json``, written from the input example) is replayed against the Bento
the version would be served from: built as deploy builds it, started with ``bentoml serve`` on
a free loopback port, sent the payload, stopped. Anything but 200 keeps the alias where it is.

A version that passed is tagged ``lakeside.replay = 200`` (with the Bento and the time taken),
so a later alias move (the gate's promotion, a rollback) does not replay it again. A failure is
tagged ``lakeside.replay = failed: <reason>`` and raises :class:`ReplayFailed`.

``LAKESIDE_REGISTRY_REPLAY`` (:func:`lakeside.config.registry_replay`): ``bento`` (default) or
``off`` (tests that exercise only the registry's bookkeeping).
"""

from __future__ import annotations

import logging
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from lakeside import processes
from lakeside.config import registry_replay

log = logging.getLogger(__name__)

REPLAY_TAG = "lakeside.replay"
PAYLOAD_FILE = "serving_input_example.json"  # MLflow writes it from the input example


class ReplayFailed(RuntimeError):
    """The version's logged request was not answered 200 by its Bento (or there is none)."""


def ensure_replayed(name: str, version: str, tracking_uri: str | None = None) -> dict | None:
    """Replay ``name`` version ``version`` unless it passed before; what was done (None: off)."""
    from mlflow import MlflowClient

    if registry_replay() == "off":
        return None
    client = MlflowClient(tracking_uri)
    if client.get_model_version(name, version).tags.get(REPLAY_TAG) == "200":
        return {"status": 200, "cached": True}
    try:
        outcome = replay(name, version, tracking_uri)
    except ReplayFailed as error:
        client.set_model_version_tag(name, version, REPLAY_TAG, f"failed: {str(error)[:4500]}")
        raise
    client.set_model_version_tag(name, version, REPLAY_TAG, "200")
    client.set_model_version_tag(name, version, "lakeside.replay_bento", outcome["bento"])
    client.set_model_version_tag(name, version, "lakeside.replay_seconds", f"{outcome['seconds']:.1f}")
    return outcome


def replay(name: str, version: str, tracking_uri: str | None = None) -> dict:
    """Build the version's Bento, serve it, send it its logged request; ``{"bento", "status",
    "seconds"}`` when answered 200, else :class:`ReplayFailed` naming the answer."""
    from mlflow import MlflowClient

    from lakeside import tracking
    from lakeside.serving.deploy import build_bento
    from lakeside.serving.models import ModelRef, service_kind

    started = time.perf_counter()
    uri = tracking_uri or tracking.tracking_uri()
    payload = logged_payload(name, version, uri)
    run_id = MlflowClient(uri).get_model_version(name, version).run_id
    ref = ModelRef(name, str(version), "champion", run_id)
    bento = build_bento(ref, service_kind(name, str(version), uri), uri)
    built = time.perf_counter()
    status, answer = _serve_and_post(bento, ref, uri, payload)
    if status != 200:
        raise ReplayFailed(f"{name} version {version}: its logged request ({PAYLOAD_FILE}) was answered {status} "
                           f"by Bento {bento}: {answer[:1000]}")
    seconds = time.perf_counter() - started
    log.info("replayed %s version %s against %s: 200 in %.1f s (build %.1f s, serve and answer %.1f s)", name,
             version, bento, seconds, built - started, seconds - (built - started))
    return {"bento": bento, "status": status, "seconds": seconds, "build_seconds": built - started}


def logged_payload(name: str, version: str, tracking_uri: str) -> bytes:
    """The request MLflow logged beside the version's model (from its input example)."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        path = download_artifacts(f"models:/{name}/{version}/{PAYLOAD_FILE}", tracking_uri=tracking_uri)
    except (MlflowException, OSError) as error:
        raise ReplayFailed(f"{name} version {version} has no {PAYLOAD_FILE}: log the model with an input "
                           f"example ({error})") from None
    return Path(path).read_bytes()


def _serve_and_post(bento: str, ref, tracking_uri: str, payload: bytes) -> tuple[int, str]:
    """``bentoml serve`` the Bento on a free loopback port (alias watch and inference table off,
    the packed model served as it is), POST ``payload``, stop it."""
    from lakeside.serving.deploy import launch

    host = "127.0.0.1"
    port = processes.free_port(host)
    with tempfile.TemporaryDirectory(prefix="lakeside-replay-") as folder:
        try:
            launch(bento, ref.name, ref.alias, tracking_uri, host, port, Path(folder),
                   LAKESIDE_SERVE_MODEL_TAG=ref.store_tag, LAKESIDE_SERVE_WATCH_S="0",
                   LAKESIDE_SERVE_INFERENCE_LOG="false")
            return _post(f"http://{host}:{port}", payload)
        finally:
            processes.stop(Path(folder) / "server.pid")


def _post(url: str, payload: bytes) -> tuple[int, str]:
    from lakeside.serving.deploy import auth_headers

    request = urllib.request.Request(f"{url}/invocations", data=payload, method="POST",
                                     headers={"Content-Type": "application/json", **auth_headers()})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")

