"""The DuckDB engine against the Spark engine: the same files give the same bronze, silver and
quarantine, and the same report; then what the engine's own load must keep (idempotent days,
the refused-share rule, days written by the other engine)."""

import datetime as dt
from pathlib import Path

import pytest

from lakeside import ingest, ingest_duckdb
from lakeside.datasets import appliances_energy, faults, fraud_reviewed_labels, loans, paysim, store_item, taxi_trips
from lakeside.datasets._spec import Column, SourceSpec
from lakeside.tables import Lake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
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
        Column("at", "timestamp", required=False),
        Column("note", "string", required=False),
    ),
    summary_lines=r"^Total",
)
HEADER = "id,kind,amount,rate,day,month,years,code,at,note"
DAY = dt.date(2024, 3, 5)

TEXTS = {
    "kinds": f"{HEADER}\n7, a ,12.5,13.56%,2015-04-01,Apr-2015,10+ years,NY,2015-04-01 10:00:00,x\n"
             "8,b,0,6.39,,Dec-1999,< 1 year,,2015-04-01T10:00,\n9,b,1e2,,n/a,,3 years,CA,2015-04-01,y\n"
             "10,a,1.5d,7%,2015-4-1,apr-2015,3,,2015-04-01 10:00:00+02:00,\n",
    "refusals": "\n".join([HEADER, "1,c,5,,,,,,,", "2,a,abc,,,,,,,", "3,a,101,,,,,,,", "4,,5,,,,,,,",
                           "5,a,5,,2024-13-45,,,,,", "6,a,5,,,,,ny,,", "7,a,NaN,,,,,,,", ",a,5,,,,,,,",
                           "9,a,5,x%,,Foo-2015,many years,,x,", "10,a,Infinity,,2015-02-30,,,,2015-13-01,",
                           "11,a,0x10,,,,,,,", "12,a,1_000,,,,,,,"]) + "\n",
    "duplicates": f"{HEADER}\n1,a,1,,,,,,,\n1,x,2,,,,,,,\n1,b,3,,,,,,,\n2,a,4,,,,,,,\n3,x,1,,,,,,,\n3,a,2,,,,,,,\n",
    "malformed": f'{HEADER}\n1,a,1,,,,,,,\n2,a\n3,a,1,,,,,,,,extra\n4,a,1,,,,,,,\n5,"a,1\n',
    "quoting": f'{HEADER}\n1,a,1,,,,,,,"two\nlines, ""quoted"""\n2,"a",2,,,,,,,""\n3,a,3,,,,,,, "q"\n'
               f'4,a,4,,,,,,,"one\n\n   \nblank inside"\n\n   \n5,a,5,,,,,,,5" pipe\n',
    "crlf": f"{HEADER}\r\n1,a,1,,,,,,,\r\n2,a,2,,,,,,,\"x\r\ny\"\r\n\r\n3,a,3,,,,,,,\r\n",
    "preamble and summary": f'Notes offered by Prospectus\n{HEADER}\n1,a,1,,,,,,,\n\n'
                            f'Total amount funded: 1\n"Total",2\n',
    "by header name": "amount,id,kind,extra\n5,1,a,ignored\n6,2,b,\n",
    "missing column": "id,amount\n1,5\n2,6\n",
    "header only": HEADER + "\n",
    "no final line break": f"{HEADER}\n1,a,1,,,,,,,\n2,b,2,,,,,,,",
}


def write(tmp_path, text, name="things.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


def rows(table) -> list[dict]:
    """A Spark DataFrame or an Arrow table as sorted rows; instants as naive UTC."""
    records = (table.toArrow() if hasattr(table, "toArrow") else table.to_arrow_table()).to_pylist()
    for record in records:
        for name, value in record.items():
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                record[name] = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return sorted(records, key=lambda r: (r["_source_file"], r["_row"]))


def assert_same_day(spark, files, spec, day=DAY):
    theirs = ingest.transform(ingest.extract(spark, files, spec), spec, day, "run-1")
    mine = ingest_duckdb.transform(files, spec, day, "run-1")
    cached = [theirs.judged.persist(), theirs.repeated.persist()]  # as ingest.load reads them
    with mine:
        for layer in ("bronze", "silver", "quarantine"):
            expected, actual = rows(getattr(theirs, layer)), rows(getattr(mine, layer))
            assert actual == expected, layer
            assert getattr(mine, layer).columns == getattr(theirs, layer).columns, layer
        counts = ingest._counts(theirs.parsed)
        assert (mine.rows, mine.refused, mine.summary) == (counts["rows"], counts["refused"], counts["summary"])
        assert mine.reasons == (ingest._reason_counts(theirs.quarantine) if counts["refused"] else {})
    for frame in cached:
        frame.unpersist()
    return mine


@pytest.mark.parametrize("case", sorted(TEXTS))
def test_both_engines_read_a_file_the_same(spark, tmp_path, case):
    assert_same_day(spark, [write(tmp_path, TEXTS[case])], SPEC)


def test_both_engines_read_several_files_and_keys_repeated_across_them_the_same(spark, tmp_path):
    first = write(tmp_path, f"{HEADER}\n1,a,1,,,,,,,\n2,a,2,,,,,,,\n", "a.csv")
    second = write(tmp_path, "kind,id,amount\nb,2,3\nb,3,4\n", "b.csv")
    mine = assert_same_day(spark, [first, second], SPEC)
    assert mine.reasons == {"duplicate key (id): row ... already has it": 1}


def test_records_judged_in_chunks_are_the_records_judged_at_once(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_duckdb, "CHUNK_RECORDS", 2)
    first = write(tmp_path, TEXTS["quoting"] + "1,a,9,,,,,,,\n", "a.csv")
    second = write(tmp_path, TEXTS["duplicates"], "b.csv")
    mine = assert_same_day(spark, [first, second], SPEC)
    assert mine.reasons["duplicate key (id): row ... already has it"] == 5


def test_both_engines_read_a_compressed_file_the_same(spark, tmp_path):
    import gzip

    path = tmp_path / "things.csv.gz"
    path.write_bytes(gzip.compress(TEXTS["quoting"].encode()))
    mine = assert_same_day(spark, [str(path)], SPEC)
    assert mine.rows == 5


@pytest.mark.parametrize("module, make", [
    (loans, lambda: loans.to_raw(loans.generate(400, seed=3))),
    (paysim, lambda: paysim.to_raw(paysim.generate(400, seed=3))),
    (fraud_reviewed_labels, lambda: fraud_reviewed_labels.to_raw(fraud_reviewed_labels.generate(200, seed=3))),
    (taxi_trips, lambda: taxi_trips.to_raw(taxi_trips.generate(300, seed=3))),
    (store_item, lambda: store_item.to_raw(store_item.generate(stores=2, items=3, years=1))),
    (appliances_energy, lambda: appliances_energy.to_raw(appliances_energy.generate(300, seed=3))),
], ids=lambda v: getattr(v, "__name__", "").rsplit(".", 1)[-1] or None)
def test_both_engines_judge_every_source_with_faults_the_same(spark, tmp_path, module, make):
    path = tmp_path / f"{module.SPEC.name}.csv"
    faults.inject(make(), module.SPEC, 0.08, seed=5).to_csv(path, index=False)
    mine = assert_same_day(spark, [str(path)], module.SPEC)
    assert mine.refused > 0


@pytest.mark.parametrize("module, fixture", [(loans, "LoanStats3a_excerpt.csv"),
                                             (appliances_energy, "energydata_complete_excerpt.csv")])
def test_both_engines_read_the_real_exports_the_same(spark, module, fixture):
    mine = assert_same_day(spark, [str(FIXTURES / fixture)], module.SPEC)
    assert mine.rows > mine.refused


def test_a_batch_is_read_from_duckdb_until_it_is_closed(tmp_path):
    batch = ingest_duckdb.transform([write(tmp_path, TEXTS["duplicates"])], SPEC, DAY, "run-1")
    spill = Path(batch.spill)
    with batch:
        assert batch.silver.to_arrow_table().column("id").to_pylist() == [1, 2, 3]
    assert not spill.exists()


def test_an_empty_file_is_a_clear_error(tmp_path):
    with pytest.raises(ingest.EmptyLandingError, match="is empty: expected a header line"):
        ingest_duckdb.transform([write(tmp_path, "")], SPEC, DAY, "run-1")


# --- load ---------------------------------------------------------------------------------------

@pytest.fixture()
def lake(tmp_path):
    return Lake(tmp_path / "lake", backend="embedded")


def tables(lake):
    return {layer: lake.table(f"{layer}.things").to_pandas().sort_values(["_ingest_date", "_row"]).reset_index(drop=True)
            for layer in ("bronze", "silver", "quarantine")}


def test_a_day_lands_every_record_and_a_rerun_changes_nothing(tmp_path, lake):
    path = write(tmp_path, TEXTS["duplicates"])
    report = ingest_duckdb.run(lake, [path], SPEC, DAY, "run-1", 1.0)
    assert (report.rows_in, report.rows_valid, report.rows_rejected, report.silver_inserted) == (6, 3, 3, 3)
    before, version = tables(lake), lake.table("silver.things").version()
    again = ingest_duckdb.run(lake, [path], SPEC, DAY, "run-1", 1.0)
    after = tables(lake)
    assert all(before[layer].equals(after[layer]) for layer in before)
    assert (again.silver_inserted, again.silver_updated) == (0, 0)
    assert lake.table("silver.things").version() == version


def test_a_day_written_by_spark_is_rerun_by_duckdb_to_the_same_tables(spark, tmp_path):
    lake = Lake(tmp_path / "lake", backend="embedded", spark=spark)
    path = write(tmp_path, TEXTS["kinds"] + "11,z,1,,,,,,,\n")
    ingest.run(spark, lake, [path], SPEC, DAY, "run-1", 1.0)
    before, version = tables(lake), lake.table("silver.things").version()
    report = ingest_duckdb.run(lake, [path], SPEC, DAY, "run-1", 1.0)
    after = tables(lake)
    for layer in before:
        assert before[layer].equals(after[layer]), layer
    assert (report.silver_inserted, report.silver_updated) == (0, 0)
    assert lake.table("silver.things").version() == version


def test_too_many_refusals_fail_and_leave_silver_as_it_was(tmp_path, lake):
    ingest_duckdb.run(lake, [write(tmp_path, f"{HEADER}\n1,a,1,,,,,,,\n", "d1.csv")], SPEC, dt.date(2024, 3, 1), "r", 1.0)
    silver = lake.table("silver.things").to_pandas()
    bad = write(tmp_path, f"{HEADER}\n2,a,1,,,,,,,\n3,z,1,,,,,,,\nTotal,9\n", "d2.csv")
    with pytest.raises(ingest.RejectedShareExceeded, match=r"1 of 2 rows refused \(50.0% > 10.0%\)"):
        ingest_duckdb.run(lake, [bad], SPEC, DAY, "r", 0.10)
    assert lake.table("silver.things").to_pandas().equals(silver)
    assert sorted(lake.table("quarantine.things").to_pandas()["_row"]) == [2, 3]
