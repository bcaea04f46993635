"""Traffic split and shadow scoring under load, beside the plain Lakeside server, in the same run
of ``serving_throughput.py`` (``--traffic``, on by default; ``--no-traffic`` skips it).

The champion's model is registered again as a new version with alias ``challenger`` (the same
pipeline, so both answer alike and the cost measured is the routing and shadowing, not a
different model). Two more ``bentoml serve`` processes start from the same Bento, each one
worker like the plain one: **split** (``LAKESIDE_SERVE_SPLIT=champion=90,challenger=10``) and
**shadow** (``LAKESIDE_SERVE_SHADOW_SHARE=0.1``, challenger shadowing). ``hey`` sends the single-row
body at ``--concurrency`` to the plain, split and shadow servers in turn, ``--rounds`` rounds with
the order rotating. Afterwards: the split's answers per version (from its inference table) and
the shadow's rows (its shadow table). Target: the shadow server's requests/s ≥ 0.90× the plain
server's.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
from pathlib import Path

import _report as report
import serving_throughput as st
from _report import log

VARIANTS = {
    "lakeside_split": {"LAKESIDE_SERVE_SPLIT": "champion=90,challenger=10"},
    "lakeside_shadow": {"LAKESIDE_SERVE_SHADOW_SHARE": "0.1"},
}


def run(args, hey: str, plain: st.Server, body: Path, workdir: Path, tracking_uri: str) -> dict:
    """Start the split and shadow servers, load the three, stop the two; the figures."""
    challenger = register_challenger(tracking_uri)
    bento = plain.command.split()[-1]
    servers = {"lakeside": plain}
    try:
        for variant, port in zip(VARIANTS, st.free_ports(len(VARIANTS))):
            servers[variant] = start(variant, bento, port, workdir, tracking_uri)
        scenario = st.Scenario("single_concurrent", f"1 row, concurrency {args.concurrency}",
                               args.concurrent_requests, args.concurrency, body, 1)
        loads = run_loads(hey, servers, scenario, args)
    finally:
        for variant in VARIANTS:
            if variant in servers:
                servers.pop(variant).stop()
    landed = landed_rows(workdir / "traffic")
    summary = summarise(loads)
    shadow_ratio = summary["lakeside_shadow"]["requests_per_s"] / summary["lakeside"]["requests_per_s"]
    split_ratio = summary["lakeside_split"]["requests_per_s"] / summary["lakeside"]["requests_per_s"]
    result = {"challenger_version": challenger, "summary": summary, "landed": landed,
              "ratios": {"split_requests_per_s": round(split_ratio, 3), "shadow_requests_per_s": round(shadow_ratio, 3)},
              "target": {"target": "shadow at 10% costs <= 10% of requests/s at concurrency "
                                   f"{args.concurrency} (shadow / plain >= 0.90)",
                         "met": shadow_ratio >= 0.90, "measured": f"{shadow_ratio:.3f}x"},
              "loads": [vars(load) for load in loads]}
    print_table(args, result)
    return result


def register_challenger(tracking_uri: str) -> str:
    """The champion's model again as a new version, alias ``challenger`` (reused when there)."""
    from mlflow import MlflowClient

    from lakeside.registry import champion_version, register_challenger as register

    client = MlflowClient(tracking_uri)
    champion = champion_version(st.MODEL)
    aliases = client.get_registered_model(st.MODEL).aliases
    if aliases.get("challenger") and str(aliases["challenger"]) != champion:
        return str(aliases["challenger"])
    source = client.get_model_version(st.MODEL, champion).source
    version = register(source, st.MODEL)
    log(f"registered {st.MODEL} version {version} (the champion's model again) as challenger")
    return version


def start(variant: str, bento: str, port: int, workdir: Path, tracking_uri: str) -> st.Server:
    """``bentoml serve`` on the Bento with the variant's settings and a home of its own (so each
    server's inference and shadow tables are apart)."""
    from lakeside import processes
    from lakeside.serving import deploy

    folder = workdir / "traffic" / variant
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **VARIANTS[variant], "LAKESIDE_HOME": str(folder / "home"),
           "LAKESIDE_SERVE_MODEL": st.MODEL, "LAKESIDE_SERVE_ALIAS": "champion", "MLFLOW_TRACKING_URI": tracking_uri}
    env.pop("LAKESIDE_SERVE_MODEL_TAG", None)
    process = processes.start_detached(
        [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)],
        env=env, log=folder / "server.log", pid_file=folder / "server.pid")
    url = f"http://127.0.0.1:{port}"
    with report.timed(f"start {variant}"):
        deploy.wait_ready(url, 300, process, folder / "server.log")
    return st.Server(variant, url, process.pid, folder / "server.log", f"bentoml serve {bento} ({VARIANTS[variant]})",
                     lambda: processes.stop(folder / "server.pid"))


def run_loads(hey: str, servers: dict[str, st.Server], scenario: st.Scenario, args) -> list[st.Load]:
    names = list(servers)
    for name in names:
        st.hey_run(hey, servers[name], scenario, min(args.warmup, scenario.requests), -1)
    loads = []
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            before = counters(servers[name])
            load = st.hey_run(hey, servers[name], scenario, scenario.requests, round_)
            load.batching = st.batching_between(before, counters(servers[name]))
            loads.append(load)
            log(f"traffic round {round_} {name}: {load.requests_per_s:,.1f} req/s, p50 {load.p50_ms:.1f} ms, "
                f"p99 {load.p99_ms:.1f} ms, non-200 {load.non_200}, server CPU {load.server_cpu_s:.1f}s, "
                f"load average {load.load_before}")
    return loads


def counters(server: st.Server) -> dict | None:
    """The batching counters of any Lakeside server (every lane's model calls; shadow calls are
    not batcher calls and are not counted)."""
    return st.batching_counters(dataclasses.replace(server, name="lakeside"))


def summarise(loads: list[st.Load]) -> dict:
    out = {}
    for name in dict.fromkeys(load.server for load in loads):
        runs = [load for load in loads if load.server == name]
        out[name] = {
            "requests_per_s": round(statistics.median(l.requests_per_s for l in runs), 1),
            "p50_ms": round(statistics.median(l.p50_ms for l in runs), 3),
            "p99_ms": round(statistics.median(l.p99_ms for l in runs), 3),
            "server_cpu_ms_per_request": round(statistics.median(1000 * l.server_cpu_s / l.answered for l in runs), 3),
            "non_200": sum(l.non_200 for l in runs),
            "requests_per_model_call": (round(statistics.median(l.batching["requests_per_call"] for l in runs), 2)
                                        if all(l.batching for l in runs) else None),
            "load_average_before": [l.load_before for l in runs],
            "rounds": len(runs),
        }
    return out


def landed_rows(folder: Path) -> dict:
    """The split server's answers per version and the shadow server's shadow rows (warm-up included)."""
    from deltalake import DeltaTable

    from lakeside import shadow_evidence

    split = DeltaTable(str(folder / "lakeside_split" / "home" / "lake" / "inference" / st.MODEL))
    versions = split.to_pandas(columns=["model_version"])["model_version"].value_counts().to_dict()
    layer, name = shadow_evidence.table_name(st.MODEL).split(".")
    shadow = DeltaTable(str(folder / "lakeside_shadow" / "home" / "lake" / layer / name)).to_pandas()
    figures = shadow_evidence.evidence(shadow, str(shadow["shadow_version"].iloc[0])) if len(shadow) else None
    return {"split_answers_by_version": {str(k): int(v) for k, v in versions.items()},
            "shadow_rows": len(shadow), "shadow_errors": int(shadow["shadow_error"].notna().sum()) if len(shadow) else 0,
            "shadow_evidence": figures.to_dict() if figures else None}


def print_table(args, result: dict) -> None:
    summary = result["summary"]
    rows = [[name, r["requests_per_s"], r["p50_ms"], r["p99_ms"], r["server_cpu_ms_per_request"], r["non_200"],
             round(r["requests_per_s"] / summary["lakeside"]["requests_per_s"], 3), r["requests_per_model_call"]]
            for name, r in summary.items()]
    print(flush=True)
    report.table(["server", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "non-200", "req/s vs plain",
                  "requests/model call"], rows,
                 title=f"traffic split 90/10 and shadow 10%, 1 row at concurrency {args.concurrency}, "
                       f"median of {args.rounds} rounds")
    landed_ = result["landed"]
    print(f"split answers by version: {landed_['split_answers_by_version']}; shadow rows {landed_['shadow_rows']} "
          f"(errors {landed_['shadow_errors']}), evidence {landed_['shadow_evidence']}", flush=True)
    target = result["target"]
    print(f"target: {target['target']}: {'met' if target['met'] else 'MISSED'} ({target['measured']})", flush=True)
