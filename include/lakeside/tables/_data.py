"""What a write accepts (a Spark DataFrame, a pyarrow Table, a pandas DataFrame or a DuckDB
relation) and the one timestamp rule every writer follows.

The timestamp rule: a timestamp is an instant, stored as Delta ``timestamp`` (microseconds,
UTC-adjusted). A naive timestamp (pandas ``datetime64`` without a zone, Arrow without ``tz``,
Spark ``timestamp_ntz``) is read as UTC, so a pandas writer and a Spark job that load the same
clock readings produce the same Delta type and the same values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")


def is_spark_frame(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pyspark.sql") and hasattr(data, "toArrow")


def _is_duckdb_relation(data: Any) -> bool:
    return type(data).__module__.startswith("duckdb") and hasattr(data, "to_arrow_table")


def prepare(data: Any) -> Any:
    """The data as it will be written: a Spark DataFrame stays one (timestamp rule applied
    lazily), anything else becomes a pyarrow Table."""
    return spark_with_instants(data) if is_spark_frame(data) else to_arrow(data)


def to_arrow(data: Any) -> pa.Table:
    """Arrow with the types Delta stores (see the timestamp rule)."""
    if isinstance(data, pa.Table):
        table = data
    elif is_spark_frame(data):
        table = spark_with_instants(data).toArrow()
    elif _is_duckdb_relation(data):
        table = data.to_arrow_table()
    else:
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"cannot write {type(data).__name__}: give a Spark DataFrame, pyarrow Table, "
                            "pandas DataFrame or DuckDB relation")
        table = pa.Table.from_pandas(data, preserve_index=False)
    schema = delta_schema(table.schema)
    return table if schema.equals(table.schema) else table.cast(schema)


def delta_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every top-level timestamp as microseconds; naive ones become UTC."""
    fields = [
        field.with_type(pa.timestamp("us", tz=field.type.tz or "UTC")) if pa.types.is_timestamp(field.type) else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def spark_with_instants(frame):
    """A Spark frame whose ``timestamp_ntz`` columns are ``timestamp`` (read as UTC)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType

    naive = [f.name for f in frame.schema.fields if isinstance(f.dataType, TimestampNTZType)]
    if not naive:
        return frame
    return frame.withColumns({
        name: F.from_utc_timestamp(F.col(f"`{name}`").cast("timestamp"), F.lit(_session_zone(frame)))
        for name in naive
    })


def _session_zone(frame) -> str:
    return frame.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"


@contextmanager
def spark_batches(frame, staging_root: str) -> Iterator[pa.RecordBatchReader]:
    """Stream a Spark result to the caller without collecting it on the driver.

    Spark's executors write the result as Parquet under ``staging_root`` (on the same storage
    as the tables, so a cluster's workers reach it); the caller reads it back batch by batch,
    with the timestamp rule applied. The staged files are deleted afterwards.
    """
    import pyarrow.dataset as ds
    from pyarrow.fs import FileSystem

    frame = spark_with_instants(frame)
    staging = f"{staging_root.rstrip('/')}/{uuid.uuid4().hex}"
    filesystem, path = FileSystem.from_uri(_as_uri(staging))
    frame.write.mode("errorifexists").parquet(staging)
    try:
        parquet = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us"))
        dataset = ds.dataset(path, format=parquet, filesystem=filesystem)
        schema = delta_schema(dataset.schema)
        batches = (batch.cast(schema) for batch in dataset.to_batches(batch_size=64 * 1024))
        yield pa.RecordBatchReader.from_batches(schema, batches)
    finally:
        filesystem.delete_dir(path)
        _delete_empty_dir(filesystem, path.rsplit("/", 1)[0])


def _as_uri(location: str) -> str:
    return location if "://" in location else f"file://{location}"


def _delete_empty_dir(filesystem, path: str) -> None:
    from pyarrow.fs import FileSelector

    try:
        if not filesystem.get_file_info(FileSelector(path)):
            filesystem.delete_dir(path)
    except OSError:
        pass  # another write is staging beside us, or it is gone already
