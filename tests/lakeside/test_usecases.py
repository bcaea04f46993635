"""Declarations: every declared use case is valid, light to import, and bad ones are refused
with the field named."""

import json
import subprocess
import sys

import pytest

from lakeside import usecases
from lakeside.usecases import Search, Split, UseCase


def test_every_declared_use_case_loads_with_its_gate_file():
    from lakeside.registry import load_thresholds

    cases = usecases.all_use_cases()
    assert [case.name for case in cases] == list(usecases.NAMES)
    for case in cases:
        assert load_thresholds(case.gate_name)["metric"]
        assert len(case.table.split(".")) == 2 and case.key


def test_every_declared_pipeline_names_its_sources_and_tables():
    from lakeside.datasets import INGEST_SOURCES

    pipelines = usecases.all_pipelines()
    assert [pipe.name for pipe in pipelines] == list(usecases.PIPELINES)
    for pipe in pipelines:
        assert set(pipe.sources) <= set(INGEST_SOURCES), "a pipeline follows sources daily_ingest lands"
        assert all(len(table.split(".")) == 2 for table in pipe.tables)
    with pytest.raises(ValueError, match="unknown pipeline 'loans'"):
        usecases.pipeline("loans")
    with pytest.raises(ValueError, match="its demo needs dates"):
        usecases.Pipeline("toy", "toy", "toy_dag", ("loans",), demo=usecases.Demo())


def test_declarations_import_nothing_heavy():
    probe = ("import json, sys; from lakeside import usecases; usecases.all_use_cases(); usecases.all_pipelines(); "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                           check=True).stdout))
    assert loaded.isdisjoint({"numpy", "pandas", "pyspark", "mlflow", "sklearn", "pyarrow", "optuna"})


def _case(**changes):
    fields = dict(name="toy", description="toy", task="regression", model_name="toy", table="silver.toy",
                  key=("id",), target="y")
    return UseCase(**{**fields, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"task": "ranking"}, "task must be one of"),
    ({"metric": "pr_auc"}, "not a regression metric"),
    ({"metric": "rmsle"}, "unknown metric"),
    ({"service": "grpc"}, "service must be one of"),
    ({"table": "toy"}, "table must be 'layer.name'"),
    ({"target": None}, "needs a regression or classification task and a target"),
    ({"trainer": "my_trainer"}, "trainer must be 'search'"),
    ({"split": Split("stratified")}, "stratified split needs a classification task"),
])
def test_a_bad_declaration_is_refused_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        _case(**changes)


def test_bad_settings_are_refused_and_unknown_names_listed():
    with pytest.raises(ValueError, match="time split needs time_column"):
        Split("time")
    with pytest.raises(ValueError, match="balance must be one of"):
        Search(balance="smote")
    with pytest.raises(ValueError, match="unknown use case 'nope': one of loans, iris"):
        usecases.get("nope")


def test_a_declared_use_case_is_found_by_name():
    toy = usecases.declare(_case(name="declared_toy", task="binary", metric="pr_auc",
                                 split=Split("stratified"), trainer="search"))
    assert usecases.get("declared_toy") is toy and toy.retrain_dag_id == "retrain_declared_toy"
    assert not toy.lower_is_better and toy.gate_name == "toy"


@pytest.mark.parametrize(("changes", "message"), [
    ({"after": "job", "builder": "lakeside.gold:model_performance"}, "a table its DAG's job writes has no builder"),
    ({"after": "ingest", "builder": ""}, "builder must be 'package.module:function'"),
    ({"after": "nightly"}, "after must be one of"),
    ({"dag_id": "some_dag"}, "dag_id names the DAG of a table a job writes"),
    ({"columns": (("n", "int"),)}, "columns need types from"),
])
def test_a_bad_gold_declaration_is_refused(changes, message):
    fields = {"name": "gold.t", "description": "", "columns": (("n", "integer"),), "builder": "m:f", **changes}
    with pytest.raises(ValueError, match=message):
        usecases.GoldTable(**fields)

