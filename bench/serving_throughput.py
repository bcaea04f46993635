"""Serving throughput: one loans model served by Lakeside (compiled and pyfunc) and by `mlflow models serve`.

The model is a real search result: ``--train-rows`` generated loans written as ``silver.loans``
(embedded Delta), a snapshot, ``lakeside.automl.search`` over one family (``--family``, short
budget), registered as ``challenger`` and promoted to ``champion`` in an MLflow registry of
this run's own (SQLite in the work dir), and compiled as ``lakeside.retrain.register`` does
(``lakeside.retrain.compile_registered``: ONNX graph verified on the snapshot's whole holdout).
Then, side by side, five servers running at once:

- **Lakeside** (``lakeside``): the Bento that ``lakeside.serving.deploy.build_bento`` makes for it,
  started with ``bentoml serve`` by ``deploy.start_local`` (alias watch off); it predicts through
  the version's compiled form (onnxruntime) when the version has one (``GET /model`` says
  ``"runtime": "onnx"``);
- **Lakeside pyfunc** (``lakeside_pyfunc``): the same Bento started with
  ``LAKESIDE_SERVE_RUNTIME=pyfunc`` (its own ``LAKESIDE_HOME``), so the MLflow pyfunc predicts;
- **Lakeside pyfunc in a process** (``lakeside_process``, ``--no-process`` leaves it out): the
  pyfunc again, predicting in a model process (``LAKESIDE_SERVE_PREDICT_IN=process``) so the event
  loop keeps the interpreter lock while the model runs: the tail latency at concurrency, before
  (``lakeside_pyfunc``) and after;
- **Lakeside, access log off** (``lakeside_quiet``, ``--no-quiet`` leaves it out): the compiled
  server again with ``LAKESIDE_SERVE_ACCESS_LOG=false``: what the access line per request costs;
- **MLflow**: ``mlflow models serve -m models:/<name>@champion --env-manager local`` (started with
  this interpreter's ``bin`` first on ``PATH``: MLflow runs ``uvicorn`` from ``PATH``).

All run one worker process: BentoML's default for a service and ``mlflow models serve``'s
default ``--workers`` (one uvicorn process, predicting in a thread per request);
``--workers`` sets both. The load comes from ``hey`` in a separate process, with a bounded
request count, HTTP/1.1 and one keep-alive connection per concurrent client, in three scenarios
with the same bodies for both servers: one row at concurrency 1 and at ``--concurrency`` (32),
and ``--batch-rows`` (100) rows at concurrency 1. (ApacheBench is not used: it speaks
HTTP/1.0, whose connections uvicorn, under both servers, closes after each answer, so it would
measure a new TCP connection per request.) Each scenario runs ``--rounds`` times, the two
servers alternating; the table shows medians over the rounds. Before the load, answers are
checked against in-process ``pyfunc.predict`` on the same rows (one by one, the batch, and
distinct rows sent concurrently, so merged batches must split correctly); every load request
must be answered 200. A failed check exits 1.

Also measured in this process: ``pyfunc.predict`` on the same ``--batch-rows`` rows (rows/s),
and the share of it each server reaches. ``OMP_NUM_THREADS`` is 1 for both servers and this
process (``--omp-threads``): on 2 shared cores, OpenMP's spinning worker threads made one
``HistGradientBoosting`` prediction of one row cost ~0.4 s of CPU. With 2 CPUs the load
generator competes with the server for the CPU; its CPU per request is shown. CPU seconds per
request of each server (all its processes) are the steadier measure on a busy machine.
Results: a table on stdout and ``bench/results/serving_throughput.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import _report as report
from _report import log

NAME = "serving_throughput"
MODEL = "loans_int_rate"
TARGET = "int_rate"
LEAKAGE = ("loan_status", "total_pymnt")
SERVERS = ("mlflow", "lakeside_pyfunc", "lakeside_process", "lakeside", "lakeside_quiet")
SERVER_ENV = {
    "lakeside": {},
    "lakeside_quiet": {"LAKESIDE_SERVE_ACCESS_LOG": "false"},
    "lakeside_pyfunc": {"LAKESIDE_SERVE_RUNTIME": "pyfunc"},
    "lakeside_process": {"LAKESIDE_SERVE_RUNTIME": "pyfunc", "LAKESIDE_SERVE_PREDICT_IN": "process"},
}
"""Each Lakeside server's settings; every server but ``lakeside`` gets a home of its own too."""
TOLERANCE = 1e-9


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=5000, help="generated loans the model is searched on")
    parser.add_argument("--family", default="lightgbm",
                        help="the one model family searched (one that compiles: not hist_gradient_boosting)")
    parser.add_argument("--budget", type=float, default=30.0, help="search time budget in seconds")
    parser.add_argument("--trials", type=int, default=3, help="at most this many trials")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrency of the concurrent single-row load")
    parser.add_argument("--batch-rows", type=int, default=100, help="rows per request of the batch load")
    parser.add_argument("--single-requests", type=int, default=300, help="requests per round, one row, concurrency 1")
    parser.add_argument("--concurrent-requests", type=int, default=1600,
                        help="requests per round, one row, at --concurrency")
    parser.add_argument("--batch-requests", type=int, default=200, help="requests per round, --batch-rows rows")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests per server and scenario first")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario, servers alternating")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each server")
    parser.add_argument("--omp-threads", type=int, default=1,
                        help="OMP_NUM_THREADS for both servers and the in-process predict (0: leave unset); "
                             "see the module doc")
    parser.add_argument("--only", choices=("single_c1", "single_concurrent", "batch_c1"), action="append",
                        help="run only these scenarios (repeatable)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="registry, lake and stores go here (default: a temp dir); a model already "
                             "registered there is reused")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--process", action=argparse.BooleanOptionalAction, default=True,
                        help="also the pyfunc predicting in a model process (LAKESIDE_SERVE_PREDICT_IN=process) "
                             "beside the one predicting in a thread (issue #19's tail latency, before and after)")
    parser.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=True,
                        help="also the compiled server with the access log off (LAKESIDE_SERVE_ACCESS_LOG=false)")
    parser.add_argument("--traffic", action=argparse.BooleanOptionalAction, default=True,
                        help="also the traffic split (90/10) and shadow (10%%) servers at --concurrency "
                             "(bench/_traffic_scenarios.py)")
    return parser.parse_args(argv)


@dataclass
class Load:
    """One load run against one server."""

    server: str
    scenario: str
    round: int
    requests: int
    concurrency: int
    rows_per_request: int
    answered: int = 0
    non_200: int = 0
    seconds: float = 0.0
    run_seconds: float = 0.0
    requests_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    load_before: tuple | None = None
    batching: dict | None = None
    """Lakeside only: model calls during the run, requests and rows per call."""


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    requests: int
    concurrency: int
    body: Path
    rows: int


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    hey = shutil.which("hey")
    if hey is None:
        print("hey (the HTTP load generator) is missing: install it with `apt-get install hey` "
              "(Debian/Ubuntu; a single Go binary elsewhere) and run again.", file=sys.stderr)
        return 2
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-")) if own_workdir else args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    ports = free_ports(5)
    # Before lakeside.serving reads its settings and BentoML its home.
    os.environ.update({
        "LAKESIDE_HOME": str(workdir / "home"), "BENTOML_HOME": str(workdir / "bentoml"),
        "MLFLOW_TRACKING_URI": tracking_uri, "LAKESIDE_SERVE_MODEL": MODEL, "LAKESIDE_SERVE_ALIAS": "champion",
        "LAKESIDE_SERVE_WATCH_S": "0", "LAKESIDE_SERVE_HOST": "127.0.0.1", "LAKESIDE_SERVE_PORT": str(ports[0]),
        "BENTOML_DO_NOT_TRACK": "True", "MLFLOW_MODELS_WORKERS": str(args.workers),
    })
    if args.omp_threads:
        os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)
    os.environ.pop("LAKESIDE_SERVE_API_KEY", None)
    os.environ.pop("LAKESIDE_SERVE_API_KEY_FILE", None)
    log(f"{NAME}: workdir {workdir}, registry {tracking_uri}")
    servers: dict[str, Server] = {}
    try:
        model = register_model(args, workdir, tracking_uri)
        rows = payload_rows(args, model)
        inproc = in_process(args, model, rows)
        bodies = write_bodies(workdir, model["columns"], rows, args.batch_rows)
        servers["mlflow"] = start_mlflow(workdir, ports[1], tracking_uri, args.workers)
        servers["lakeside"] = start_lakeside(workdir, model, tracking_uri, args.workers)
        servers["lakeside_pyfunc"] = start_lakeside(workdir, model, tracking_uri, args.workers,
                                                    name="lakeside_pyfunc", port=ports[2])
        if args.process:
            servers["lakeside_process"] = start_lakeside(workdir, model, tracking_uri, args.workers,
                                                         name="lakeside_process", port=ports[3])
        if args.quiet:
            servers["lakeside_quiet"] = start_lakeside(workdir, model, tracking_uri, args.workers,
                                                       name="lakeside_quiet", port=ports[4])
        checks = correctness(servers, model["columns"], rows, inproc, args)
        scenarios = [
            Scenario("single_c1", "1 row, concurrency 1", args.single_requests, 1, bodies["single"], 1),
            Scenario("single_concurrent", f"1 row, concurrency {args.concurrency}", args.concurrent_requests,
                     args.concurrency, bodies["single"], 1),
            Scenario("batch_c1", f"{args.batch_rows} rows, concurrency 1", args.batch_requests, 1, bodies["batch"],
                     args.batch_rows),
        ]
        scenarios = [s for s in scenarios if not args.only or s.name in args.only]
        loads = run_loads(hey, servers, scenarios, args)
        checks += load_checks(loads)
        summary = summarise(scenarios, loads, inproc)
        if args.traffic:
            import _traffic_scenarios

            summary["traffic"] = _traffic_scenarios.run(args, hey, servers["lakeside"], bodies["single"], workdir,
                                                        tracking_uri)
            checks.append(("traffic: every split/shadow request answered 200",
                           all(r["non_200"] == 0 for r in summary["traffic"]["summary"].values()), ""))
        print_and_save(args, model, inproc, scenarios, summary, loads, checks, servers)
        return 0 if all(ok for _, ok, _ in checks) else 1
    finally:
        for server in servers.values():
            server.stop()
        if args.keep or not own_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --- the model -------------------------------------------------------------------------------

def register_model(args: argparse.Namespace, workdir: Path, tracking_uri: str) -> dict:
    """Search, register and promote the loans model, unless the work dir's registry has one."""
    import mlflow
    from lakeside.registry import champion_version, promote, register_challenger
    from lakeside.retrain import compile_registered
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    version = champion_version(MODEL)
    if version is None:
        from lakeside import snapshot
        from lakeside.automl import search
        from lakeside.datasets import loans
        from lakeside.tables import Lake

        experiment = f"bench-{NAME}"
        if mlflow.get_experiment_by_name(experiment) is None:
            MlflowClient().create_experiment(experiment, artifact_location=str(workdir / "artifacts"))
        table = Lake(workdir / "lake", backend="embedded").table("silver.loans")
        table.overwrite(loans.generate(args.train_rows, seed=args.seed, first_id=1).assign(_ingest_date="2024-01-01"))
        pinned = snapshot.take(table, ["id"])
        with report.timed(f"search: {args.family}, {args.train_rows:,} rows, budget {args.budget:.0f}s"):
            found = search(pinned, TARGET, time_budget_s=args.budget, families=[args.family], experiment=experiment,
                           exclude=LEAKAGE, ordinals={"grade": tuple("ABCDEFG")}, seed=args.seed,
                           max_trials_per_family=args.trials, cv_folds=3)
        def compile_it(name: str, version: str) -> None:
            with report.timed("compile and verify on the whole holdout (lakeside.retrain.compile_registered)"):
                compile_registered(name, version, pinned.to_dict(), TARGET)

        with report.timed("register (with the compiled form, then the replay of its logged request)"):
            version = register_challenger(found.best_model_uri, MODEL, tags={"family": found.best_family},
                                          service_kind="tabular", prepare=compile_it)
        promote(MODEL, version)
        log(f"registered {MODEL} version {version} ({found.best_family}, holdout {found.best_holdout})")
    else:
        log(f"reusing {MODEL} version {version} from {tracking_uri}")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    schema = pyfunc.metadata.get_input_schema()
    tags = MlflowClient().get_model_version(MODEL, version).tags
    log(f"compiled form: {tags.get('lakeside.compiled')} ({tags.get('lakeside.compiled_reason')})")
    return {
        "name": MODEL, "version": str(version), "family": tags.get("family"), "pyfunc": pyfunc,
        "columns": schema.input_names(),
        "datetime_columns": [c.name for c in schema.inputs if c.type.name == "datetime"],
        "double_columns": [c.name for c in schema.inputs if c.type.name in ("double", "float")],
        "pipeline": _pipeline_steps(pyfunc),
        "compiled": {"runtime": tags.get("lakeside.compiled"), "reason": tags.get("lakeside.compiled_reason"),
                     "max_abs_diff": tags.get("lakeside.compiled_max_abs_diff")},
    }


def _pipeline_steps(pyfunc) -> list[str]:
    try:
        return [f"{name}: {type(step).__name__}" for name, step in pyfunc.get_raw_model().steps]
    except (AttributeError, TypeError):
        return [type(pyfunc.get_raw_model()).__name__]


def payload_rows(args: argparse.Namespace, model: dict) -> list[list]:
    """Fresh loans (not trained on) as JSON-ready rows in the signature's column order: dates as
    ISO strings, ``double`` columns as floats (MLflow refuses an int64 column for a double)."""
    from lakeside.datasets import loans

    frame = loans.generate(max(args.batch_rows, 4 * args.concurrency, 64), seed=args.seed + 1000,
                           first_id=10_000_000)[model["columns"]]
    for name in model["datetime_columns"]:
        frame[name] = frame[name].map(lambda d: d.isoformat())
    for name in model["double_columns"]:
        frame[name] = frame[name].astype("float64")
    return [[_json_value(v) for v in row] for row in frame.itertuples(index=False)]


def _json_value(value):
    return value.item() if hasattr(value, "item") else value


def frame_of(rows: list[list], columns: list[str], datetime_columns: list[str]):
    """The rows as the DataFrame both servers build from a ``dataframe_split`` body."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for name in datetime_columns:
        frame[name] = pd.to_datetime(frame[name])
    return frame


def in_process(args: argparse.Namespace, model: dict, rows: list[list]) -> dict:
    """Expected predictions, and ``pyfunc.predict`` throughput at the batch size and at one row."""
    pyfunc, columns, dates = model["pyfunc"], model["columns"], model["datetime_columns"]
    expected = [float(v) for v in pyfunc.predict(frame_of(rows, columns, dates))]
    batch = frame_of(rows[:args.batch_rows], columns, dates)
    single = frame_of(rows[:1], columns, dates)
    out = {"expected": expected}
    predictors = {"batch": pyfunc.predict, "single": pyfunc.predict}
    compiled = _compiled(model)
    if compiled is not None:
        predictors.update({"compiled_batch": compiled.predict, "compiled_single": compiled.predict})
    frames = {"batch": batch, "single": single, "compiled_batch": batch, "compiled_single": single}
    for label, predict in predictors.items():
        frame = frames[label]
        for _ in range(5):
            predict(frame)
        calls, start = 0, time.perf_counter()
        cpu_start = report.cpu_seconds()
        while calls < 30 or time.perf_counter() - start < 3.0:
            predict(frame)
            calls += 1
        seconds = time.perf_counter() - start
        out[label] = {"rows": len(frame), "calls": calls, "seconds": round(seconds, 3),
                      "ms_per_call": round(1000 * seconds / calls, 3), "rows_per_s": round(len(frame) * calls / seconds, 1),
                      "cpu_ms_per_call": round(1000 * (report.cpu_seconds() - cpu_start) / calls, 3)}
        log(f"in-process {'compiled' if label.startswith('compiled') else 'pyfunc'} predict, {len(frame)} rows: "
            f"{out[label]['ms_per_call']} ms per call, {out[label]['rows_per_s']:,.0f} rows/s")
    return out


def _compiled(model: dict):
    """The version's compiled form in this process (None when it has none)."""
    from lakeside.serving.compiled import CompiledModel, download_onnx

    onnx_bytes = download_onnx(MODEL, model["version"])
    return None if onnx_bytes is None else CompiledModel(model["pyfunc"].get_raw_model(), onnx_bytes)


def write_bodies(workdir: Path, columns: list[str], rows: list[list], batch_rows: int) -> dict[str, Path]:
    """The bodies the load generator sends: ``dataframe_split``, which both servers take."""
    bodies = {}
    for name, chosen in (("single", rows[:1]), ("batch", rows[:batch_rows])):
        path = workdir / f"body-{name}.json"
        path.write_text(json.dumps(split_body(columns, chosen)))
        bodies[name] = path
    return bodies


def split_body(columns: list[str], rows: list[list]) -> dict:
    return {"dataframe_split": {"columns": columns, "data": rows}}


# --- the servers -----------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    url: str
    pid: int
    log_path: Path
    command: str
    stop_fn: object = None

    def stop(self) -> None:
        if self.stop_fn is not None:
            self.stop_fn()
            self.stop_fn = None

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's process and all its descendants alive now (BentoML's
        circus arbiter and workers run in sessions of their own, so not by process group)."""
        return sum(report.cpu_seconds(pid) or 0.0 for pid in descendants(self.pid))


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_mlflow(workdir: Path, port: int, tracking_uri: str, workers: int) -> Server:
    log_path = workdir / "mlflow-serve.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion",
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    with log_path.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
                                        "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                                 os.environ.get("PATH", "")])})
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        _stop_group(process)

    server = Server("mlflow", url, process.pid, log_path, " ".join(command[1:]), stop)
    with report.timed("start mlflow models serve"):
        try:
            _wait(f"{url}/ping", 300, process, log_path)
        except BaseException:
            stop()
            raise
    return server


def start_lakeside(workdir: Path, model: dict, tracking_uri: str, workers: int, name: str = "lakeside",
                   port: int | None = None) -> Server:
    """Build the model's Bento and start ``bentoml serve`` on it (``deploy.start_local``);
    the others run with their ``SERVER_ENV`` and a ``LAKESIDE_HOME`` and
    ``BENTOML_HOME`` of its own (its server record; its Prometheus files, which BentoML keeps in its
    home and clears at start, so sharing one would mix the two servers' batching counters)."""
    from lakeside.serving import deploy
    from lakeside.serving.models import resolve

    ref = resolve(MODEL, "champion", tracking_uri)
    if workers != 1:
        os.environ["BENTOML_CONFIG_OPTIONS"] = f"services.lakeside.workers={workers}"
    own = {} if name == "lakeside" else {"LAKESIDE_HOME": str(workdir / f"home-{name}"),
                                         "BENTOML_HOME": str(workdir / f"bentoml-{name}"), **SERVER_ENV[name]}
    with _environment(own):
        with report.timed(f"import into the BentoML store and build the Bento ({name})"):
            bento = deploy.build_bento(ref, "tabular", tracking_uri)
        log_path = deploy.server_dir(MODEL) / "server.log"
        with report.timed(f"start bentoml serve {bento} ({name})"):
            try:
                url = deploy.start_local(bento, MODEL, "champion", tracking_uri, port=port)
            except BaseException:
                deploy.stop_local(MODEL)
                raise
        pid = int((deploy.server_dir(MODEL) / "server.pid").read_text().split()[0])  # "pid start-time"

    def stop() -> None:
        started = descendants(pid)
        # This process is the server's parent: reap it as it exits, or stop_local would see its
        # zombie as still running and wait out its whole timeout.
        threading.Thread(target=_reap, args=(pid,), daemon=True).start()
        with _environment(own):
            deploy.stop_local(MODEL)
        for leftover in started:  # all started by this run; none should outlive stop_local
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGTERM)

    settings = " ".join(f"{k}={v}" for k, v in SERVER_ENV[name].items())
    return Server(name, url, pid, log_path, f"bentoml serve {bento}" + (f" ({settings})" if settings else ""), stop)


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``values`` in this process's environment for the block (the bench's own process)."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _wait(url: str, wait_s: float, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log_path}")
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {wait_s:.0f}s; see {log_path}")


def _stop_group(process: subprocess.Popen, wait_s: float = 30.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if the server is not gone in ``wait_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(wait_s)


def batching_counters(server: Server) -> dict[str, float] | None:
    """Lakeside's batching histograms from ``/metrics``: model calls, and requests and rows
    they took; None for a server without them (MLflow calls the model once per request)."""
    if not server.name.startswith("lakeside"):
        return None
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    counters = {}
    for key, metric in (("calls", "lakeside_batch_requests_count"), ("requests", "lakeside_batch_requests_sum"),
                        ("rows", "lakeside_batch_rows_sum")):
        found = re.search(rf"^{metric}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
        counters[key] = float(found.group(1)) if found else 0.0
    return counters


def batching_between(before: dict | None, after: dict | None) -> dict | None:
    if before is None or after is None or after["calls"] <= before["calls"]:
        return None
    calls = after["calls"] - before["calls"]
    return {"model_calls": int(calls), "requests_per_call": round((after["requests"] - before["requests"]) / calls, 2),
            "rows_per_call": round((after["rows"] - before["rows"]) / calls, 2)}


# --- correctness -----------------------------------------------------------------------------

def post(url: str, body: dict, timeout: float = 60) -> tuple[int, object]:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:300]


def predictions_of(answer: object) -> list[float] | None:
    values = answer.get("predictions") if isinstance(answer, dict) else None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def _close(got: list[float] | None, want: list[float]) -> bool:
    return got is not None and len(got) == len(want) and all(
        abs(g - w) <= TOLERANCE * max(1.0, abs(w)) for g, w in zip(got, want))


def correctness(servers: dict[str, Server], columns: list[str], rows: list[list], inproc: dict,
                args) -> list[tuple[str, bool, str]]:
    """Each server's answers equal in-process ``pyfunc.predict`` on the same rows."""
    expected = inproc["expected"]
    checks = []
    for name, server in servers.items():
        singles = [post(server.url, split_body(columns, [row])) for row in rows[:16]]
        bad = [i for i, (status, answer) in enumerate(singles)
               if status != 200 or not _close(predictions_of(answer), expected[i:i + 1])]
        checks.append((f"{name}: 16 single rows, one by one, = pyfunc.predict", not bad,
                       f"wrong rows {bad}: {singles[bad[0]]}" if bad else "16/16"))
        status, answer = post(server.url, split_body(columns, rows[:args.batch_rows]))
        ok = status == 200 and _close(predictions_of(answer), expected[:args.batch_rows])
        checks.append((f"{name}: one {args.batch_rows}-row request = pyfunc.predict", ok,
                       f"HTTP {status}" + ("" if ok else f": {str(answer)[:200]}")))
        count = min(len(rows), 4 * args.concurrency)
        bodies = [split_body(columns, [row]) for row in rows[:count]]
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            answers = list(pool.map(post, [server.url] * count, bodies))
        bad = [i for i, (status, answer) in enumerate(answers)
               if status != 200 or not _close(predictions_of(answer), expected[i:i + 1])]
        checks.append((f"{name}: {count} distinct rows, {args.concurrency} at once, each = pyfunc.predict", not bad,
                       f"wrong rows {bad[:5]}" if bad else f"{count}/{count}"))
    for name, want in (("lakeside", "onnx"), ("lakeside_pyfunc", "pyfunc"), ("lakeside_process", "pyfunc"),
                       ("lakeside_quiet", "onnx")):
        if name in servers:
            with urllib.request.urlopen(f"{servers[name].url}/model", timeout=30) as answer:
                runtime = json.load(answer).get("runtime")
            checks.append((f"{name}: GET /model says runtime {want}", runtime == want, f"runtime {runtime}"))
    for check in checks:
        log(f"check {'ok' if check[1] else 'FAILED'}: {check[0]} ({check[2]})")
    return checks


# --- load ------------------------------------------------------------------------------------

def run_loads(hey: str, servers: dict[str, Server], scenarios: list[Scenario], args) -> list[Load]:
    loads = []
    for scenario in scenarios:
        names = [name for name in SERVERS if name in servers]
        for name in names:
            hey_run(hey, servers[name], scenario, min(args.warmup, scenario.requests), -1)
        for round_ in range(args.rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                load = hey_run(hey, servers[name], scenario, scenario.requests, round_)
                loads.append(load)
                log(f"{scenario.name} round {round_} {name}: {load.requests_per_s:,.1f} req/s, p50 "
                    f"{load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, {load.answered}/{load.requests} answered, "
                    f"non-200 {load.non_200}, server CPU {load.server_cpu_s:.1f}s, client CPU {load.client_cpu_s:.1f}s, "
                    f"load average {load.load_before}")
    return loads


def hey_run(hey: str, server: Server, scenario: Scenario, requests: int, round_: int) -> Load:
    """``hey`` with a bounded request count (HTTP/1.1, one keep-alive connection per concurrent
    client); every request's latency and status from its CSV output."""
    concurrency = scenario.concurrency
    requests = max(concurrency, requests // concurrency * concurrency)  # hey sends n // c per client
    command = [hey, "-n", str(requests), "-c", str(concurrency), "-t", "120", "-m", "POST",
               "-T", "application/json", "-D", str(scenario.body), "-o", "csv", f"{server.url}/invocations"]
    load = Load(server.name, scenario.name, round_, requests, concurrency, scenario.rows,
                load_before=report.load_average())
    counters = batching_counters(server)
    cpu_before, children_before = server.cpu_seconds(), _reaped_children_cpu()
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    load.seconds = time.perf_counter() - start
    load.server_cpu_s = server.cpu_seconds() - cpu_before
    load.client_cpu_s = _reaped_children_cpu() - children_before
    load.batching = batching_between(counters, batching_counters(server))
    if process.returncode != 0:
        raise RuntimeError(f"hey failed ({process.returncode}): {process.stderr[-500:]}")
    answers = list(csv.DictReader(io.StringIO(process.stdout)))
    if not answers:
        raise RuntimeError(f"hey wrote no answers: {process.stdout[-500:]} {process.stderr[-500:]}")
    latencies = sorted(float(a["response-time"]) * 1000 for a in answers)
    load.answered = len(answers)
    load.non_200 = sum(a["status-code"] != "200" for a in answers)
    load.run_seconds = max(float(a["offset"]) + float(a["response-time"]) for a in answers)
    load.requests_per_s = load.answered / load.run_seconds
    load.p50_ms, load.p99_ms = percentile(latencies, 50), percentile(latencies, 99)
    load.mean_ms = statistics.fmean(latencies)
    return load


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _reaped_children_cpu() -> float:
    """CPU seconds of this process's finished, reaped children (here: the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_checks(loads: list[Load]) -> list[tuple[str, bool, str]]:
    bad = [f"{l.scenario}/{l.server}/round {l.round}: {l.answered}/{l.requests} answered, {l.non_200} not 200"
           for l in loads if l.answered != l.requests or l.non_200]
    return [("every load request answered 200", not bad,
             "; ".join(bad) if bad else f"{sum(l.answered for l in loads):,} requests in {len(loads)} runs")]


# --- summary ---------------------------------------------------------------------------------

def summarise(scenarios: list[Scenario], loads: list[Load], inproc: dict) -> dict:
    """Per scenario and server: the median round (by requests/s) and medians of each metric."""
    out = {}
    batch_rows_per_s = inproc["batch"]["rows_per_s"]
    for scenario in scenarios:
        per_server = {}
        for name in SERVERS:
            runs = [l for l in loads if l.scenario == scenario.name and l.server == name]
            if not runs:
                continue
            rps = statistics.median(l.requests_per_s for l in runs)
            per_server[name] = {
                "requests_per_s": round(rps, 1),
                "rows_per_s": round(rps * scenario.rows, 1),
                "p50_ms": round(statistics.median(l.p50_ms for l in runs), 3),
                "p99_ms": round(statistics.median(l.p99_ms for l in runs), 3),
                "server_cpu_ms_per_request": round(statistics.median(
                    1000 * l.server_cpu_s / l.answered for l in runs), 3),
                "client_cpu_ms_per_request": round(statistics.median(
                    1000 * l.client_cpu_s / l.answered for l in runs), 3),
                "share_of_in_process_batch_rows_per_s": round(rps * scenario.rows / batch_rows_per_s, 3),
                "requests_per_model_call": (round(statistics.median(l.batching["requests_per_call"] for l in runs), 2)
                                            if all(l.batching for l in runs) else None),
                "rounds": len(runs),
            }
        for key, (top, bottom) in (("ratios", ("lakeside", "mlflow")),
                                   ("compiled_ratios", ("lakeside", "lakeside_pyfunc")),
                                   ("process_ratios", ("lakeside_process", "lakeside_pyfunc")),
                                   ("quiet_ratios", ("lakeside_quiet", "lakeside")),
                                   ("quiet_mlflow_ratios", ("lakeside_quiet", "mlflow"))):
            if top in per_server and bottom in per_server:
                a, b = per_server[top], per_server[bottom]
                per_server[key] = {
                    "requests_per_s": round(a["requests_per_s"] / b["requests_per_s"], 3),
                    "p50": round(a["p50_ms"] / b["p50_ms"], 3),
                    "p99": round(a["p99_ms"] / b["p99_ms"], 3),
                    "server_cpu_per_request": round(a["server_cpu_ms_per_request"] / b["server_cpu_ms_per_request"], 3),
                }
        out[scenario.name] = per_server
    return out


def targets(summary: dict) -> list[tuple[str, bool | None, str]]:
    """The issues' targets (#4, then #19's for the compiled server), each met (True), missed
    (False) or not measured (None)."""
    def ratio(scenario: str, key: str) -> float | None:
        return summary.get(scenario, {}).get("ratios", {}).get(key)

    out = []
    p50 = summary.get("single_c1", {}).get("lakeside", {}).get("p50_ms")
    out.append(("#19 1 row, concurrency 1: Lakeside (compiled) p50 <= 10 ms", None if p50 is None else p50 <= 10,
                "-" if p50 is None else f"{p50:.1f} ms"))
    for scenario, key, label, test in (
        ("single_concurrent", "requests_per_s", "#19 1 row, concurrent: Lakeside req/s >= 15x MLflow's",
         lambda r: r >= 15),
        ("single_concurrent", "p99", "#19 1 row, concurrent: Lakeside p99 <= 0.25x MLflow's", lambda r: r <= 0.25),
    ):
        value = ratio(scenario, key)
        out.append((label, None if value is None else test(value), "-" if value is None else f"{value:.2f}x"))
    for scenario, key, label, test in (
        ("single_concurrent", "requests_per_s", "1 row, concurrent: Lakeside req/s >= 5x MLflow's", lambda r: r >= 5),
        ("single_concurrent", "p99", "1 row, concurrent: Lakeside p99 <= 0.5x MLflow's", lambda r: r <= 0.5),
        ("single_c1", "p50", "1 row, concurrency 1: Lakeside p50 within 10% of MLflow's (<= 1.10x)",
         lambda r: r <= 1.10),
        ("batch_c1", "requests_per_s", "batch, concurrency 1: Lakeside req/s >= MLflow's (>= 1.0x)",
         lambda r: r >= 1.0),
    ):
        value = ratio(scenario, key)
        out.append((label, None if value is None else test(value), "-" if value is None else f"{value:.2f}x"))
    return out


def print_and_save(args, model, inproc, scenarios, summary, loads, checks, servers) -> None:
    rows = []
    for scenario in scenarios:
        result = summary[scenario.name]
        for name in SERVERS:
            if name not in result:
                continue
            r = result[name]
            rows.append([scenario.label, name, r["requests_per_s"], r["rows_per_s"], r["p50_ms"], r["p99_ms"],
                         r["server_cpu_ms_per_request"], r["client_cpu_ms_per_request"],
                         r["share_of_in_process_batch_rows_per_s"], r["requests_per_model_call"]])
        for key, label in (("ratios", "Lakeside / MLflow"), ("compiled_ratios", "compiled / pyfunc"),
                           ("process_ratios", "pyfunc: process / thread"),
                           ("quiet_ratios", "compiled: access log off / on"),
                           ("quiet_mlflow_ratios", "access log off / MLflow")):
            if key in result:
                q = result[key]
                rows.append([scenario.label, label, q["requests_per_s"], None, q["p50"], q["p99"],
                             q["server_cpu_per_request"], None, None, None])
    print(flush=True)
    report.table(["scenario", "server", "req/s", "rows/s", "p50 ms", "p99 ms", "server CPU ms/req",
                  "client CPU ms/req", "share of in-process", "requests/model call"], rows,
                 title=(f"{NAME}: {model['name']} v{model['version']} ({model['family']}; compiled: "
                        f"{model['compiled']['runtime']}, max abs diff {model['compiled']['max_abs_diff']}), "
                        f"{args.workers} worker process each, median of {args.rounds} rounds; lakeside = compiled "
                        f"(onnxruntime), lakeside_pyfunc = LAKESIDE_SERVE_RUNTIME=pyfunc, lakeside_process = "
                        f"the pyfunc with LAKESIDE_SERVE_PREDICT_IN=process, lakeside_quiet = compiled with "
                        f"LAKESIDE_SERVE_ACCESS_LOG=false"))
    print(flush=True)
    report.table(["in-process predict", "ms per call", "rows/s"],
                 [[f"{'compiled' if k.startswith('compiled') else 'pyfunc'}, {inproc[k]['rows']} rows",
                   inproc[k]["ms_per_call"], inproc[k]["rows_per_s"]]
                  for k in ("single", "batch", "compiled_single", "compiled_batch") if k in inproc])
    print(flush=True)
    met = targets(summary)
    report.table(["target", "met", "measured"], [list(t) for t in met])
    busy = [f"{l.scenario}/{l.server}/{l.round}" for l in loads
            if l.load_before and l.load_before[0] > (os.cpu_count() or 1)]
    if busy:
        print(f"WARNING: the machine was busy (1-minute load average above {os.cpu_count()} CPUs) before "
              f"{len(busy)} of {len(loads)} load runs: rates are low and noisy; server CPU ms/request is "
              "the steadier measure.", flush=True)
    print(f"share of in-process = server rows/s / in-process pyfunc.predict rows/s at {args.batch_rows} rows "
          f"({inproc['batch']['rows_per_s']:,.0f}).", flush=True)
    print(flush=True)
    report.table(["check", "ok", "detail"], [list(c) for c in checks])
    print(flush=True)
    report.write_json(NAME, {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "model": {k: v for k, v in model.items() if k != "pyfunc"},
        "servers": {name: {"url": s.url, "command": s.command} for name, s in servers.items()},
        "packages": _versions("bentoml", "mlflow", "scikit-learn", "uvicorn", "fastapi", "starlette", "onnxruntime",
                              "skl2onnx", "onnx"),
        "load_generator": _hey_version(),
        "in_process": {k: v for k, v in inproc.items() if k != "expected"},
        "summary": summary,
        "targets": [{"target": t, "met": ok, "measured": m} for t, ok, m in met],
        "loads": [asdict(l) for l in loads],
        "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks],
    })


def _hey_version() -> str:
    try:
        found = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "hey"], check=False,
                               capture_output=True, text=True)
        return f"hey {found.stdout.strip() or '?'}"
    except OSError:
        return "hey"


def _versions(*packages: str) -> dict[str, str | None]:
    from importlib import metadata

    out = {}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
