import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from lakeside import ingest
from lakeside.datasets._spec import Column, SourceSpec
from lakeside.tables import Lake

SPEC = SourceSpec(
    name="things",
    key=("id",),
    columns=(
        Column("id", "long"),
        Column("kind", "string", allowed=("a", "b")),
        Column("amount", "double", min=0, max=100),
        Column("rate", "percent", required=False),
        Column("day", "date", required=False),
        Column("month", "month_year", required=False),
        Column("years", "emp_length", required=False),
        Column("code", "string", required=False, pattern=r"^[A-Z]{2}$"),
    ),
)
HEADER = "id,kind,amount,rate,day,month,years,code"
DAY = dt.date(2024, 3, 5)


def write(tmp_path, text, name="things.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def batch(spark, tmp_path, text, run_id="run-1", day=DAY):
    raw = ingest.extract(spark, [write(tmp_path, text)], SPEC)
    return ingest.transform(raw, SPEC, day, run_id)


def test_every_kind_is_read_into_its_silver_type(spark, tmp_path):
    text = f"{HEADER}\n7, a ,12.5,13.56%,2015-04-01,Apr-2015,10+ years,NY\n8,b,0,6.39,,Dec-1999,< 1 year,\n9,b,1e2,,n/a,,3 years,CA\n"
    silver = batch(spark, tmp_path, text).silver.drop("_source_file")
    expected = spark.createDataFrame(
        [
            (7, "a", 12.5, 13.56, dt.date(2015, 4, 1), dt.date(2015, 4, 1), 10, "NY", DAY, 1),
            (8, "b", 0.0, 6.39, None, dt.date(1999, 12, 1), 0, None, DAY, 2),
            (9, "b", 100.0, None, None, None, 3, "CA", DAY, 3),
        ],
        "id bigint, kind string, amount double, rate double, day date, month date, years int, code string, "
        "_ingest_date date, _row bigint",
    )
    assertDataFrameEqual(silver, expected)


def test_each_refusal_names_the_field_and_the_value(spark, tmp_path):
    text = "\n".join([
        HEADER,
        "1,c,5,,,,,",
        "2,a,abc,,,,,",
        "3,a,101,,,,,",
        "4,,5,,,,,",
        "5,a,5,,2024-13-45,,,",
        "6,a,5,,,,,ny",
        "7,a,NaN,,,,,",
        ",a,5,,,,,",
        "9,a,5,x%,,Foo-2015,many years,",
    ]) + "\n"
    quarantine = batch(spark, tmp_path, text).quarantine.select("_row", "_reason")
    expected = spark.createDataFrame([
        (1, "`kind`: 'c' is not one of a, b"),
        (2, "`amount`: cannot read 'abc' as double"),
        (3, "`amount`: 101 is out of range [0, 100]"),
        (4, "`kind`: missing value"),
        (5, "`day`: cannot read '2024-13-45' as date"),
        (6, "`code`: 'ny' does not match ^[A-Z]{2}$"),
        (7, "`amount`: cannot read 'NaN' as double"),
        (8, "`id`: missing value"),
        (9, "`rate`: cannot read 'x%' as percent; `month`: cannot read 'Foo-2015' as month_year; "
            "`years`: cannot read 'many years' as emp_length"),
    ], "_row bigint, _reason string")
    assertDataFrameEqual(quarantine, expected)


def test_quarantine_keeps_the_text_as_it_arrived(spark, tmp_path):
    text = f"{HEADER}\n1,a,abc,,,,,\n"
    row = batch(spark, tmp_path, text).quarantine.first()
    assert (row["id"], row["amount"], row["_run_id"], row["_ingest_date"]) == ("1", "abc", "run-1", DAY)


def test_later_duplicates_of_a_key_are_refused_and_name_the_first(spark, tmp_path):
    text = f"{HEADER}\n1,a,1,,,,,\n1,x,2,,,,,\n1,b,3,,,,,\n2,a,4,,,,,\n"
    result = batch(spark, tmp_path, text)
    assertDataFrameEqual(result.silver.select("id", "amount"),
                         spark.createDataFrame([(1, 1.0), (2, 4.0)], "id bigint, amount double"))
    assertDataFrameEqual(result.quarantine.select("_row", "_reason"), spark.createDataFrame(
        [(2, "`kind`: 'x' is not one of a, b"), (3, "duplicate key (id): row 1 already has it")],
        "_row bigint, _reason string"))


def test_an_invalid_first_row_does_not_make_the_valid_one_a_duplicate(spark, tmp_path):
    text = f"{HEADER}\n1,x,1,,,,,\n1,a,2,,,,,\n"
    result = batch(spark, tmp_path, text)
    assert [r["_row"] for r in result.silver.collect()] == [2]


def test_malformed_records_go_to_quarantine_with_their_text(spark, tmp_path):
    text = f'{HEADER}\n1,a,1,,,,,\n2,a\n3,a,1,,,,,,extra\n4,a,1,,,,,\n5,"a,1\n'
    result = batch(spark, tmp_path, text)
    assert sorted(r["id"] for r in result.silver.collect()) == [1, 4]
    rows = {r["_row"]: r for r in result.quarantine.collect()}
    assert sorted(rows) == [2, 3, 5]
    assert all(r["_reason"].startswith("malformed CSV record") for r in rows.values())
    assert rows[2]["_raw_line"] == "2,a" and rows[5]["_raw_line"].startswith('5,"a,1')


def test_columns_are_found_by_header_name_not_position(spark, tmp_path):
    text = "amount,id,kind,extra\n5,1,a,ignored\n"
    silver = batch(spark, tmp_path, text).silver
    assert silver.select("id", "kind", "amount").first() == (1, "a", 5.0)


def test_a_missing_required_column_refuses_every_row(spark, tmp_path):
    text = "id,amount\n1,5\n2,6\n"
    result = batch(spark, tmp_path, text)
    assert result.silver.count() == 0
    assert {r["_reason"] for r in result.quarantine.collect()} == {"`kind`: column missing from file"}


def test_an_empty_file_is_a_clear_error(spark, tmp_path):
    with pytest.raises(ingest.EmptyLandingError, match="is empty: expected a header line"):
        ingest.extract(spark, [write(tmp_path, "")], SPEC)


def test_a_header_only_file_is_an_empty_day(spark, tmp_path):
    result = batch(spark, tmp_path, HEADER + "\n")
    assert result.bronze.count() == result.silver.count() == result.quarantine.count() == 0


# --- load ---------------------------------------------------------------------------------------

@pytest.fixture()
def lake(spark, tmp_path):
    return Lake(tmp_path / "lake", backend="embedded", spark=spark)


def ingest_text(spark, tmp_path, lake, text, day=DAY, run_id="run-1", max_share=1.0):
    path = write(tmp_path, text, name=f"things-{day}.csv")
    result = ingest.transform(ingest.extract(spark, [path], SPEC), SPEC, day, run_id)
    return ingest.load(lake, result, SPEC, day, run_id, [path], max_share)


def snapshot(lake):
    return {layer: lake.table(f"{layer}.things").to_pandas().sort_values(["_ingest_date", "_row"]).reset_index(drop=True)
            for layer in ("bronze", "silver", "quarantine")}


def test_every_row_lands_in_silver_or_quarantine(spark, tmp_path, lake):
    report = ingest_text(spark, tmp_path, lake, f"{HEADER}\n1,a,1,,,,,\n2,z,1,,,,,\n3,b,2,,,,,\n")
    assert (report.rows_in, report.rows_valid, report.rows_rejected) == (3, 2, 1)
    assert report.silver_inserted == 2
    assert report.reasons == {"`kind`: '...' is not one of a, b": 1}


def test_rerunning_a_day_changes_nothing(spark, tmp_path, lake):
    text = f"{HEADER}\n1,a,1,,,,,\n2,z,1,,,,,\n"
    ingest_text(spark, tmp_path, lake, text)
    before = snapshot(lake)
    silver_version = lake.table("silver.things").version()
    report = ingest_text(spark, tmp_path, lake, text)
    after = snapshot(lake)
    for layer in before:
        assert before[layer].equals(after[layer]), layer
    assert (report.silver_inserted, report.silver_updated) == (0, 0)
    assert lake.table("silver.things").version() == silver_version


def test_rerunning_an_old_day_does_not_undo_a_newer_one(spark, tmp_path, lake):
    day1, day2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
    ingest_text(spark, tmp_path, lake, f"{HEADER}\n1,a,1,,,,,\n", day=day1)
    ingest_text(spark, tmp_path, lake, f"{HEADER}\n1,b,9,,,,,\n", day=day2)
    ingest_text(spark, tmp_path, lake, f"{HEADER}\n1,a,1,,,,,\n", day=day1)
    row = lake.table("silver.things").to_pandas().iloc[0]
    assert (row["kind"], row["amount"], row["_ingest_date"]) == ("b", 9.0, day2)


def test_too_many_refusals_fail_and_leave_silver_as_it_was(spark, tmp_path, lake):
    ingest_text(spark, tmp_path, lake, f"{HEADER}\n1,a,1,,,,,\n", day=dt.date(2024, 3, 1))
    silver_before = lake.table("silver.things").to_pandas()
    with pytest.raises(ingest.RejectedShareExceeded, match=r"1 of 2 rows refused \(50.0% > 10.0%\)"):
        ingest_text(spark, tmp_path, lake, f"{HEADER}\n2,a,1,,,,,\n3,z,1,,,,,\n", max_share=0.10)
    assert lake.table("silver.things").to_pandas().equals(silver_before)
    quarantined = lake.table("quarantine.things").to_pandas()
    assert quarantined["id"].tolist() == ["3"]


def test_commits_carry_the_run_and_the_logical_date(spark, tmp_path, lake):
    ingest_text(spark, tmp_path, lake, f"{HEADER}\n1,a,1,,,,,\n", run_id="scheduled__2024-03-05")
    commit = lake.table("silver.things").history()[0]
    assert commit.metadata == {"logical_date": "2024-03-05", "run_id": "scheduled__2024-03-05", "source": "things"}


def test_loaders_type_text_exactly_as_ingest_does(spark, tmp_path):
    """SourceSpec.typed (pandas, the loaders) and ingest (Spark) read every cell the same way."""
    cells = {
        "id": ["1", "+2", " 3 ", "4", "5", "6", "7", "8", "9", "10"],
        "amount": ["1e2", ".5", "5.", "NaN", "Infinity", "x", "", "n/a", "-0", "12.25"],
        "rate": [" 13.56%", "6.39", "x%", "%", "NULL", "1e1%", "", "7%", "0.5", "null"],
        "day": ["2015-04-01", "2015-4-1", "2015-04", "2015", "2015-04-01T10:00", "20150401", "2015-02-30", "", "x", "2024-12-31"],
        "month": ["Apr-2015", "apr-2015", "April-2015", "Apr-15", "", "Dec-1999", "Sep-2015", "N/A", "x", "Jan-2000"],
        "years": ["10+ years", "< 1 year", "1 year", "3 years", "n/a", "3", "many years", "", "<1 year", "10"],
    }
    header = "id,kind,amount,rate,day,month,years,code"
    lines = [header] + [f"{cells['id'][i]},a,{cells['amount'][i]},{cells['rate'][i]},{cells['day'][i]},"
                        f"{cells['month'][i]},{cells['years'][i]}," for i in range(10)]
    parsed = batch(spark, tmp_path, "\n".join(lines) + "\n").parsed.orderBy("_row").toPandas()
    spark_typed = {c.name: parsed[f"__typed_{c.name}"].tolist() for c in SPEC.columns if c.name in cells}

    import pandas as pd
    pandas_typed = SPEC.typed(pd.DataFrame({c: cells.get(c, [""] * 10) for c in SPEC.column_names}))
    for name, values in spark_typed.items():
        mine = [None if pd.isna(v) else v for v in pandas_typed[name].tolist()]
        theirs = [None if v is None or (isinstance(v, float) and v != v) else v for v in values]
        assert mine == theirs, name


def test_records_and_their_numbers_survive_many_splits_and_quoted_line_breaks(spark, tmp_path):
    """The file is read in parallel splits; a quoted field with line breaks may cross a split."""
    lines, expected_rows, line = [HEADER + ",note"], {}, 1
    for n in range(1, 801):
        note = f'"first line of {n}\nsecond, with a comma\n""quoted"" third"' if n % 37 == 0 else f"plain {n}"
        expected_rows[n] = line  # the record's first line, counted after the header
        lines.append(f"{n},a,{n % 100},,,,,,{note}")
        line += 1 + note.count("\n")
    text = "\n".join(lines) + "\n"
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2k")
    try:
        path = write(tmp_path, text)
        assert spark.read.text(path).rdd.getNumPartitions() > 4
        result = ingest.transform(ingest.extract(spark, [path], SPEC), SPEC, DAY, "run-1")
        silver = {r["id"]: r["_row"] for r in result.silver.collect()}
        quarantined = result.quarantine.count()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert silver == expected_rows  # every record, numbered by its first line
    assert quarantined == 0  # the quoted line breaks, commas and quotes were read as one field
