"""Build a Bento for a registered model's alias and put it in service; several models at once.

    python -m lakeside.serving.deploy [--model M] [--alias champion] [--target local|bento]
    python -m lakeside.serving.deploy --list
    python -m lakeside.serving.deploy --stop [--model M]

``deploy`` picks the service class from the model's kind (registered-model tag
``lakeside.service_kind``, see :func:`lakeside.serving.models.service_kind`), then imports
the aliased version into the BentoML store and builds the Bento ``lakeside-<model>:v<version>``
in a child process (:mod:`.build`, with ``BENTOML_HOME`` from the settings in its environment).
With target ``bento`` (production) it stops there: ``bentoml containerize <tag>``.

With target ``local`` (the embedded default) every model gets its own ``bentoml serve`` on
loopback, on its own port: **one server per model**. Each server's record (``server.json``:
model, alias, port, URL, Bento; ``server.pid``; ``server.log``) is under
``$LAKESIDE_HOME/serving/<model>/``. The default model (``LAKESIDE_SERVE_MODEL``) gets
``LAKESIDE_SERVE_PORT`` (3000); when none is configured, the first model deployed gets it;
every other model the next free port above it. A model keeps its port while its server runs.
Deploying model X never stops model Y; redeploying X asks X's running server to switch
(``POST /model/reload``: no restart, no downtime); X's server is restarted (same port) only
when it does not answer or serves another alias or service kind. :func:`endpoints` lists the
running servers; ``--stop`` stops them all, ``--stop --model X`` only X's.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from lakeside import processes
from lakeside.config import DEPLOY_TARGETS, serving, settings
from lakeside.serving.models import ModelRef, store_name

log = logging.getLogger(__name__)

TARGETS = DEPLOY_TARGETS


@dataclass(frozen=True)
class Deployment:
    model: str
    version: str
    alias: str
    bento: str
    target: str
    endpoint: str | None = None
    action: str = "built"
    kind: str = "tabular"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LocalServer:
    """A loopback server's record under ``$LAKESIDE_HOME/serving/<model>/``."""

    model: str
    alias: str
    host: str
    port: int
    bento: str
    kind: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def deploy(model: str, alias: str = "champion", target: str | None = None) -> Deployment:
    """Build the Bento for ``model@alias`` and, for target ``local``, serve it on its own
    loopback port (other models' servers keep running)."""
    from lakeside import tracking
    from lakeside.serving.models import resolve, service_kind

    config = serving()
    target = target or config.deploy_target
    if target not in TARGETS:
        raise ValueError(f"deploy target must be one of {TARGETS}, got {target!r}")
    if not model:
        raise ValueError("no model to deploy: name one (--model) or set LAKESIDE_SERVE_MODEL")
    uri = tracking.tracking_uri() if target == "bento" else tracking.ensure_server()
    ref = resolve(model, alias, uri)
    kind = service_kind(model, ref.version, uri)
    bento = build_bento(ref, kind, uri)
    if target == "bento":
        log.info("built %s; containerize it with `bentoml containerize %s`", bento, bento)
        return Deployment(model, ref.version, alias, bento, target, kind=kind)
    endpoint, action = serve_locally(model, alias, bento, uri, kind)
    return Deployment(model, ref.version, alias, bento, target, endpoint, action, kind)


def build_bento(ref: ModelRef, kind: str, tracking_uri: str) -> str:
    """Import ``ref`` into the BentoML store and build its Bento, in a child process; its tag."""
    command = [sys.executable, "-m", "lakeside.serving.build", "--model", ref.name, "--version", ref.version,
               "--alias", ref.alias or "champion", "--kind", kind]
    if ref.run_id:
        command += ["--run-id", ref.run_id]
    env = {**os.environ, "BENTOML_HOME": str(serving().bentoml_home), "MLFLOW_TRACKING_URI": tracking_uri}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800,
                          cwd=str(Path(__file__).resolve().parents[2]))
    if done.returncode != 0:
        raise RuntimeError(f"building the Bento of {ref.uri} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["bento"]


def serve_locally(model: str, alias: str, bento: str, tracking_uri: str, kind: str = "tabular") -> tuple[str, str]:
    """Make ``model``'s loopback server serve ``model@alias``: switch it if it runs, else start it."""
    running = running_servers()
    record = running.get(model)
    if record is not None:
        current = served(record.url)
        if current and current.get("name") == model and current.get("alias") == alias and \
                current.get("service", kind) == kind:
            now = reload(record.url)
            action = f"switched to version {now['version']}" if now["version"] != current["version"] else "unchanged"
            return record.url, action
        log.info("restarting the server of %s on port %s", model, record.port)
        stop_local(model)
        port = record.port
    else:
        port = None
    return start_local(bento, model, alias, tracking_uri, port=port, kind=kind), "started"


def choose_port(model: str, taken: list[int]) -> int:
    """``LAKESIDE_SERVE_PORT`` for the default model (or for the first model when no default is
    configured), else the next free port above it."""
    config = serving()
    base = config.port
    owns_base = model == config.model or (config.model is None and not taken)
    if owns_base and base not in taken and _free(config.host, base):
        return base
    port = base + 1
    while port in taken or port == base or not _free(config.host, port):
        port += 1
    return port


def serving_root() -> Path:
    return settings().home / "serving"


def server_dir(model: str) -> Path:
    """Where ``model``'s loopback server keeps its record, pid and log."""
    path = serving_root() / store_name(model)
    path.mkdir(parents=True, exist_ok=True)
    return path


def running_servers() -> dict[str, LocalServer]:
    """The loopback servers started by :func:`start_local` that still run, by model."""
    found = {}
    for record_file in sorted(serving_root().glob("*/server.json")):
        if processes.running_pid(record_file.parent / "server.pid") is None:
            continue
        record = LocalServer(**json.loads(record_file.read_text()))
        found[record.model] = record
    return found


def endpoints() -> dict[str, str]:
    """Model name -> URL of each running loopback server."""
    return {model: record.url for model, record in running_servers().items()}


def start_local(bento: str, model: str, alias: str, tracking_uri: str, port: int | None = None,
                kind: str = "tabular", wait_s: float = 300.0) -> str:
    """Start ``bentoml serve <bento>`` for ``model`` on loopback in the background; its URL once ready."""
    config = serving()
    folder = server_dir(model)
    with ports_locked():
        port = port or choose_port(model, [r.port for name, r in running_servers().items() if name != model])
        record = LocalServer(model, alias, config.host, port, bento, kind)
        (folder / "server.json").write_text(json.dumps(asdict(record), indent=2))
        process = spawn(bento, model, alias, tracking_uri, record.host, record.port, folder)
    wait_ready(record.url, wait_s, process, folder / "server.log")
    return record.url


@contextmanager
def ports_locked():
    """Held while a port is chosen and its server started, so that deploys running at the same
    time (two DAG runs side by side) never pick the same port."""
    serving_root().mkdir(parents=True, exist_ok=True)
    with (serving_root() / ".ports.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def launch(bento: str, model: str, alias: str, tracking_uri: str, host: str, port: int, folder: Path,
           wait_s: float = 300.0, **settings: str) -> subprocess.Popen:
    """``bentoml serve <bento>`` in the background serving ``model@alias`` on ``host:port``, its
    ``server.log`` and ``server.pid`` in ``folder``; returns once it answers ``/readyz``.
    ``settings``: more ``LAKESIDE_SERVE_*`` values for this server alone."""
    process = spawn(bento, model, alias, tracking_uri, host, port, folder, **settings)
    wait_ready(f"http://{host}:{port}", wait_s, process, folder / "server.log")
    return process


def spawn(bento: str, model: str, alias: str, tracking_uri: str, host: str, port: int, folder: Path,
          **settings: str) -> subprocess.Popen:
    """Start ``bentoml serve`` as :func:`launch` does, without waiting for it."""
    env = {**os.environ, "BENTOML_HOME": str(serving().bentoml_home), "MLFLOW_TRACKING_URI": tracking_uri,
           "LAKESIDE_SERVE_MODEL": model, "LAKESIDE_SERVE_ALIAS": alias}
    env.pop("LAKESIDE_SERVE_MODEL_TAG", None)
    env.update(settings)
    return processes.start_detached(
        [sys.executable, "-m", "bentoml", "serve", bento, "--host", host, "--port", str(port)],
        env=env, log=folder / "server.log", pid_file=folder / "server.pid",
    )


def wait_ready(url: str, wait_s: float, process: subprocess.Popen | None = None, log_path: Path | None = None) -> None:
    processes.wait_until(lambda: processes.answers(f"{url}/readyz"), what="bentoml serve", timeout=wait_s,
                         log=log_path or serving_root(), process=process)


def stop_local(model: str | None = None, wait_s: float = 30.0) -> list[str]:
    """Stop ``model``'s loopback server, or every one when ``model`` is None; the models stopped."""
    folders = [serving_root() / store_name(model)] if model else sorted(p.parent for p in
                                                                       serving_root().glob("*/server.pid"))
    stopped = []
    for folder in folders:
        pid_file = folder / "server.pid"
        if processes.running_pid(pid_file) is not None:
            record = folder / "server.json"
            stopped.append(json.loads(record.read_text())["model"] if record.exists() else folder.name)
        processes.stop(pid_file, wait_s)
    return stopped


def served(url: str, timeout: float = 3.0) -> dict | None:
    """What the server at ``url`` serves (``GET /model``), or None when nothing answers."""
    request = urllib.request.Request(f"{url}/model", headers=auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def reload(url: str, timeout: float = 300.0) -> dict:
    """Ask the server at ``url`` to look its alias up now (``POST /model/reload``); what it serves then."""
    request = urllib.request.Request(f"{url}/model/reload", data=b"", method="POST", headers=auth_headers())
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


def example_request(model: str, version: str, rows: int = 2, tracking_uri: str | None = None) -> dict:
    """A request in the reference platform's format, from the model's logged input example."""
    from mlflow.artifacts import download_artifacts

    from lakeside import tracking

    local = Path(download_artifacts(f"models:/{model}/{version}/input_example.json",
                                    tracking_uri=tracking_uri or tracking.tracking_uri()))
    return request_from_example(json.loads(local.read_text()), rows)


def request_from_example(example, rows: int = 2):
    """The first ``rows`` of a logged input example as an /invocations body, in its own shape."""
    if isinstance(example, dict) and {"columns", "data"} <= example.keys():  # a DataFrame, split orient
        return {"columns": example["columns"], "data": example["data"][:rows]}
    if isinstance(example, dict) and "inputs" in example:  # tensors or records
        inputs = example["inputs"]
        return {"inputs": inputs[:rows] if isinstance(inputs, list) else inputs}
    if isinstance(example, list):  # rows saved as a bare list
        return {"inputs": example[:rows]}
    return example


def curl_line(url: str, body: dict) -> str:
    """The curl command that sends ``body`` to ``url/invocations`` (the key named, never printed)."""
    from lakeside.serving.guard import current_api_key

    auth = " -H \"Authorization: Bearer $LAKESIDE_SERVE_API_KEY\"" if current_api_key() else ""
    payload = json.dumps(body).replace("'", "'\\''")
    return f"curl -s -X POST {url}/invocations -H 'Content-Type: application/json'{auth} -d '{payload}'"


def post(url: str, body: dict, timeout: float = 60) -> object:
    """POST ``body`` to ``url/invocations``; the decoded answer."""
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **auth_headers()})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


def _free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def auth_headers() -> dict[str, str]:
    from lakeside.serving.guard import current_api_key

    key = current_api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.serving.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="registered model (default: LAKESIDE_SERVE_MODEL)")
    parser.add_argument("--alias", default=None, help="default: LAKESIDE_SERVE_ALIAS, else champion")
    parser.add_argument("--target", choices=TARGETS, default=None, help="default: LAKESIDE_DEPLOY_TARGET or local")
    parser.add_argument("--stop", action="store_true", help="stop the local servers (only --model's when given)")
    parser.add_argument("--list", action="store_true", help="print the running local servers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.list:
        print(json.dumps(endpoints(), indent=2))
        return 0
    if args.stop:
        stopped = stop_local(args.model)
        print(f"stopped the local servers of {stopped}" if stopped else "no local server was running")
        return 0
    model = args.model or serving().model
    if not model:
        parser.error("no model to deploy: pass --model NAME or set LAKESIDE_SERVE_MODEL")
    print(json.dumps(deploy(model, args.alias or serving().alias, args.target).to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
