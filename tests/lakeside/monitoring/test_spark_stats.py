"""Spark's profiles and drift equal pandas' on the same rows: numbers with nulls and NaN, an
integer column with nulls, text with tied counts, booleans, dates and timestamps, a column
missing from the recent sample and one with no recent values."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from lakeside.monitoring import drift, profile, spark_stats

COLUMNS = ["dti", "term", "grade", "verified", "issued", "seen_at", "empty_recent", "only_baseline"]


def _rows(n: int, seed: int, shift: float) -> pa.Table:
    rng = np.random.default_rng(seed)
    dti = rng.normal(20 + shift, 8, n).round(2)
    dti[rng.random(n) < 0.05] = np.nan
    term = pa.array(rng.choice([36, 60], n), mask=rng.random(n) < 0.1)
    grade = rng.choice(["A", "B", "C", "D"], n, p=[0.25, 0.25, 0.25 - shift / 40, 0.25 + shift / 40])
    days = rng.integers(0, 400 + int(shift * 30), n)
    issued = [dt.date(2023, 1, 1) + dt.timedelta(days=int(x)) for x in days]
    seen_at = [dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=int(x) * 7) for x in days]
    columns = {
        "dti": pa.array(dti), "term": term, "grade": pa.array(grade),
        "verified": pa.array(rng.random(n) < 0.3 + shift / 20), "issued": pa.array(issued, pa.date32()),
        "seen_at": pa.array(seen_at, pa.timestamp("us", tz="UTC")),
        "empty_recent": pa.array(rng.normal(0, 1, n) if not shift else [None] * n, pa.float64()),
    }
    if not shift:
        columns["only_baseline"] = pa.array(rng.normal(0, 1, n))
    return pa.table(columns)


@pytest.fixture(scope="module")
def samples(spark):
    baseline, recent = _rows(3000, seed=1, shift=0.0), _rows(2000, seed=2, shift=4.0)
    return (baseline.to_pandas(), recent.to_pandas(),
            spark.createDataFrame(baseline), spark.createDataFrame(recent))


def test_profiles_equal_pandas(samples):
    baseline, _, spark_baseline, _ = samples
    expected = profile.profiles(baseline, COLUMNS)
    found = spark_stats.profiles(spark_baseline, COLUMNS)

    assert [row["column"] for row in found] == [row["column"] for row in expected]
    for mine, theirs in zip(found, expected):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            close = isinstance(value, float) and mine[key] == pytest.approx(value, rel=1e-9)
            assert close or mine[key] == value, (mine["column"], key, mine[key], value)
    by_column = {row["column"]: row for row in found}
    assert by_column["dti"]["nulls"] > 100 and by_column["term"]["nulls"] > 200
    assert list(eval(by_column["term"]["top_values"])) in (["36", "60"], ["60", "36"])


def test_drift_equals_pandas_and_flags_the_shift(samples):
    baseline, recent, spark_baseline, spark_recent = samples
    expected = drift.drifts(baseline, recent, COLUMNS)
    found = spark_stats.drifts(spark_baseline, spark_recent, COLUMNS)

    assert [r.column for r in found] == [r.column for r in expected] == COLUMNS[:-1]
    for mine, theirs in zip(found, expected):
        assert (mine.kind, mine.baseline_rows, mine.recent_rows) == (theirs.kind, theirs.baseline_rows, theirs.recent_rows), mine
        assert mine.psi == pytest.approx(theirs.psi, rel=1e-9, abs=1e-12), mine.column
        assert mine.js == pytest.approx(theirs.js, rel=1e-9, abs=1e-12), mine.column
        assert mine.ks == (None if theirs.ks is None else pytest.approx(theirs.ks, rel=1e-12)), mine.column
    kinds = {r.column: r.kind for r in found}
    assert kinds == {"dti": "numeric", "term": "numeric", "grade": "categorical", "verified": "categorical",
                     "issued": "temporal", "seen_at": "temporal", "empty_recent": "numeric"}
    shifted = {r.column: r for r in found}
    assert shifted["dti"].psi > 0.15 and shifted["dti"].ks > 0.15 and shifted["grade"].psi > 0.05
    assert shifted["empty_recent"].recent_rows == 0 and shifted["empty_recent"].ks is None


def test_tied_counts_pick_the_same_top_values(spark):
    table = pa.table({"letter": list("edcbaffgg"), "number": [5.0, 4.0, 3.0, 2.0, 1.0, 7.0, 7.0, 8.0, 8.0]})
    for column in table.column_names:
        expected = profile.profile(column, table.to_pandas()[column])["top_values"]
        assert spark_stats.profiles(spark.createDataFrame(table), [column])[0]["top_values"] == expected
    assert profile.profile("letter", table.to_pandas()["letter"])["top_values"] == '{"f": 2, "g": 2, "a": 1, "b": 1, "c": 1}'
