"""Inference logging's cost: one loans model served twice by Lakeside, with the inference table
on and off, side by side.

    .venv/bin/python bench/inference_logging.py                 # 3 rounds (a few minutes)
    .venv/bin/python bench/inference_logging.py --rounds 1 --concurrent-requests 800

The model, the Bento and the bodies come from ``bench/serving_throughput.py`` (one family, a
short search on generated loans, a registry of this run's own). Two ``bentoml serve`` processes
of the same Bento run at once on two ports, one with ``LAKESIDE_SERVE_INFERENCE_LOG=false``.
``hey`` sends one row at concurrency 1 and at ``--concurrency`` (32), ``--rounds`` rounds, the
two servers alternating; the table shows medians. Then the logging server is stopped (SIGTERM
drains its queue) and its table is read back: rows landed must equal requests sent (checked).

Targets (issue #18): at concurrency 32, at most 10% fewer requests/s with logging; at
concurrency 1, p50 at most 2 ms more. Results: a table on stdout and
``bench/results/inference_logging.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import _report as report
import serving_throughput as st
from _report import log

NAME = "inference_logging"
VARIANTS = ("logging_off", "logging_on")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--family", default="hist_gradient_boosting")
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--single-requests", type=int, default=300)
    parser.add_argument("--concurrent-requests", type=int, default=1600)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def start(variant: str, bento: str, port: int, workdir: Path, tracking_uri: str) -> st.Server:
    from lakeside import processes
    from lakeside.serving import deploy

    folder = workdir / variant
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LAKESIDE_SERVE_INFERENCE_LOG": "true" if variant == "logging_on" else "false",
           "LAKESIDE_SERVE_MODEL": st.MODEL, "MLFLOW_TRACKING_URI": tracking_uri}
    process = processes.start_detached(
        [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)],
        env=env, log=folder / "server.log", pid_file=folder / "server.pid")
    url = f"http://127.0.0.1:{port}"
    deploy.wait_ready(url, 300, process, folder / "server.log")
    return st.Server(variant, url, process.pid, folder / "server.log", f"bentoml serve {bento}",
                     lambda: processes.stop(folder / "server.pid"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    hey = shutil.which("hey")
    if hey is None:
        print("hey is missing: apt-get install hey", file=sys.stderr)
        return 2
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-inference-log-"))).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    ports = st.free_ports(2)
    os.environ.update({"LAKESIDE_HOME": str(workdir / "home"), "BENTOML_HOME": str(workdir / "bentoml"),
                       "MLFLOW_TRACKING_URI": tracking_uri, "LAKESIDE_SERVE_ALIAS": "champion",
                       "LAKESIDE_SERVE_WATCH_S": "0", "BENTOML_DO_NOT_TRACK": "True", "OMP_NUM_THREADS": "1"})
    servers: dict[str, st.Server] = {}
    try:
        model = st.register_model(argparse.Namespace(**{**vars(args), "batch_rows": 1}), workdir, tracking_uri)
        rows = st.payload_rows(argparse.Namespace(**{**vars(args), "batch_rows": 1}), model)
        bodies = st.write_bodies(workdir, model["columns"], rows, 1)
        from lakeside.serving import deploy
        from lakeside.serving.models import resolve

        bento = deploy.build_bento(resolve(st.MODEL, "champion", tracking_uri), "tabular", tracking_uri)
        for variant, port in zip(VARIANTS, ports):
            servers[variant] = start(variant, bento, port, workdir, tracking_uri)
        scenarios = [st.Scenario("single_c1", "1 row, concurrency 1", args.single_requests, 1, bodies["single"], 1),
                     st.Scenario("single_concurrent", f"1 row, concurrency {args.concurrency}",
                                 args.concurrent_requests, args.concurrency, bodies["single"], 1)]
        loads = run(hey, servers, scenarios, args)
        sent = sum(load.answered for load in loads if load.server == "logging_on")
        servers.pop("logging_on").stop()
        landed = landed_rows(workdir)
        summary = summarise(scenarios, loads)
        checks = [("every answer 200", all(load.non_200 == 0 for load in loads), ""),
                  ("rows landed == requests sent to the logging server", landed == sent, f"{landed} vs {sent}")]
        print_and_save(args, summary, checks, loads)
        return 0 if all(ok for _, ok, _ in checks) else 1
    finally:
        for server in servers.values():
            server.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def run(hey: str, servers: dict[str, st.Server], scenarios: list[st.Scenario], args) -> list[st.Load]:
    loads = []
    for scenario in scenarios:
        for name in VARIANTS:  # warm-up: round -1, left out of the figures, counted as sent
            loads.append(st.hey_run(hey, servers[name], scenario, min(args.warmup, scenario.requests), -1))
        for round_ in range(args.rounds):
            for name in (VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]):
                load = st.hey_run(hey, servers[name], scenario, scenario.requests, round_)
                loads.append(load)
                log(f"{scenario.name} round {round_} {name}: {load.requests_per_s:,.1f} req/s, p50 {load.p50_ms:.1f} ms, "
                    f"p99 {load.p99_ms:.1f} ms, non-200 {load.non_200}, load average {load.load_before}")
    return loads


def landed_rows(workdir: Path) -> int:
    """Rows of the logging server's inference table (warm-up requests included)."""
    from deltalake import DeltaTable

    from lakeside.config import settings

    table = DeltaTable(str(settings().lake_root / "inference" / st.MODEL))
    return table.to_pyarrow_table(columns=["request_id"]).num_rows


def summarise(scenarios: list[st.Scenario], loads: list[st.Load]) -> dict:
    summary = {}
    for scenario in scenarios:
        per = {name: [load for load in loads if load.server == name and load.scenario == scenario.name
                      and load.round >= 0] for name in VARIANTS}
        summary[scenario.name] = {name: {"requests_per_s": statistics.median(l.requests_per_s for l in runs),
                                         "p50_ms": statistics.median(l.p50_ms for l in runs),
                                         "p99_ms": statistics.median(l.p99_ms for l in runs)}
                                  for name, runs in per.items()}
    return summary


def print_and_save(args, summary: dict, checks: list, loads: list[st.Load]) -> None:
    lines = [f"{'scenario':<20} {'variant':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"]
    for scenario, variants in summary.items():
        for name, figures in variants.items():
            lines.append(f"{scenario:<20} {name:<12} {figures['requests_per_s']:>9,.1f} {figures['p50_ms']:>8.2f} "
                         f"{figures['p99_ms']:>8.2f}")
    concurrent, single = summary.get("single_concurrent"), summary.get("single_c1")
    ratios = {}
    if concurrent:
        ratios["req/s with logging / without at concurrency (target >= 0.90)"] = round(
            concurrent["logging_on"]["requests_per_s"] / concurrent["logging_off"]["requests_per_s"], 3)
    if single:
        ratios["p50 with logging - without at concurrency 1, ms (target <= 2)"] = round(
            single["logging_on"]["p50_ms"] - single["logging_off"]["p50_ms"], 2)
    lines += ["", *(f"{name}: {value}" for name, value in ratios.items()), "",
              *(f"{'yes' if ok else 'NO '}  {name}  {detail}" for name, ok, detail in checks)]
    print("\n".join(lines))
    report.write_json(NAME, {"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "ratios": ratios,
                       "checks": checks, "loads": [vars(load) for load in loads]})


if __name__ == "__main__":
    sys.exit(main())
