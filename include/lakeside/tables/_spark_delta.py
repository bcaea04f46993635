"""The spark-delta backend: the Delta Lake Spark connector (io.delta), used where its jars are on
Spark's classpath (the production image, or a user whose Spark can fetch `io.delta:delta-spark`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from lakeside.tables._data import is_spark_frame, to_arrow
from lakeside.tables._merge import update_condition
from lakeside.sparksql import quoted
from lakeside.tables._schema import FieldType, fields_of_spark

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def delta_connector_available(spark) -> bool:
    """True when the session was built with Delta's extension and its classes load."""
    if spark is None or DELTA_EXTENSION not in (spark.conf.get("spark.sql.extensions", "") or ""):
        return False
    try:
        from py4j.java_gateway import JavaClass

        return isinstance(spark._jvm.io.delta.tables.DeltaTable, JavaClass)
    except Exception:  # Spark Connect sessions have no JVM view: the server decides
        return False


class SparkDeltaBackend:
    name = "spark-delta"

    def __init__(self, spark) -> None:
        if spark is None:
            raise ValueError("the spark-delta backend needs a SparkSession")
        self.spark = spark

    def _delta(self, uri: str):
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, uri)

    def _frame(self, data: Any):
        return data if is_spark_frame(data) else self.spark.createDataFrame(to_arrow(data))

    def exists(self, uri: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, uri)

    def fields(self, uri: str) -> list[FieldType]:
        return fields_of_spark(self._delta(uri).toDF().schema)

    def partition_columns(self, uri: str) -> list[str]:
        return list(self._delta(uri).detail().first()["partitionColumns"])

    def write(self, uri: str, data: Any, *, mode: str, partition_by: list[str] | None,
              predicate: str | None, metadata: dict[str, str]) -> None:
        writer = self._frame(data).write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if predicate:
            writer = writer.option("replaceWhere", predicate)
        if metadata:
            writer = writer.option("userMetadata", json.dumps(metadata, sort_keys=True))
        writer.save(uri)

    def merge(self, uri: str, data: Any, *, keys: list[str], columns: list[str],
              newer_by: str | None, metadata: dict[str, str]) -> dict[str, int]:
        on = " AND ".join(f"t.{quoted(k)} = s.{quoted(k)}" for k in keys)
        changed = update_condition(columns, keys, newer_by, quoted)
        source = self._frame(data)
        if not _changes_anything(self._delta(uri).toDF(), source, on, keys, changed):
            return {"inserted": 0, "updated": 0}
        user_metadata = json.dumps(metadata, sort_keys=True) if metadata else None
        with _session_setting(self.spark, "spark.databricks.delta.commitInfo.userMetadata", user_metadata):
            merge = self._delta(uri).alias("t").merge(source.alias("s"), on)
            merge = merge.whenMatchedUpdateAll(condition=changed) if changed else merge
            merge.whenNotMatchedInsertAll().execute()
        metrics = self._delta(uri).history(1).first()["operationMetrics"] or {}
        return {
            "inserted": int(metrics.get("numTargetRowsInserted", 0)),
            "updated": int(metrics.get("numTargetRowsUpdated", 0)),
        }

    def read_arrow(self, uri: str, version: int | None, columns: list[str] | None = None) -> pa.Table:
        frame = self.read_spark(uri, version)
        return (frame.select(*[f"`{c}`" for c in columns]) if columns is not None else frame).toArrow()

    def read_spark(self, uri: str, version: int | None):
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(uri)

    def version(self, uri: str) -> int:
        return int(self._delta(uri).history(1).first()["version"])

    def history(self, uri: str, limit: int | None) -> list[dict[str, Any]]:
        rows = self._delta(uri).history(limit).collect() if limit else self._delta(uri).history().collect()
        return [row.asDict(recursive=True) for row in rows]

    def vacuum(self, uri: str, retention_hours: int, dry_run: bool) -> list[str]:
        target = f"delta.`{uri}`"
        # VACUUM lists files in one task per partition-discovery slot (10,000 by default):
        # minutes on a small local session. More tasks than cores gain nothing.
        cores = max(1, self.spark.sparkContext.defaultParallelism)
        listing = str(cores) if int(self.spark.conf.get(LISTING_PARALLELISM)) > cores else None
        with _session_setting(self.spark, RETENTION_CHECK, "false"), \
                _session_setting(self.spark, LISTING_PARALLELISM, listing):
            listed = self.spark.sql(f"VACUUM {target} RETAIN {int(retention_hours)} HOURS DRY RUN").collect()
            if not dry_run:
                self.spark.sql(f"VACUUM {target} RETAIN {int(retention_hours)} HOURS")
        return [row[0] for row in listed]


@contextmanager
def _session_setting(spark, key: str, value: str | None) -> Iterator[None]:
    """``key`` set to ``value`` (None: left as it is) for the block, then the session's own value again."""
    if value is None:
        yield
        return
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def _changes_anything(target, source, on: str, keys: list[str], changed: str) -> bool:
    """Whether a MERGE would insert or update a row. Delta Spark commits a new version even for a
    MERGE that changes nothing (delta-rs does not): checking first keeps a rerun version-neutral
    on both backends."""
    from pyspark.sql import functions as F

    joined = source.alias("s").join(target.alias("t"), F.expr(on), "left")
    new = F.col(f"t.{quoted(keys[0])}").isNull()
    return joined.filter(new | F.expr(changed) if changed else new).limit(1).count() > 0
