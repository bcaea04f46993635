"""The fraud use case end to end on a small generated month (two days), in one process:
ingest -> relabel -> cross-validated tree + balanced retrain -> register + gate -> served with
decision paths -> review queue -> an analyst's drop -> the next relabel uses it -> a new rule
version relabels everything and asks for a retrain."""

import json

import mlflow
import pytest
from starlette.testclient import TestClient

from lakeside import gold, ingest, landing, retrain
from lakeside.datasets import fraud_reviewed_labels, paysim
from lakeside.tables import open_lake
from lakeside.usecases.fraud import INPUTS, KEY, LABELS, REVIEW_QUEUE, REVIEW_QUEUE_TABLE, relabel, review, rules
from lakeside.usecases.fraud.training import TrainConfig

DAYS = ("2024-01-01", "2024-01-02")
TINY_GRID = {"max_depth": [3, 5], "max_bins": [10, 20], "folds": 3}  # 1,500 rows a day and one grid point learnt PR 0.48


def test_the_jobs_default_grid_is_the_exact_one_of_the_use_case():
    config = TrainConfig.from_params(retrain.usecases.get("fraud").params)
    assert (config.max_depth, config.max_bins, config.folds) == ((5, 10, 15), (10, 20, 30), 3)
    assert (config.seed, config.split_seed, config.balance_seed, config.test_fraction) == (54321, 12345, 92285, 0.2)


@pytest.mark.slow(expected_s=170)
def test_fraud_end_to_end(spark, lakeside_home, mlflow_server, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("LAKESIDE_MODEL_PREFIX", "e2e_")
    mlflow.set_tracking_uri(mlflow_server)
    lake = open_lake(spark)
    spec = paysim.SPEC
    for day in DAYS:
        files = [str(landing.land_demo_file("paysim", day, rows=3000, bad_share=0.01))]
        batch = ingest.transform(ingest.extract(spark, files, spec), spec, day, f"ingest-{day}")
        ingest.load(lake, batch, spec, day, f"ingest-{day}", files, 0.05)
    seed = rules.load()

    first = relabel.relabel(lake, seed, "relabel-1")
    labels = lake.table(LABELS).to_pandas()
    assert first.days == list(DAYS) and first.rows == len(labels) > 2900
    assert (labels["rule_version"] == "seed-2017.1").all() and (labels["label"] == labels["rule_label"]).all()
    assert labels["label"].sum() == first.rule_positives > 0
    again = relabel.relabel(lake, seed, "relabel-again")
    assert again.days == [] and lake.table(LABELS).version() == first.table_version

    # train, register, gate
    result = retrain.retrain("fraud", params={"spark": True, **TINY_GRID}, deploy=False)
    trained, decision = result["trained"], result["decision"]
    assert set(trained["variants"]) == {"imbalanced", "balanced"}
    for variant in trained["variants"].values():
        assert variant["export_mismatches"] == 0
        assert variant["test_area_under_pr"] > 0.8 and variant["test_area_under_roc"] > 0.9
    assert trained["variants"]["balanced"]["train_rows"] < trained["variants"]["imbalanced"]["train_rows"]
    assert len(trained["cv"]) == 4 and trained["rule_version"] == "seed-2017.1"
    assert decision["promoted"], decision
    client = mlflow.MlflowClient()
    parent = client.get_run(trained["parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{trained['parent_run_id']}'")
    assert sorted(r.data.tags["variant"] for r in children) == ["balanced", "imbalanced"]
    artifacts = {a.path for a in client.list_artifacts(trained["run_id"], "plots")} | \
        {a.path for a in client.list_artifacts(trained["run_id"], "tree")}
    assert {"plots/confusion_matrix_test.png", "plots/tree.png", "tree/tree.txt"} <= artifacts
    assert parent.data.tags["rule_version"] == "seed-2017.1" and parent.data.tags["lakeside.table"] == LABELS

    # served without a JVM, with decision paths on request
    from lakeside.serving.pyfunc_service import PyfuncService

    rows = lake.table(LABELS).to_pandas().head(3)
    body = {"dataframe_records": json.loads(rows[list(INPUTS)].to_json(orient="records"))}
    monkeypatch.setenv("BENTOML_CONFIG_OPTIONS", "services.lakeside_pyfunc.metrics.enabled=false")
    monkeypatch.setenv("LAKESIDE_SERVE_MODEL", "e2e_fraud_tree")
    with TestClient(PyfuncService.to_asgi(), raise_server_exceptions=False) as http:
        plain = http.post("/invocations", json=body)
        explained = http.post("/invocations", json={**body, "params": {"decision_path": True}})
        unknown = http.post("/invocations", json={"dataframe_records": [{**body["dataframe_records"][0], "type": "WIRE"}]})
    assert plain.status_code == 200 and len(plain.json()["predictions"]) == 3
    answers = explained.json()["predictions"]
    local = mlflow.pyfunc.load_model("models:/e2e_fraud_tree@champion").predict(
        rows[list(INPUTS)], params={"decision_path": True})
    assert [a["prediction"] for a in answers] == local["prediction"].tolist()
    assert [a["1"] for a in plain.json()["predictions"]] == local["1"].tolist()
    assert all(a["decision_path"][-1].startswith(f"predict {a['prediction']}") for a in answers)
    assert unknown.status_code == 422 and "WIRE" in unknown.json()["error"]

    # review queue (a band wide enough to queue rows on a tiny, clean month)
    tree, version = review.champion_tree("e2e_fraud_tree")
    queued = review.refresh(lake, list(DAYS), tree, (0.0, 1.0), version, "queue-1")
    queue = lake.table(REVIEW_QUEUE).to_pandas()
    assert sum(queued.values()) == len(queue) == len(labels)
    assert gold.problems(lake, REVIEW_QUEUE_TABLE) == []  # the columns its dashboard was built on
    assert review.needs_retrain("e2e_fraud_tree", "seed-2017.1")[0] is False

    # an analyst overturns one rule label; the next relabel prefers the review
    target = queue.sort_values(list(KEY)).iloc[[0]]
    flipped = 1 - int(target["label"].iloc[0])
    drop = landing.landing_dir("fraud_reviewed_labels", "2024-01-03")
    drop.mkdir(parents=True)
    reviewed = fraud_reviewed_labels.decisions(target, [flipped], "ana.lyst", "2024-01-03T09:00:00Z")
    bad = reviewed.assign(label=7, nameOrig="C1")
    fraud_reviewed_labels.to_raw(__import__("pandas").concat([reviewed, bad])).to_csv(drop / "reviews.csv", index=False)
    assert review.pending_drops(lake) == ["2024-01-03"]
    reports = review.ingest_drops(lake, spark, "reviews-1", max_rejected_share=0.9)
    assert [(r["rows_valid"], r["rows_rejected"]) for r in reports] == [(1, 1)]
    assert "`label`: 7 is out of range" in lake.table("quarantine.fraud_reviewed_labels").to_pandas()["_reason"].iloc[0]
    assert review.pending_drops(lake) == []

    second = relabel.relabel(lake, seed, "relabel-2")
    assert second.days == [str(target["_ingest_date"].iloc[0])]
    assert (second.reviewed_labels_used, second.reviewed_labels_changing_rule) == (1, 1)
    relabelled = lake.table(LABELS).to_pandas().merge(target[list(KEY)], on=list(KEY))
    assert relabelled[["label", "label_source", "reviewer"]].values.tolist() == [[flipped, "review", "ana.lyst"]]
    review.refresh(lake, second.days, tree, (0.0, 1.0), version, "queue-2")
    assert len(lake.table(REVIEW_QUEUE).to_pandas().merge(target[list(KEY)], on=list(KEY))) == 0

    # analysts publish a new rule version: every day is relabelled, and a retrain is due
    changed = rules.parse({**seed.to_dict(), "version": "analysts-2024-02"})
    third = relabel.relabel(lake, changed, "relabel-3")
    assert third.rule_version_changed and third.days == list(DAYS)
    assert set(lake.table(LABELS).to_pandas()["rule_version"]) == {"analysts-2024-02"}
    assert third.reviewed_labels_used == 1
    assert review.needs_retrain("e2e_fraud_tree", "analysts-2024-02")[0] is True
