"""Each kind of unusable input stops the search with a ValueError saying what is wrong,
before any MLflow run is opened."""

import numpy as np
import pyarrow as pa
import pytest

from lakeside import snapshot
from lakeside.automl import search
from lakeside.datasets import loans
from lakeside.tables import Lake


@pytest.fixture()
def pin(tmp_path):
    lake = Lake(tmp_path / "lake", backend="embedded")

    def pinned(frame, name="silver.loans"):
        table = lake.table(name)
        table.overwrite(frame)
        return snapshot.take(table, ["id"])

    return pinned


@pytest.fixture(scope="module")
def frame():
    return loans.generate(200, seed=5)


def test_empty_table(pin, frame):
    empty = pa.Table.from_pandas(frame, preserve_index=False).slice(0, 0)
    with pytest.raises(ValueError, match="silver.loans version 0 is empty"):
        search(pin(empty), "int_rate", experiment="bad-input")


def test_missing_target(pin, frame):
    with pytest.raises(ValueError, match="target column 'interest' is not in silver.loans"):
        search(pin(frame), "interest", experiment="bad-input")


def test_all_null_feature_column_is_named(pin, frame):
    with pytest.raises(ValueError, match="'revol_util'.*only nulls"):
        search(pin(frame.assign(revol_util=np.nan)), "int_rate", experiment="bad-input")


def test_constant_target(pin, frame):
    with pytest.raises(ValueError, match="target 'int_rate' is constant"):
        search(pin(frame.assign(int_rate=12.5)), "int_rate", experiment="bad-input")


def test_text_target(pin, frame):
    with pytest.raises(ValueError, match="not numeric"):
        search(pin(frame), "grade", experiment="bad-input")


def test_spark_family_without_spark(pin, frame):
    with pytest.raises(ValueError, match="none of the families.*no SparkSession"):
        search(pin(frame), "int_rate", experiment="bad-input", families=["spark_gbt"])


def test_classification_needs_enough_rows_of_each_class_and_fitting_families(pin, frame):
    with pytest.raises(ValueError, match="do not take multiclass tasks"):
        search(pin(frame), "grade", experiment="bad-input", task="multiclass", families=["linear"])
    with pytest.raises(ValueError, match="binary task needs exactly two classes"):
        search(pin(frame), "grade", experiment="bad-input", task="binary", families=["logistic"])
    rare = frame.assign(term=["60 months"] + ["36 months"] * (len(frame) - 1))
    with pytest.raises(ValueError, match="rarest class"):
        search(pin(rare), "term", experiment="bad-input", task="binary", families=["logistic"])


def test_unknown_family_and_bad_budget(pin, frame):
    with pytest.raises(ValueError, match="unknown model families"):
        search(pin(frame), "int_rate", experiment="bad-input", families=["linear", "nope"])
    with pytest.raises(ValueError, match="time_budget_s"):
        search(pin(frame), "int_rate", experiment="bad-input", time_budget_s=0)
