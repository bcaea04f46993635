"""The one table API every job uses, over two backends that share Delta's on-disk format.

    lake = open_lake(spark)              # backend from LAKESIDE_TABLE_BACKEND (default: auto)
    orders = lake.table("silver.orders") # <lake root>/silver/orders
    orders.merge(frame, keys=["id"], metadata={"run_id": run_id})
    orders.read(version=3)               # a Spark DataFrame, time travel included

``embedded`` (delta-rs) works anywhere; ``spark-delta`` (the Delta Lake Spark connector) is
chosen by ``auto`` when its classes are on the session's classpath. Both refuse a write whose
columns or types differ from the table's (:class:`SchemaMismatchError`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakeside.tables._data import is_spark_frame, prepare, to_arrow
from lakeside.tables._embedded import EmbeddedBackend
from lakeside.tables._schema import (
    FieldType,
    SchemaMismatchError,
    check_same_fields,
    fields_of_arrow,
    fields_of_spark,
)
from lakeside.tables._spark_delta import SparkDeltaBackend, delta_connector_available

__all__ = [
    "Commit",
    "DuplicateKeyError",
    "Lake",
    "SchemaMismatchError",
    "Table",
    "TableNotFoundError",
    "open_lake",
    "delta_connector_available",
]


class TableNotFoundError(LookupError):
    """No Delta table at that location."""


class DuplicateKeyError(ValueError):
    """A MERGE source holds the same key more than once."""


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp: dt.datetime
    operation: str
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    metadata: dict[str, Any]


class Table:
    """A Delta table at ``uri``. Every write is one atomic Delta commit."""

    def __init__(self, name: str, uri: str, backend) -> None:
        self.name = name
        self.uri = uri
        self._backend = backend

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {self.uri!r}, backend={self._backend.name!r})"

    @property
    def backend(self) -> str:
        return self._backend.name

    def exists(self) -> bool:
        return self._backend.exists(self.uri)

    def fields(self) -> list[FieldType]:
        self._require()
        return self._backend.fields(self.uri)

    def partition_columns(self) -> list[str]:
        self._require()
        return self._backend.partition_columns(self.uri)

    def overwrite(self, data: Any, partition_by: list[str] | None = None, *,
                  metadata: dict[str, str] | None = None) -> int:
        """Create the table, or replace all its rows (the schema must stay the same)."""
        data = prepare(data)
        if self.exists():
            self._check_schema(data)
            partition_by = self.partition_columns()
        self._backend.write(self.uri, data, mode="overwrite", partition_by=partition_by,
                            predicate=None, metadata=metadata or {})
        return self.version()

    def append(self, data: Any, partition_by: list[str] | None = None, *,
               metadata: dict[str, str] | None = None) -> int:
        if self.exists():
            self._check_schema(data)
            partition_by = self.partition_columns()
        self._backend.write(self.uri, data, mode="append", partition_by=partition_by,
                            predicate=None, metadata=metadata or {})
        return self.version()

    def replace_where(self, predicate: str, data: Any, partition_by: list[str] | None = None, *,
                      metadata: dict[str, str] | None = None) -> int:
        """Atomically replace the rows matching ``predicate`` (SQL) by ``data`` (Delta's replaceWhere).

        Every row of ``data`` must match the predicate. Creates the table when it is absent.
        """
        data = prepare(data)
        if not self.exists():
            return self.overwrite(data, partition_by, metadata=metadata)
        self._check_schema(data)
        self._backend.write(self.uri, data, mode="overwrite", partition_by=self.partition_columns(),
                            predicate=predicate, metadata=metadata or {})
        return self.version()

    def merge(self, data: Any, keys: list[str], partition_by: list[str] | None = None, *,
              newer_by: str | None = None, metadata: dict[str, str] | None = None) -> dict[str, int]:
        """Upsert on ``keys``: insert new keys, update rows whose values changed, leave the rest.

        Rows that did not change are not rewritten, so merging the same data twice leaves the
        table's rows as they were. With ``newer_by``, a row is only updated by data whose value
        in that column is at least the row's (re-running an old day does not undo a newer one).
        Creates the table when it is absent.
        """
        keys = list(keys)
        data = prepare(data)
        _check_unique_keys(self.name, data, keys)
        if not self.exists():
            self.overwrite(data, partition_by, metadata=metadata)
            return {"inserted": _count(data), "updated": 0}
        self._check_schema(data)
        columns = [f.name for f in self.fields()]
        if newer_by is not None and newer_by not in columns:
            raise ValueError(f"newer_by={newer_by!r} is not a column of {self.name}")
        return self._backend.merge(self.uri, data, keys=keys, columns=columns, newer_by=newer_by,
                                   metadata=metadata or {})

    def read(self, version: int | None = None):
        """The table (or one of its versions) as a Spark DataFrame."""
        self._require()
        return self._backend.read_spark(self.uri, version)

    def to_arrow(self, version: int | None = None, columns: list[str] | None = None) -> pa.Table:
        """The table (or one of its versions) in memory; only ``columns`` when given."""
        self._require()
        return self._backend.read_arrow(self.uri, version, columns)

    def to_pandas(self, version: int | None = None):
        return self.to_arrow(version).to_pandas()

    def version(self) -> int:
        self._require()
        return self._backend.version(self.uri)

    def history(self, limit: int | None = None) -> list[Commit]:
        """Commits, newest first."""
        self._require()
        return sorted((_commit(entry) for entry in self._backend.history(self.uri, limit)),
                      key=lambda c: c.version, reverse=True)

    def vacuum(self, retention_hours: int = 168, dry_run: bool = False) -> list[str]:
        """Delete files no version younger than ``retention_hours`` needs; returns them."""
        self._require()
        return self._backend.vacuum(self.uri, retention_hours, dry_run)

    def _require(self) -> None:
        if not self.exists():
            raise TableNotFoundError(f"no Delta table {self.name} at {self.uri}")

    def _check_schema(self, data: Any) -> None:
        actual = fields_of_spark(data.schema) if is_spark_frame(data) else fields_of_arrow(to_arrow(data).schema)
        check_same_fields(self.name, self.fields(), actual)


class Lake:
    """Tables under one root: ``<root>/<layer>/<name>`` for a table named ``layer.name``."""

    def __init__(self, root: str | Path, backend: str = "auto", spark=None) -> None:
        self.root = str(root).rstrip("/")
        self.spark = spark
        self._backend = _backend(backend, spark)

    @property
    def backend(self) -> str:
        return self._backend.name

    def table(self, name: str) -> Table:
        parts = name.split(".")
        if len(parts) != 2 or not all(p.replace("_", "").isalnum() for p in parts):
            raise ValueError(f"table names are 'layer.name' (letters, digits, _), got {name!r}")
        return Table(name, f"{self.root}/{parts[0]}/{parts[1]}", self._backend)


def open_lake(spark=None, backend: str | None = None, root: str | Path | None = None) -> Lake:
    """The lake configured by the environment (``LAKESIDE_HOME``, ``LAKESIDE_TABLE_BACKEND``)."""
    from lakeside.config import settings

    config = settings()
    return Lake(root or config.lake_root, backend or config.table_backend, spark)


def _backend(choice: str, spark):
    if choice == "embedded":
        return EmbeddedBackend(spark)
    if choice == "spark-delta":
        if not delta_connector_available(spark):
            raise RuntimeError(
                "LAKESIDE_TABLE_BACKEND=spark-delta but the Delta Lake Spark connector is not on this "
                "session's classpath: build the session with lakeside.spark.get_spark() and "
                "LAKESIDE_DELTA_PACKAGES or LAKESIDE_DELTA_JARS set, or use the embedded backend"
            )
        return SparkDeltaBackend(spark)
    if choice == "auto":
        return SparkDeltaBackend(spark) if delta_connector_available(spark) else EmbeddedBackend(spark)
    raise ValueError(f"unknown table backend {choice!r}: auto, embedded or spark-delta")


def _check_unique_keys(table: str, data: Any, keys: list[str]) -> None:
    if is_spark_frame(data):
        from pyspark.sql import functions as F

        dupes = data.groupBy(*keys).count().filter(F.col("count") > 1).limit(3).collect()
        examples = [tuple(row[k] for k in keys) for row in dupes]
    else:
        arrow = to_arrow(data)
        counts = arrow.group_by(keys).aggregate([([], "count_all")])
        repeated = counts.filter(pc.greater(counts["count_all"], 1)).slice(0, 3).to_pylist()
        examples = [tuple(row[k] for k in keys) for row in repeated]
    if examples:
        raise DuplicateKeyError(f"cannot merge into {table}: key {keys} repeats in the data, e.g. {examples}")


def _count(data: Any) -> int:
    return data.count() if is_spark_frame(data) else to_arrow(data).num_rows


def _commit(entry: dict[str, Any]) -> Commit:
    timestamp = entry.get("timestamp")
    if isinstance(timestamp, (int, float)):
        timestamp = dt.datetime.fromtimestamp(timestamp / 1000, tz=dt.timezone.utc)
    raw_meta = entry.get("userMetadata")
    try:
        metadata = json.loads(raw_meta) if raw_meta else {}
    except (TypeError, ValueError):
        metadata = {"userMetadata": raw_meta}
    return Commit(
        version=int(entry["version"]),
        timestamp=timestamp,
        operation=str(entry.get("operation")),
        parameters=dict(entry.get("operationParameters") or {}),
        metrics=dict(entry.get("operationMetrics") or {}),
        metadata=metadata,
    )
