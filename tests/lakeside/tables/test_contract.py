"""The table contract: every backend available here passes the same tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.testing import assertDataFrameEqual

from lakeside.tables import (
    DuplicateKeyError,
    Lake,
    SchemaMismatchError,
    TableNotFoundError,
    delta_connector_available,
)

BACKENDS = ["embedded", "spark-delta"]
SCHEMA = "id int, day date, name string, amount double"
NO_CONNECTOR = (
    "spark-delta: the Delta Lake Spark jars are not on this session's classpath (`make setup` "
    "fetches them with mvn into .cache/delta-jars when Maven Central is reachable; or set "
    "LAKESIDE_DELTA_JARS / LAKESIDE_DELTA_PACKAGES)"
)


def require_connector(spark):
    if not delta_connector_available(spark):
        pytest.skip(NO_CONNECTOR)


@pytest.fixture(params=BACKENDS)
def lake(request, spark, tmp_path):
    if request.param == "spark-delta":
        require_connector(spark)
    return Lake(tmp_path / "lake", backend=request.param, spark=spark)


def rows(spark, data):
    return spark.createDataFrame(data, SCHEMA)


D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)


def test_overwrite_then_read_back(lake, spark):
    table = lake.table("silver.things")
    data = rows(spark, [(1, D1, "a", 1.5), (2, D2, "b", None)])
    table.overwrite(data, partition_by=["day"])
    assertDataFrameEqual(table.read(), data)
    assert table.partition_columns() == ["day"]
    assert [f.type for f in table.fields()] == ["integer", "date", "string", "double"]


def test_partition_column_keeps_its_type_when_spark_reads(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]), partition_by=["day"])
    assert dict(table.read().dtypes)["day"] == "date"


def test_append_adds_rows(lake, spark):
    table = lake.table("bronze.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]))
    table.append(rows(spark, [(2, D2, "b", 2.0)]))
    assertDataFrameEqual(table.read(), rows(spark, [(1, D1, "a", 1.0), (2, D2, "b", 2.0)]))


def test_replace_where_replaces_only_matching_rows(lake, spark):
    table = lake.table("bronze.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0), (2, D2, "b", 2.0)]), partition_by=["day"])
    table.replace_where("day = '2024-01-01'", rows(spark, [(3, D1, "c", 3.0)]))
    assertDataFrameEqual(table.read(), rows(spark, [(3, D1, "c", 3.0), (2, D2, "b", 2.0)]))


def test_replace_where_twice_gives_the_same_rows(lake, spark):
    table = lake.table("bronze.things")
    day_rows = rows(spark, [(1, D1, "a", 1.0)])
    table.replace_where("day = '2024-01-01'", day_rows, partition_by=["day"])
    table.replace_where("day = '2024-01-01'", day_rows)
    assertDataFrameEqual(table.read(), day_rows)


def test_merge_inserts_updates_and_leaves_the_rest(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0), (2, D1, "b", 2.0)]))
    counts = table.merge(rows(spark, [(2, D2, "b2", 2.5), (3, D2, "c", 3.0)]), keys=["id"])
    assert counts == {"inserted": 1, "updated": 1}
    expected = rows(spark, [(1, D1, "a", 1.0), (2, D2, "b2", 2.5), (3, D2, "c", 3.0)])
    assertDataFrameEqual(table.read(), expected)


def test_merge_of_the_same_rows_changes_nothing(lake, spark):
    table = lake.table("silver.things")
    data = rows(spark, [(1, D1, "a", 1.0), (2, D1, None, None)])
    table.merge(data, keys=["id"])
    version = table.version()
    assert table.merge(data, keys=["id"]) == {"inserted": 0, "updated": 0}
    assert table.version() == version, "a MERGE that changes nothing makes no new version"
    assertDataFrameEqual(table.read(), data)


def test_merge_refuses_duplicate_keys_in_the_data(lake, spark):
    table = lake.table("silver.things")
    with pytest.raises(DuplicateKeyError, match=r"\(1,\)"):
        table.merge(rows(spark, [(1, D1, "a", 1.0), (1, D2, "b", 2.0)]), keys=["id"])
    assert not table.exists()


def test_time_travel_reads_an_old_version(lake, spark):
    table = lake.table("silver.things")
    first = rows(spark, [(1, D1, "a", 1.0)])
    v0 = table.overwrite(first)
    table.overwrite(rows(spark, [(9, D2, "z", 9.0)]))
    assertDataFrameEqual(table.read(version=v0), first)
    assert table.version() == v0 + 1


def test_a_read_of_some_columns_brings_only_those(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.5), (2, D2, "b", None)]), partition_by=["day"])
    table.append(rows(spark, [(3, D2, "c", 2.0)]))

    read = table.to_arrow(columns=["day", "amount"])
    assert read.column_names == ["day", "amount"]
    assert sorted(read.to_pylist(), key=str) == sorted(
        [{"day": D1, "amount": 1.5}, {"day": D2, "amount": None}, {"day": D2, "amount": 2.0}], key=str)
    assert table.to_arrow(version=0, columns=["id"]).column("id").to_pylist() in ([1, 2], [2, 1])


def test_history_records_operations_and_metadata(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]), metadata={"run_id": "r-1"})
    table.merge(rows(spark, [(2, D1, "b", 2.0)]), keys=["id"], metadata={"run_id": "r-2"})
    newest, oldest = table.history()
    assert (newest.version, oldest.version) == (1, 0)
    assert newest.operation == "MERGE" and oldest.operation == "WRITE"
    assert (newest.metadata, oldest.metadata) == ({"run_id": "r-2"}, {"run_id": "r-1"})


def test_vacuum_removes_files_old_versions_needed(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]).coalesce(1))  # one data file per version
    table.overwrite(rows(spark, [(2, D1, "b", 2.0)]).coalesce(1))
    assert len(table.vacuum(retention_hours=0, dry_run=True)) == 1
    removed = table.vacuum(retention_hours=0)
    assert len(removed) == 1
    assert not any(Path(table.uri, Path(name).name).exists() for name in removed)
    assertDataFrameEqual(table.read(), rows(spark, [(2, D1, "b", 2.0)]))


def test_vacuum_leaves_the_sessions_retention_check_as_it_was(lake, spark):
    key = "spark.databricks.delta.retentionDurationCheck.enabled"
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]))
    table.overwrite(rows(spark, [(2, D1, "b", 2.0)]))
    before = spark.conf.get(key, None)
    table.vacuum(retention_hours=0)
    assert spark.conf.get(key, None) == before
    spark.conf.set(key, "true")
    try:
        table.vacuum(retention_hours=0, dry_run=True)
        assert spark.conf.get(key) == "true"
    finally:
        spark.conf.unset(key)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("id string, day date, name string, amount double", "column `id`: table has integer, data has string"),
        ("id bigint, day date, name string, amount double", "column `id`: table has integer, data has long"),
        ("id int, day date, name string", "missing column `amount`"),
        ("id int, day date, name string, amount double, extra int", "unexpected column `extra`"),
    ],
)
def test_strict_schema_refuses_casts_and_drift(lake, spark, bad, message):
    table = lake.table("silver.things")
    original = rows(spark, [(1, D1, "a", 1.0)])
    table.overwrite(original)
    values = {"id string": "3", "id bigint": 3}.get(bad.split(",")[0], 3)
    row = [values, D2, "x", 2.0, 7][: len(bad.split(","))]
    data = spark.createDataFrame([tuple(row)], bad)
    for write in (table.append, table.overwrite, lambda d: table.merge(d, keys=["id"])):
        with pytest.raises(SchemaMismatchError, match=message):
            write(data)
    assertDataFrameEqual(table.read(), original)


def test_pandas_with_a_text_number_is_refused(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]))
    bad = pd.DataFrame({"id": ["3"], "day": [D2], "name": ["x"], "amount": [2.0]})
    with pytest.raises(SchemaMismatchError, match="column `id`: table has integer, data has string"):
        table.append(bad)


def test_arrow_and_pandas_writes_are_read_by_spark(lake, spark):
    table = lake.table("silver.things")
    arrow = pa.table({
        "id": pa.array([1], pa.int32()), "day": pa.array([D1]), "name": ["a"], "amount": [1.0],
    })
    table.overwrite(arrow)
    table.append(arrow.to_pandas().assign(id=lambda f: f.id + 1))
    assertDataFrameEqual(table.read(), rows(spark, [(1, D1, "a", 1.0), (2, D1, "a", 1.0)]))
    assert table.to_pandas().sort_values("id")["id"].tolist() == [1, 2]


def test_duckdb_relations_are_written_and_merged(lake, spark):
    import duckdb

    table = lake.table("silver.things")
    with duckdb.connect() as con:
        first = con.sql("SELECT 1::INTEGER AS id, DATE '2024-01-01' AS day, 'a' AS name, 1.0::DOUBLE AS amount")
        table.replace_where("day = '2024-01-01'", first, partition_by=["day"])
        changed = con.sql("SELECT * FROM (VALUES (1, DATE '2024-01-01', 'b', 2.0), (2, DATE '2024-01-01', 'c', 3.0)) "
                          "t(id, day, name, amount)").select("id::INTEGER AS id, day, name, amount::DOUBLE AS amount")
        assert table.merge(changed, keys=["id"]) == {"inserted": 1, "updated": 1}
    assertDataFrameEqual(table.read(), rows(spark, [(1, D1, "b", 2.0), (2, D1, "c", 3.0)]))


def test_missing_table_is_a_clear_error(lake):
    table = lake.table("silver.nothing")
    assert not table.exists()
    with pytest.raises(TableNotFoundError, match="silver.nothing"):
        table.read()


def test_empty_table_reads_as_empty_frame_with_schema(lake, spark):
    table = lake.table("silver.things")
    table.overwrite(spark.createDataFrame([], SCHEMA))
    frame = table.read()
    assert frame.count() == 0 and frame.schema.simpleString() == spark.createDataFrame([], SCHEMA).schema.simpleString()


def test_bad_table_names_are_refused(lake):
    with pytest.raises(ValueError, match="layer.name"):
        lake.table("../etc/passwd")


STAMPS = ["2024-01-01 00:00:00", "2024-03-31 01:30:00.123456", None]


def test_pandas_and_spark_timestamps_are_the_same_utc_instants(lake, spark):
    """One timestamp rule: naive pandas datetimes are UTC instants, like Spark's timestamps."""
    naive = pd.to_datetime(pd.Series(STAMPS), format="ISO8601")
    from_pandas = lake.table("silver.from_pandas")
    from_pandas.overwrite(pd.DataFrame({"id": [1, 2, 3], "at": naive}))
    from_spark = lake.table("silver.from_spark")
    from_spark.overwrite(spark.createDataFrame(
        [(i + 1, s) for i, s in enumerate(STAMPS)], "id bigint, at string").selectExpr("id", "CAST(at AS TIMESTAMP) AS at"))
    from_ntz = lake.table("silver.from_ntz")
    from_ntz.overwrite(spark.createDataFrame(
        [(i + 1, s) for i, s in enumerate(STAMPS)], "id bigint, at string").selectExpr("id", "CAST(at AS TIMESTAMP_NTZ) AS at"))

    for table in (from_pandas, from_spark, from_ntz):
        assert [(f.name, f.type) for f in table.fields()] == [("id", "long"), ("at", "timestamp")]
        read = table.to_pandas().sort_values("id")["at"].reset_index(drop=True)
        pd.testing.assert_series_equal(read, naive.dt.tz_localize("UTC").dt.as_unit("us"), check_names=False)
    assertDataFrameEqual(from_pandas.read(), from_spark.read())
    from_spark.append(pd.DataFrame({"id": [4], "at": pd.to_datetime(["2024-05-01 12:00"])}))
    assert from_spark.read().filter("id = 4").first()["at"] == dt.datetime(2024, 5, 1, 12, 0)


def test_a_spark_result_leaves_no_staged_files(lake, spark):
    table = lake.table("silver.things")
    data = spark.range(0, 5000, numPartitions=3).selectExpr(
        "CAST(id AS INT) AS id", "DATE'2024-01-01' AS day", "CAST(id AS STRING) AS name", "id / 2.0 AS amount")
    table.overwrite(data, partition_by=["day"])
    table.merge(data.filter("id >= 4000").selectExpr("id", "day", "'new' AS name", "amount"), keys=["id"])
    assert table.read().count() == 5000
    assert table.read().filter("name = 'new'").count() == 1000
    layer = Path(table.uri).parent
    assert sorted(p.name for p in layer.iterdir()) == ["things"]


@pytest.mark.parametrize("writer, reader", [("embedded", "spark-delta"), ("spark-delta", "embedded")])
def test_one_backend_reads_merges_and_time_travels_the_others_table(spark, tmp_path, writer, reader):
    require_connector(spark)
    first, second = (Lake(tmp_path / "lake", backend=b, spark=spark) for b in (writer, reader))
    original = rows(spark, [(1, D1, "a", 1.0), (2, D1, "b", 2.0)])
    v0 = first.table("silver.things").overwrite(original, partition_by=["day"], metadata={"run_id": "w"})

    table = second.table("silver.things")
    assert table.backend == reader and table.partition_columns() == ["day"]
    assertDataFrameEqual(table.read(), original)
    counts = table.merge(rows(spark, [(2, D2, "b2", 2.5), (3, D2, "c", 3.0)]), keys=["id"], metadata={"run_id": "r"})
    assert counts == {"inserted": 1, "updated": 1}
    merged = rows(spark, [(1, D1, "a", 1.0), (2, D2, "b2", 2.5), (3, D2, "c", 3.0)])
    assertDataFrameEqual(table.read(), merged)
    assertDataFrameEqual(table.read(version=v0), original)

    back = first.table("silver.things")
    assertDataFrameEqual(back.read(), merged)
    assertDataFrameEqual(back.read(version=v0), original)
    assert [(c.operation, c.metadata) for c in back.history()] == [("MERGE", {"run_id": "r"}), ("WRITE", {"run_id": "w"})]


def test_auto_picks_spark_delta_when_the_connector_is_there(spark, tmp_path):
    require_connector(spark)
    assert Lake(tmp_path, backend="auto", spark=spark).backend == "spark-delta"
    assert Lake(tmp_path, backend="auto").backend == "embedded"
