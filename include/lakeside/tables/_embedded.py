"""The embedded backend: delta-rs (the `deltalake` package), no JVM needed.

Spark reads an embedded table through the table's current file list (with ``basePath`` and
the table's own schema, so partition columns keep their types), or through Arrow when the
table uses features a plain file list cannot express (deletion vectors, column mapping).
Spark results are never collected on the driver: Spark writes them as Parquet to a staging
folder beside the table, and delta-rs writes (or merges) them from a stream of Arrow batches,
still in one commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from lakeside.tables._data import is_spark_frame, spark_batches, to_arrow
from lakeside.tables._merge import update_condition
from lakeside.tables._schema import FieldType, fields_of_delta_json

_FILE_LIST_UNSAFE_FEATURES = {"deletionVectors", "columnMapping"}


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, spark=None) -> None:
        self.spark = spark

    def exists(self, uri: str) -> bool:
        return DeltaTable.is_deltatable(uri)

    def fields(self, uri: str) -> list[FieldType]:
        return fields_of_delta_json(DeltaTable(uri).schema().to_json())

    def partition_columns(self, uri: str) -> list[str]:
        return list(DeltaTable(uri).metadata().partition_columns)

    def write(self, uri: str, data: Any, *, mode: str, partition_by: list[str] | None,
              predicate: str | None, metadata: dict[str, str]) -> None:
        with _arrow_stream(data, uri) as stream:
            write_deltalake(
                uri,
                stream,
                mode=mode,
                partition_by=partition_by or None,
                predicate=predicate,
                commit_properties=_commit(metadata),
            )

    def merge(self, uri: str, data: Any, *, keys: list[str], columns: list[str],
              newer_by: str | None, metadata: dict[str, str]) -> dict[str, int]:
        on = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
        changed = update_condition(columns, keys, newer_by, _quote)
        with _arrow_stream(data, uri) as stream:
            merger = DeltaTable(uri).merge(
                stream, predicate=on, source_alias="s", target_alias="t",
                commit_properties=_commit(metadata),
            )
            merger = merger.when_matched_update_all(predicate=changed or None) if changed else merger
            metrics = merger.when_not_matched_insert_all().execute()
        return {
            "inserted": int(metrics.get("num_target_rows_inserted", 0)),
            "updated": int(metrics.get("num_target_rows_updated", 0)),
        }

    def read_arrow(self, uri: str, version: int | None, columns: list[str] | None = None) -> pa.Table:
        return _table(uri, version).to_pyarrow_table(columns=columns)

    def read_spark(self, uri: str, version: int | None):
        from pyspark.sql.types import StructType

        if self.spark is None:
            raise ValueError("reading a table as a Spark DataFrame needs a SparkSession: open the lake with spark=...")
        table = _table(uri, version)
        schema = StructType.fromJson(json.loads(table.schema().to_json()))
        if _needs_arrow_read(table):
            return self.spark.createDataFrame(table.to_pyarrow_table(), schema=schema)
        files = table.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        frame = self.spark.read.schema(schema).option("basePath", uri).parquet(*files)
        return frame.select(*[f"`{name}`" for name in schema.names])

    def version(self, uri: str) -> int:
        return DeltaTable(uri).version()

    def history(self, uri: str, limit: int | None) -> list[dict[str, Any]]:
        return DeltaTable(uri).history(limit)

    def vacuum(self, uri: str, retention_hours: int, dry_run: bool) -> list[str]:
        return DeltaTable(uri).vacuum(
            retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False
        )


@contextmanager
def _arrow_stream(data: Any, uri: str) -> Iterator[Any]:
    """Arrow data for delta-rs; a Spark result streamed through ``<layer>/.lakeside-staging``."""
    if is_spark_frame(data):
        with spark_batches(data, f"{uri.rstrip('/').rsplit('/', 1)[0]}/.lakeside-staging") as stream:
            yield stream
    else:
        yield to_arrow(data)


def _table(uri: str, version: int | None) -> DeltaTable:
    return DeltaTable(uri) if version is None else DeltaTable(uri, version=version)


def _needs_arrow_read(table: DeltaTable) -> bool:
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    return bool(features & _FILE_LIST_UNSAFE_FEATURES) or table.metadata().configuration.get(
        "delta.columnMapping.mode", "none") != "none"


def _commit(metadata: dict[str, str]) -> CommitProperties:
    """``userMetadata`` is the commit field Delta Spark's writer option of that name fills."""
    return CommitProperties(custom_metadata={"userMetadata": json.dumps(metadata, sort_keys=True)} if metadata else None)


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'
