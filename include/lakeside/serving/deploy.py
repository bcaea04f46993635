"""Build a Bento for a registered model's alias and put it in service.

    python -m lakeside.serving.deploy [--model loans_int_rate] [--alias champion] [--target local|bento]
    python -m lakeside.serving.deploy --stop

``deploy`` imports the aliased version into the BentoML model store, builds the Bento
``lakeside-<model>:v<version>`` (the model, Lakeside's code, the model's own pip requirements),
then, with target ``local`` (the embedded default), makes the local ``bentoml serve`` on
loopback serve it: a running server of the same model is asked to switch (``POST
/model/reload``: no restart, no downtime), otherwise a server is (re)started. With target
``bento`` (production) it stops after the build: ``bentoml containerize <tag>`` takes it
from there, and running services follow the alias by themselves.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from lakeside import processes
from lakeside.config import settings
from lakeside.serving import serve_settings

log = logging.getLogger(__name__)

TARGETS = ("local", "bento")
SERVICE = "lakeside.serving.service:Predictor"
INCLUDE = ["lakeside/**/*.py", "lakeside/**/*.json", "lakeside/py.typed"]


@dataclass(frozen=True)
class Deployment:
    model: str
    version: str
    alias: str
    bento: str
    target: str
    endpoint: str | None = None
    action: str = "built"

    def to_dict(self) -> dict:
        return asdict(self)


def bentoml_home() -> Path:
    """``BENTOML_HOME``, else ``$LAKESIDE_HOME/bentoml`` (set for this process before BentoML loads)."""
    home = Path(os.environ.get("BENTOML_HOME") or settings().home / "bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    return home


def deploy(model: str | None = None, alias: str = "champion", target: str | None = None) -> Deployment:
    """Build the Bento for ``model@alias`` and, for target ``local``, serve it on loopback."""
    target = target or os.environ.get("LAKESIDE_DEPLOY_TARGET") or "local"
    if target not in TARGETS:
        raise ValueError(f"deploy target must be one of {TARGETS}, got {target!r}")
    bentoml_home()
    import mlflow

    from lakeside import tracking
    from lakeside.serving.models import import_version, resolve

    uri = tracking.tracking_uri() if target == "bento" else tracking.ensure_server()
    mlflow.set_tracking_uri(uri)
    model = model or serve_settings().model_name
    ref = resolve(model, alias, uri)
    import_version(ref)
    bento = build(ref)
    if target == "bento":
        log.info("built %s; containerize it with `bentoml containerize %s`", bento, bento)
        return Deployment(model, ref.version, alias, bento, target)
    endpoint, action = serve_locally(model, alias, bento, uri)
    return Deployment(model, ref.version, alias, bento, target, endpoint, action)


def bento_tag(ref) -> str:
    return f"lakeside-{ref.store_tag}"


def build(ref) -> str:
    """The Bento for ``ref`` (built now unless it exists); its tag."""
    import bentoml
    from bentoml._internal.bento.build_config import BentoEnvSchema
    from mlflow.pyfunc import get_model_dependencies

    tag = bento_tag(ref)
    try:
        bentoml.bentos.get(tag)
        return tag
    except bentoml.exceptions.NotFound:
        pass
    requirements = Path(get_model_dependencies(ref.uri)).read_text().split()
    requirements = [r for r in requirements if not r.startswith("-")]
    log.info("building Bento %s", tag)
    bentoml.bentos.build(
        SERVICE,
        name=tag.split(":")[0],
        version=tag.split(":")[1],
        labels=ref.labels(),
        description=f"Lakeside prediction service for {ref.name} version {ref.version} ({ref.alias}).",
        include=INCLUDE,
        envs=[BentoEnvSchema(name="LAKESIDE_SERVE_MODEL", value=ref.name),
              BentoEnvSchema(name="LAKESIDE_SERVE_ALIAS", value=ref.alias or "champion"),
              BentoEnvSchema(name="LAKESIDE_SERVE_MODEL_TAG", value=ref.store_tag)],
        python={"packages": [*requirements, f"bentoml=={bentoml.__version__}", "fastapi"], "lock_packages": False},
        models=[ref.store_tag],
        build_ctx=str(Path(__file__).resolve().parents[2]),
    )
    return tag


def endpoint_url() -> str:
    config = serve_settings()
    return f"http://{config.host}:{config.port}"


def served(url: str, timeout: float = 3.0) -> dict | None:
    """What the server at ``url`` serves (``GET /model``), or None when nothing answers."""
    request = urllib.request.Request(f"{url}/model", headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def serve_locally(model: str, alias: str, bento: str, tracking_uri: str) -> tuple[str, str]:
    """Make the loopback server serve ``model@alias``: switch a running one, else start one."""
    url = endpoint_url()
    current = served(url)
    if current and current["name"] == model and current.get("alias") == alias:
        request = urllib.request.Request(f"{url}/model/reload", data=b"", method="POST", headers=_auth_headers())
        with urllib.request.urlopen(request, timeout=300) as answer:
            now = json.load(answer)
        return url, f"switched to version {now['version']}" if now["version"] != current["version"] else "unchanged"
    if current:
        stop_local()
    start_local(bento, model, alias, tracking_uri)
    return url, "started"


def server_dir() -> Path:
    path = settings().home / "serving"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_local(bento: str, model: str, alias: str, tracking_uri: str, wait_s: float = 300.0) -> str:
    """Start ``bentoml serve <bento>`` on loopback in the background; the URL once it is ready."""
    config = serve_settings()
    url = endpoint_url()
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home()), "MLFLOW_TRACKING_URI": tracking_uri,
           "LAKESIDE_SERVE_MODEL": model, "LAKESIDE_SERVE_ALIAS": alias}
    env.pop("LAKESIDE_SERVE_MODEL_TAG", None)
    folder = server_dir()
    process = processes.start_detached(
        [sys.executable, "-m", "bentoml", "serve", bento, "--host", config.host, "--port", str(config.port)],
        env=env, log=folder / "server.log", pid_file=folder / "server.pid",
    )
    wait_ready(url, wait_s, process, folder / "server.log")
    return url


def wait_ready(url: str, wait_s: float, process: subprocess.Popen | None = None, log_path: Path | None = None) -> None:
    processes.wait_until(lambda: processes.answers(f"{url}/readyz"), what="bentoml serve", timeout=wait_s,
                         log=log_path or server_dir() / "server.log", process=process)


def stop_local(wait_s: float = 30.0) -> None:
    """Stop the loopback server started by :func:`start_local`, if it runs."""
    processes.stop(server_dir() / "server.pid", wait_s)


def example_request(model: str, version: str, rows: int = 2) -> dict:
    """A request in the reference platform's format, from the model's logged input example."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{model}/{version}/input_example.json"))
    example = json.loads(local.read_text())
    return {"columns": example["columns"], "data": example["data"][:rows]}


def curl_line(url: str, body: dict) -> str:
    """The curl command that sends ``body`` to ``url/invocations`` (the key named, never printed)."""
    from lakeside.serving.guard import current_api_key

    auth = " -H \"Authorization: Bearer $LAKESIDE_SERVE_API_KEY\"" if current_api_key() else ""
    payload = json.dumps(body).replace("'", "'\\''")
    return f"curl -s -X POST {url}/invocations -H 'Content-Type: application/json'{auth} -d '{payload}'"


def post(url: str, body: dict, timeout: float = 60) -> object:
    """POST ``body`` to ``url/invocations``; the decoded answer."""
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **_auth_headers()})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


def _auth_headers() -> dict[str, str]:
    from lakeside.serving.guard import current_api_key

    key = current_api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.serving.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="registered model (default: LAKESIDE_SERVE_MODEL or the loans model)")
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--target", choices=TARGETS, default=None, help="default: LAKESIDE_DEPLOY_TARGET or local")
    parser.add_argument("--stop", action="store_true", help="stop the local server instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.stop:
        stop_local()
        print(f"stopped the server at {endpoint_url()} (if it ran)")
        return 0
    print(json.dumps(deploy(args.model, args.alias, args.target).to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
