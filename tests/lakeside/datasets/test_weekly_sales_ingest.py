"""The UCI weekly sales file through ingest, on both table backends: the file's "Normalized 0"
headers land as ``Normalized_0`` columns, bad rows go to quarantine with their reason.

Three weeks instead of 52 (``weekly_spec(3)``): the same rules and layout, and Spark plans a
third the width (ingest's plan over 107 columns takes minutes on a loaded CI machine); the
52-week header is checked by the loader tests in test_weekly_sales.py."""

import datetime as dt

import pytest

from lakeside import ingest
from lakeside.datasets import weekly_sales
from lakeside.tables import Lake, delta_connector_available

DAY = dt.date(2024, 1, 1)
WEEKS = 3
SPEC = weekly_sales.weekly_spec(WEEKS)


@pytest.fixture(params=["embedded", "spark-delta"])
def lake(request, spark, tmp_path):
    if request.param == "spark-delta" and not delta_connector_available(spark):
        pytest.skip("spark-delta: the Delta Lake Spark jars are not on this session's classpath (make setup)")
    return Lake(tmp_path / "lake", backend=request.param, spark=spark)


def uci_lines(products: int = 6) -> list[str]:
    raw = weekly_sales.to_raw(weekly_sales.generate(products, weeks=WEEKS, seed=3))
    return [",".join(raw.columns), *(",".join(row) for row in raw.itertuples(index=False))]


def with_cell(line: str, column: str, value: str) -> str:
    cells = line.split(",")
    cells[SPEC.file_names.index(column)] = value
    return ",".join(cells)


def run(spark, tmp_path, lake, lines):
    path = tmp_path / "Sales_Transactions_Dataset_Weekly.csv"
    path.write_text("\n".join(lines) + "\n")
    batch = ingest.transform(ingest.extract(spark, [str(path)], SPEC), SPEC, DAY, "run-1")
    return ingest.load(lake, batch, SPEC, DAY, "run-1", [str(path)], max_rejected_share=1.0)


def test_good_rows_reach_silver_under_table_names_and_bad_rows_quarantine(spark, tmp_path, lake):
    header, *rows = uci_lines(6)
    short_row = ",".join(rows[2].split(",")[:-1])  # one week's normalised value short
    bad = [
        rows[0], rows[1],
        short_row,
        with_cell(rows[3], "W0", "-2"),
        with_cell(rows[4], "W1", "abc"),
        with_cell(rows[5], "W2", "NaN"),
    ]
    report = run(spark, tmp_path, lake, [header, *bad])
    assert (report.rows_in, report.rows_valid, report.rows_rejected) == (6, 2, 4)

    silver = lake.table("silver.weekly_sales")
    assert [f.name for f in silver.fields()][:len(SPEC.column_names)] == SPEC.column_names
    assert "Normalized_2" in silver.to_arrow().column_names
    read_by_spark = silver.read().select("Product_Code", "W0", "Normalized_0").orderBy("Product_Code").collect()
    expected = weekly_sales.generate(6, weeks=WEEKS, seed=3).iloc[:2]
    assert [(r["Product_Code"], r["W0"], r["Normalized_0"]) for r in read_by_spark] == list(
        zip(expected["Product_Code"], expected["W0"], expected["Normalized_0"]))

    reasons = dict(lake.table("quarantine.weekly_sales").to_pandas()[["Product_Code", "_reason"]].itertuples(index=False))
    assert reasons["P3"].startswith("malformed CSV record")
    assert reasons["P4"] == "`W0`: -2 is out of range [0, None]"
    assert reasons["P5"] == "`W1`: cannot read 'abc' as int"
    assert reasons["P6"] == "`W2`: cannot read 'NaN' as int"


def test_a_file_short_of_a_week_refuses_every_row_naming_the_missing_week(spark, tmp_path):
    header, *rows = uci_lines(3)
    drop = SPEC.file_names.index("W2")
    cut = [",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in (header, *rows)]
    path = tmp_path / "short.csv"
    path.write_text("\n".join(cut) + "\n")
    batch = ingest.transform(ingest.extract(spark, [str(path)], SPEC), SPEC, DAY, "run-1")
    assert batch.silver.count() == 0
    assert sorted(r["_reason"] for r in batch.quarantine.collect()) == ["`W2`: column missing from file"] * 3
