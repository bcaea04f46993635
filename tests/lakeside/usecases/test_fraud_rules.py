"""The analysts' rules as a data file: each rule at and around every threshold, pandas and Spark
agreeing, and rule files that cannot be applied refused with a clear message."""

import copy
import json

import pandas as pd
import pytest

from lakeside.datasets import paysim
from lakeside.usecases.fraud import rules

SEED = rules.load()
COLUMNS = ["type", "amount", "oldbalanceOrg", "newbalanceOrig", "newbalanceDest"]

# (type, amount, oldbalanceOrg, newbalanceOrig, newbalanceDest) -> label, the rules that fire
EDGES = [
    # rule 1: oldbalanceOrg <= 56900 and TRANSFER and newbalanceDest <= 105
    (("TRANSFER", 100.0, 56900.0, 56800.0, 105.0), 1, "small_origin_transfer_to_empty_destination"),
    (("TRANSFER", 100.0, 56899.99, 56799.99, 104.99), 1, "small_origin_transfer_to_empty_destination"),
    (("TRANSFER", 100.0, 56900.0, 56800.0, 105.01), 0, ""),
    (("TRANSFER", 100.0, 56900.01, 56800.01, 0.0), 0, ""),
    (("CASH_OUT", 100.0, 56900.0, 56800.0, 0.0), 0, ""),
    # rule 2: oldbalanceOrg > 56900 and newbalanceOrig <= 12
    (("CASH_OUT", 56900.01, 56900.01, 0.0, 90000.0), 1, "large_origin_emptied"),
    (("PAYMENT", 56888.01, 56900.01, 12.0, 0.0), 1, "large_origin_emptied"),
    (("PAYMENT", 56888.0, 56900.01, 12.01, 0.0), 0, ""),
    (("CASH_OUT", 56900.0, 56900.0, 0.0, 90000.0), 0, ""),
    (("CASH_OUT", 56899.99, 56899.99, 0.0, 90000.0), 0, ""),
    # rule 3: oldbalanceOrg > 56900 and newbalanceOrig > 12 and amount > 1160000
    (("TRANSFER", 1160000.01, 2000000.0, 839999.99, 1160000.01), 1, "large_origin_huge_amount"),
    (("TRANSFER", 1160000.0, 2000000.0, 840000.0, 1160000.0), 0, ""),
    (("TRANSFER", 1160000.01, 56900.0, 0.0, 1160000.01), 0, ""),
    (("CASH_IN", 1200000.0, 56900.0, 1256900.0, 0.0), 0, ""),
    (("CASH_IN", 1200000.0, 56900.01, 1256900.01, 0.0), 1, "large_origin_huge_amount"),
    (("TRANSFER", 1160000.01, 1160000.01, 12.0, 0.0), 1, "large_origin_emptied"),
]


def _frame(rows):
    return pd.DataFrame([r for r, _, _ in rows], columns=COLUMNS).assign(oldbalanceDest=0.0)


def test_the_seed_file_is_the_exact_rule_set_with_a_version():
    assert SEED.version == "seed-2017.1"
    assert [r.name for r in SEED.rules] == ["small_origin_transfer_to_empty_destination", "large_origin_emptied",
                                            "large_origin_huge_amount"]
    assert [str(c) for c in SEED.rules[2].when] == ["oldbalanceOrg > 56900", "newbalanceOrig > 12",
                                                    "amount > 1160000"]


@pytest.mark.parametrize(("row", "label", "fired"), EDGES)
def test_each_rule_at_and_around_its_thresholds(row, label, fired):
    labels, names = SEED.label_frame(_frame([(row, label, fired)]))
    assert labels.tolist() == [label]
    assert names.tolist() == [fired]


def test_spark_labels_every_edge_like_pandas(spark):
    frame = _frame(EDGES)
    out = spark.createDataFrame(frame).select(SEED.label_column().alias("label"),
                                              SEED.fired_column().alias("fired")).toPandas()
    assert out["label"].tolist() == [label for _, label, _ in EDGES]
    assert out["fired"].tolist() == [fired for _, _, fired in EDGES]


def test_the_rules_flag_a_plausible_share_of_rows_and_money():
    """Public set: ~4% of transactions, ~11% of the money."""
    log = paysim.generate(200_000, seed=11)
    flagged = SEED.label_frame(log)[0] == 1
    assert 0.01 <= flagged.mean() <= 0.10
    assert 0.05 <= log.loc[flagged, "amount"].sum() / log["amount"].sum() <= 0.25


def test_a_changed_threshold_is_data_not_code(tmp_path):
    data = SEED.to_dict()
    data["version"] = "analysts-2024-02"
    data["rules"][1]["when"][1]["value"] = 100
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    changed = rules.load(path)
    row = _frame([(("CASH_OUT", 56900.0, 60000.0, 50.0, 0.0), 0, "")])
    assert (changed.version, changed.label_frame(row)[0].tolist(), SEED.label_frame(row)[0].tolist()) == \
        ("analysts-2024-02", [1], [0])


def _broken(change):
    data = copy.deepcopy(SEED.to_dict())
    change(data)
    return data


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.update(owner="ana"), "unknown field(s) 'owner'"),
    (lambda d: d["rules"][0].update(weight=2), "rule 1 (small_origin_transfer_to_empty_destination): unknown field(s) 'weight'"),
    (lambda d: d["rules"][0]["when"][0].update(unit="EUR"), "condition 1: unknown field(s) 'unit'"),
    (lambda d: d["rules"][1]["when"][0].update(value="56900"), "threshold '56900' for oldbalanceOrg must be a finite number"),
    (lambda d: d["rules"][1]["when"][0].update(value=float("nan")), "threshold nan for oldbalanceOrg must be a finite number"),
    (lambda d: d["rules"][1]["when"][0].update(value=-5), "threshold -5 for oldbalanceOrg is outside its range"),
    (lambda d: d["rules"][1]["when"][0].update(value=True), "must be a finite number"),
    (lambda d: d["rules"][1]["when"][0].update(op="=<"), "op '=<' does not apply to oldbalanceOrg"),
    (lambda d: d["rules"][1]["when"][0].update(column="oldBalanceOrig"), "unknown column 'oldBalanceOrig'"),
    (lambda d: d["rules"][0]["when"][1].update(value="WIRE"), "value 'WIRE' for type must be one of"),
    (lambda d: d["rules"][0]["when"][1].pop("op"), "missing op"),
    (lambda d: d.pop("version"), "'version' must be a non-empty name"),
    (lambda d: d.update(rules=[]), "'rules' must be a non-empty list"),
    (lambda d: d["rules"].append(copy.deepcopy(d["rules"][0])), "rule names repeat"),
])
def test_a_rule_file_that_cannot_be_applied_is_refused_naming_the_place(change, words):
    with pytest.raises(rules.InvalidRulesError) as refused:
        rules.parse(_broken(change), source="rules.json")
    assert words in str(refused.value)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text("{version: 1")
    with pytest.raises(rules.InvalidRulesError, match="not valid JSON"):
        rules.load(path)
