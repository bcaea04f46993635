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


@pytest.fixture(params=BACKENDS)
def lake(request, spark, tmp_path):
    if request.param == "spark-delta" and not delta_connector_available(spark):
        pytest.skip(
            "spark-delta: the Delta Lake Spark jars are not on this session's classpath (no Maven "
            "access offline); set LAKESIDE_DELTA_PACKAGES or LAKESIDE_DELTA_JARS to run it"
        )
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
    assert table.merge(data, keys=["id"]) == {"inserted": 0, "updated": 0}
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
    table.overwrite(rows(spark, [(1, D1, "a", 1.0)]))
    table.overwrite(rows(spark, [(2, D1, "b", 2.0)]))
    assert len(table.vacuum(retention_hours=0, dry_run=True)) == 1
    removed = table.vacuum(retention_hours=0)
    assert len(removed) == 1
    assert not any(Path(table.uri, Path(name).name).exists() for name in removed)
    assertDataFrameEqual(table.read(), rows(spark, [(2, D1, "b", 2.0)]))


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
