import json
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from lakeside import registry, snapshot, tracking
from lakeside.datasets import loans
from lakeside.tables import Lake

# Holdout RMSE on this data: good ~0.8, grade_only ~1.5 (both pass the loans_int_rate gate), dummy ~5.6.
FEATURES = {
    "good": (["grade", "term"], ["dti", "revol_util", "loan_amnt", "annual_inc"], Ridge),
    "grade_only": (["grade"], [], Ridge),
    "dummy": (["grade"], [], DummyRegressor),
}
LENIENT = {"metric": "rmse", "lower_is_better": True, "min_relative_improvement": 0.01,
           "max": {"rmse": 2.0}, "min": {"r2": 0.7}}


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    table = Lake(tmp_path_factory.mktemp("registry") / "lake", backend="embedded").table("silver.loans")
    table.overwrite(loans.generate(1500, seed=11))
    return snapshot.take(table, ["id"])


@pytest.fixture(scope="module")
def model_uris(mlflow_server, pinned):
    """One logged pipeline per entry of FEATURES, trained on the snapshot's train split."""
    mlflow.set_tracking_uri(mlflow_server)
    experiment = tracking.experiment_id(f"registry-tests-{uuid.uuid4().hex[:8]}")
    train, _ = snapshot.split(snapshot.load(pinned), pinned)
    return {label: _log_pipeline(experiment, train, *spec) for label, spec in FEATURES.items()}


def _log_pipeline(experiment, train, categorical, numeric, estimator):
    steps = [(OneHotEncoder(handle_unknown="ignore"), categorical)]
    steps += [(StandardScaler(), numeric)] if numeric else []
    pipeline = make_pipeline(make_column_transformer(*steps), estimator())
    features = train[categorical + numeric]
    pipeline.fit(features, train["int_rate"])
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.sklearn.log_model(pipeline, name="model", serialization_format="cloudpickle",
                                 signature=infer_signature(features, pipeline.predict(features)),
                                 input_example=features.head(3), pip_requirements=["scikit-learn"])
    return f"runs:/{run.info.run_id}/model"


@pytest.fixture()
def name(mlflow_server):
    return f"loans_int_rate_{uuid.uuid4().hex[:8]}"


def _tags(name, version):
    return MlflowClient().get_model_version(name, version).tags


def test_first_passing_model_is_promoted_and_a_worse_one_refused(name, pinned, model_uris):
    thresholds = registry.load_thresholds("loans_int_rate")
    first = registry.register_challenger(model_uris["good"], name=name,
                                         tags={"snapshot_version": pinned.version, "search_run_id": "abc"})
    assert MlflowClient().get_model_version_by_alias(name, "challenger").version == first
    assert _tags(name, first)["snapshot_version"] == str(pinned.version)

    decision = registry.gate(name, first, pinned, target="int_rate", thresholds=thresholds)
    assert decision.promoted and decision.champion_version is None and decision.champion_metrics is None
    assert decision.challenger_metrics["rmse"] < 1.0 and decision.challenger_metrics["r2"] > 0.9
    assert registry.champion_version(name) == first
    assert MlflowClient().get_model_version_by_alias(name, "champion").version == first

    worse = registry.register_challenger(model_uris["dummy"], name=name)
    assert MlflowClient().get_model_version_by_alias(name, "challenger").version == worse
    refused = registry.gate(name, worse, pinned, target="int_rate", thresholds=thresholds)
    assert not refused.promoted and refused.champion_version == first
    assert "rmse" in refused.reason and "above the maximum" in refused.reason
    assert registry.champion_version(name) == first

    tags = _tags(name, worse)
    assert tags["gate.decision"] == "rejected" and tags["gate.reason"] == refused.reason
    assert float(tags["gate.rmse"]) == pytest.approx(refused.challenger_metrics["rmse"])
    assert tags["gate.champion_version"] == first
    assert float(tags["gate.champion_rmse"]) == pytest.approx(decision.challenger_metrics["rmse"])
    assert tags["gate.snapshot_version"] == str(pinned.version)
    assert json.loads(json.dumps(refused.to_dict()))["champion_metrics"] == refused.champion_metrics


def test_challenger_must_beat_champion_by_margin_and_rollback_restores(name, pinned, model_uris):
    basic = registry.register_challenger(model_uris["grade_only"], name=name)
    assert registry.gate(name, basic, pinned, target="int_rate", thresholds=LENIENT).promoted

    same = registry.register_challenger(model_uris["grade_only"], name=name)
    tie = registry.gate(name, same, pinned, target="int_rate", thresholds=LENIENT)
    assert not tie.promoted and "does not beat the champion by the margin" in tie.reason
    assert tie.challenger_metrics == pytest.approx(tie.champion_metrics)
    assert registry.champion_version(name) == basic

    better = registry.register_challenger(model_uris["good"], name=name)
    won = registry.gate(name, better, pinned, target="int_rate", thresholds=LENIENT)
    assert won.promoted and won.champion_version == basic and "beats the champion" in won.reason
    assert registry.champion_version(name) == better
    assert _tags(name, better)["gate.decision"] == "promoted"

    assert registry.rollback(name) == basic
    assert registry.champion_version(name) == basic
    assert _tags(name, better)["champion.rolled_back_to"] == basic
    with pytest.raises(registry.NoPreviousChampionError, match="nothing to roll back to"):
        registry.rollback(name)
    assert registry.champion_version(name) == basic


def test_first_model_failing_thresholds_is_not_promoted(name, pinned, model_uris):
    version = registry.register_challenger(model_uris["dummy"], name=name)
    decision = registry.gate(name, version, pinned, target="int_rate", thresholds=registry.load_thresholds("loans_int_rate"))
    assert not decision.promoted and "fails the thresholds" in decision.reason
    assert registry.champion_version(name) is None
    assert _tags(name, version)["gate.decision"] == "rejected"
    with pytest.raises(registry.NoPreviousChampionError):
        registry.rollback(name)


def test_rollback_returns_to_a_champion_set_by_hand(name, pinned, model_uris):
    by_hand = registry.register_challenger(model_uris["grade_only"], name=name)
    MlflowClient().set_registered_model_alias(name, "champion", by_hand)
    better = registry.register_challenger(model_uris["good"], name=name)
    assert registry.gate(name, better, pinned, target="int_rate", thresholds=LENIENT).promoted
    assert registry.rollback(name) == by_hand == registry.champion_version(name)


def test_champion_version_of_an_unknown_model_is_none(mlflow_server):
    assert registry.champion_version(f"never_registered_{uuid.uuid4().hex[:8]}") is None


def test_thresholds_missing_or_invalid_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(registry.ThresholdsNotFoundError, match="no gate thresholds for model 'no_such_model'"):
        registry.load_thresholds("no_such_model")

    monkeypatch.setenv("LAKESIDE_GATES_DIR", str(tmp_path))
    (tmp_path / "custom.json").write_text(json.dumps({"metric": "r2", "min": {"r2": 0.5}}))
    assert registry.load_thresholds("custom")["lower_is_better"] is False
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        registry.load_thresholds("loans_int_rate")

    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(registry.InvalidThresholdsError, match="not valid JSON"):
        registry.load_thresholds("broken")
    (tmp_path / "typo.json").write_text(json.dumps({"metric": "rmse", "min_relative_improvment": 0.01}))
    with pytest.raises(registry.InvalidThresholdsError, match="unknown keys"):
        registry.load_thresholds("typo")
    (tmp_path / "bad_bound.json").write_text(json.dumps({"max": {"acuracy": 0.9}}))
    with pytest.raises(registry.InvalidThresholdsError, match="max.acuracy"):
        registry.load_thresholds("bad_bound")
    (tmp_path / "binary.json").write_text(json.dumps({"metric": "pr_auc", "min": {"recall": 0.6}}))
    assert registry.load_thresholds("binary")["lower_is_better"] is False


def test_a_drifted_snapshot_is_refused_without_approval_and_promoted_with_it(name, pinned, model_uris):
    from lakeside.retrain import review

    basic = registry.register_challenger(model_uris["grade_only"], name=name)
    assert registry.gate(name, basic, pinned, target="int_rate", thresholds=LENIENT).promoted
    drift = {"drifted": ["dti PSI 0.31 > 0.2"]}

    better = registry.register_challenger(model_uris["good"], name=name)
    waiting = registry.gate(name, better, pinned, target="int_rate", thresholds=LENIENT, drift=review(drift, None))
    assert not waiting.promoted and waiting.reason == "drift not approved: dti PSI 0.31 > 0.2"
    assert registry.champion_version(name) == basic
    assert _tags(name, better)["gate.drift_answer"] == "none"

    rejected = review(drift, {"chosen_options": ["Reject"], "responded_by_user": {"id": "7", "name": "ana"}})
    assert not registry.gate(name, better, pinned, target="int_rate", thresholds=LENIENT, drift=rejected).promoted

    approved = review(drift, {"chosen_options": ["Approve"], "responded_by_user": {"id": "7", "name": "ana"}})
    won = registry.gate(name, better, pinned, target="int_rate", thresholds=LENIENT, drift=approved)
    assert won.promoted and registry.champion_version(name) == better
    tags = _tags(name, better)
    assert tags["gate.drift_features"] == "dti PSI 0.31 > 0.2" and tags["gate.drift_answer"] == "Approve"
    assert "ana" in tags["gate.drift_responder"]
    assert review({"drifted": []}, None) is None, "no drift: nothing to approve"


def test_a_shadow_requirement_refuses_without_enough_agreeing_traffic_and_passes_with_it(
        name, pinned, model_uris, tmp_path, monkeypatch):
    import datetime as dt

    from lakeside.serving.models import ModelRef, ServedModel
    from lakeside.serving.shadow import ShadowJob, ShadowLog, ShadowRecord

    monkeypatch.setenv("LAKESIDE_HOME", str(tmp_path))
    basic = registry.register_challenger(model_uris["grade_only"], name=name)
    assert registry.gate(name, basic, pinned, target="int_rate", thresholds=LENIENT).promoted
    better = registry.register_challenger(model_uris["good"], name=name)
    required = {**LENIENT, "shadow": {"min_requests": 4, "min_agreement": 0.75, "max_latency_ratio": 3}}
    log = ShadowLog(tmp_path / "lake", tmp_path / "spill")
    shadow_model = ServedModel(ModelRef(name, better, "challenger"), pyfunc=None, signature=None)

    def shadowed(number, primary, answer):
        job = ShadowJob(f"r{number}", dt.datetime.now(dt.timezone.utc), 1, ModelRef(name, basic, "champion"),
                        [primary], 10.0, shadow_model, None)
        log.record(ShadowRecord(job, [answer], 20.0, None))
        log.flush()

    shadowed(1, 12.5, 12.5)
    shadowed(2, 13.0, 13.0)
    too_few = registry.gate(name, better, pinned, target="int_rate", thresholds=required)
    assert not too_few.promoted and too_few.reason == "shadow: 2 requests < 4 required"

    shadowed(3, 11.0, 11.5)
    shadowed(4, 14.0, 15.0)
    disagreeing = registry.gate(name, better, pinned, target="int_rate", thresholds=required)
    assert not disagreeing.promoted and disagreeing.reason == "shadow agreement 0.5 < 0.75"
    assert registry.champion_version(name) == basic

    for number in range(5, 9):
        shadowed(number, 10.0, 10.0 + 1e-9)
    won = registry.gate(name, better, pinned, target="int_rate", thresholds=required)
    assert won.promoted and registry.champion_version(name) == better
    tags = _tags(name, better)
    assert tags["gate.shadow_requests"] == "8" and float(tags["gate.shadow_agreement"]) == 0.75
    assert float(tags["gate.shadow_latency_ratio"]) == 2.0
