"""Traffic split weights and sticky keys, the shadow scorer's queue (never waited on, dropped when
full, errors and hangs recorded), the shadow table, and the gate's shadow figures."""

import datetime as dt
import json
import threading
from collections import Counter

import pandas as pd
import pytest
from deltalake import DeltaTable

from lakeside import registry, shadow_evidence
from lakeside.serving.models import ModelRef, ServedModel
from lakeside.serving.shadow import ShadowJob, ShadowLog, ShadowRecord, ShadowScorer
from lakeside.serving.traffic import SplitError, parse_split

NOW = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
CHAMPION = ModelRef("m_traffic", "3", "champion")
CHALLENGER = ServedModel(ModelRef("m_traffic", "4", "challenger"), pyfunc=None, signature=None)


def test_a_split_is_read_from_alias_weight_pairs():
    split = parse_split(" champion=90, challenger=10 ", "LAKESIDE_SERVE_SPLIT")

    assert split.aliases == ["champion", "challenger"]
    assert split.describe()["shares"] == {"champion": 0.9, "challenger": 0.1}
    assert parse_split("champion=1,challenger=0", "x").aliases == ["champion"]


@pytest.mark.parametrize("text, complaint", [
    ("champion:90", "not alias=weight"), ("champion=ninety", "not alias=weight"), ("champion=-1", "not alias=weight"),
    ("champion=1,champion=2", "named twice"), ("champion=0", "no alias a weight above 0"), ("", "no alias"),
])
def test_a_split_that_cannot_be_read_says_why(text, complaint):
    with pytest.raises(SplitError, match=complaint):
        parse_split(text, "LAKESIDE_SERVE_SPLIT")


def test_random_routing_follows_the_weights_and_keys_stick():
    split = parse_split("champion=90,challenger=10", "x")

    shares = Counter(split.choose() for _ in range(20_000))
    keyed = {f"user-{n}": split.choose(f"user-{n}") for n in range(5_000)}

    assert shares["challenger"] / 20_000 == pytest.approx(0.10, abs=0.015)
    assert Counter(keyed.values())["challenger"] / 5_000 == pytest.approx(0.10, abs=0.02)
    assert all(split.choose(key) == alias for key, alias in keyed.items())
    assert parse_split("champion=90,challenger=10", "y").choose("user-7") == keyed["user-7"], "stable across splits"


def job(number: int, score, predictions=(1.0, 2.0)) -> ShadowJob:
    return ShadowJob(f"req-{number}", NOW, len(predictions), CHAMPION, list(predictions), 2.0, CHALLENGER, score)


class Sink:
    def __init__(self):
        self.records = []
        self.arrived = threading.Event()

    def record(self, record):
        self.records.append(record)
        self.arrived.set()


def test_offering_never_waits_on_a_hanging_shadow_and_a_full_queue_drops():
    release, entered = threading.Event(), threading.Event()

    def hang(model):
        entered.set()
        release.wait(30)
        return [0.0, 0.0]

    sink = Sink()
    scorer = ShadowScorer(lambda: sink, timeout_s=30, max_queue=2)
    try:
        assert scorer.offer(job(0, hang))
        assert entered.wait(10), "the shadow is running"
        offered = [scorer.offer(job(n, hang)) for n in range(1, 6)]

        assert offered == [True, True, False, False, False]
        assert scorer.counts["dropped"] == 3 and not release.is_set() and not sink.records
    finally:
        release.set()
        scorer.close()


def test_an_erroring_or_hanging_shadow_is_recorded_with_its_reason():
    release = threading.Event()

    def fail(model):
        raise RuntimeError("challenger broke")

    sink = Sink()
    scorer = ShadowScorer(lambda: sink, timeout_s=0.2, max_queue=10)
    try:
        scorer.offer(job(1, fail))
        scorer.offer(job(2, lambda model: [1.0, 2.5]))
        scorer.offer(job(3, lambda model: release.wait(30)))
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while len(sink.records) < 3 and dt.datetime.now() < deadline:
            release.wait(0.05)
    finally:
        release.set()
        scorer.close()

    failed, answered, hung = sink.records
    assert failed.error == "RuntimeError: challenger broke"
    assert hung.error.startswith("timeout") and answered.error is None
    assert answered.predictions == [1.0, 2.5]
    assert scorer.counts == {"scored": 1, "error": 1, "timeout": 1, "dropped": 0}


def test_shadow_records_land_side_by_side_in_the_shadow_table(tmp_path):
    log = ShadowLog(tmp_path / "lake", tmp_path / "spill")
    log.record(ShadowRecord(job(1, None), [1.0, 2.5], 4.0, None))
    log.record(ShadowRecord(job(2, None), None, 5000.0, "timeout: no answer within 5 s"))
    assert log.flush() == 2

    rows = DeltaTable(str(tmp_path / "lake" / "inference" / "m_traffic_shadow")).to_pyarrow_table().to_pylist()
    first, second = sorted(rows, key=lambda row: row["request_id"])
    assert (first["primary_version"], first["shadow_version"], first["shadow_alias"]) == ("3", "4", "challenger")
    assert json.loads(first["primary_predictions"]) == [1.0, 2.0] and json.loads(first["shadow_predictions"]) == [1.0, 2.5]
    assert (first["primary_latency_ms"], first["shadow_latency_ms"], first["rows"]) == (2.0, 4.0, 2)
    assert second["shadow_predictions"] is None and second["shadow_error"].startswith("timeout")
    assert first["date"] == NOW.date()


def shadow_frame(pairs, version="4", primary="3", primary_ms=10.0, shadow_ms=12.0):
    return pd.DataFrame([{
        "shadow_version": version, "primary_version": primary,
        "primary_predictions": json.dumps(p), "shadow_predictions": None if s is None else json.dumps(s),
        "primary_latency_ms": primary_ms, "shadow_latency_ms": shadow_ms,
        "shadow_error": "RuntimeError: x" if s is None else None,
    } for p, s in pairs])


def test_agreement_counts_equal_classes_and_numbers_within_tolerance():
    frame = shadow_frame([
        ([1.0, 2.0], [1.0 + 1e-9, 2.0]),  # float noise: agrees
        ([100.0], [100.00001]),           # relative 1e-7: agrees
        ([1.0], [1.1]),                   # disagrees
        (["yes", "no"], ["yes", "no"]),   # classes: agree
        (["yes"], ["no"]),                # disagrees
        ([1.0], None),                    # the shadow failed: disagrees
    ])
    other = shadow_frame([([1.0], [1.0])], version="5")

    figures = shadow_evidence.evidence(pd.concat([frame, other]), "4", primary_version="3", tolerance=1e-6)

    assert (figures.requests, figures.agreeing) == (6, 3)
    assert figures.agreement == pytest.approx(0.5)
    assert figures.latency_ratio == pytest.approx(1.2)
    assert shadow_evidence.evidence(frame, "4", primary_version="2").requests == 0


def test_shortfalls_name_the_figures_and_the_requirement():
    frame = shadow_frame([([1.0], [1.0])] * 91 + [([1.0], [2.0])] * 9 + [([1.0], [1.0])] * 20, shadow_ms=18.0)
    figures = shadow_evidence.evidence(frame, "4")

    assert shadow_evidence.shortfalls(figures, {"min_requests": 200, "min_agreement": 0.95, "max_latency_ratio": 1.5}) == [
        "shadow: 120 requests < 200 required", "shadow agreement 0.925 < 0.95", "shadow latency ratio 1.8 > 1.5"]
    assert shadow_evidence.shortfalls(figures, {"min_requests": 100, "min_agreement": 0.9}) == []


def test_the_gate_file_s_shadow_section_is_checked():
    base = {"metric": "rmse", "max": {"rmse": 2.0}}

    checked = registry.validate_thresholds({**base, "shadow": {"min_requests": 200, "min_agreement": 0.95}})
    assert checked["shadow"] == {"min_requests": 200, "min_agreement": 0.95, "tolerance": 1e-6}
    assert "shadow" not in registry.validate_thresholds(base)
    for bad, complaint in [({"min_agreement": 1.5}, "between 0 and 1"), ({"min_requests": 2.5}, "whole number"),
                           ({"max_latency": 2}, "unknown keys in shadow"), ([], "must be an object")]:
        with pytest.raises(registry.InvalidThresholdsError, match=complaint):
            registry.validate_thresholds({**base, "shadow": bad})


def test_tabular_shadow_requests_waiting_together_are_predicted_in_one_call():
    release, entered, calls = threading.Event(), threading.Event(), []
    model = ServedModel(ModelRef("m_traffic", "4", "challenger"), pyfunc=None, signature=None)

    def predict(columns):
        calls.append(len(columns["x"]))
        entered.set()
        release.wait(30)
        return [10 * x for x in columns["x"]]

    model.predict = predict
    sink = Sink()
    scorer = ShadowScorer(lambda: sink, timeout_s=30, max_queue=10)
    try:
        for number, xs in enumerate([[1], [2, 3], [4], [5, 6, 7]]):
            columns = {"x": xs}
            scorer.offer(ShadowJob(f"b{number}", NOW, len(xs), CHAMPION, xs, 1.0, model,
                                   lambda m, columns=columns: m.predict(columns), columns))
            assert entered.wait(30)
        release.set()
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while len(sink.records) < 4 and dt.datetime.now() < deadline:
            sink.arrived.wait(0.05)
    finally:
        release.set()
        scorer.close()

    assert calls == [1, 6], "the first alone, the three that waited behind it together"
    answers = {record.job.request_id: record.predictions for record in sink.records}
    assert answers == {"b0": [10], "b1": [20, 30], "b2": [40], "b3": [50, 60, 70]}
