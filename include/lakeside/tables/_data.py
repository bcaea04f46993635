"""What a write accepts: a Spark DataFrame, a pyarrow Table or a pandas DataFrame."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def is_spark_frame(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pyspark.sql") and hasattr(data, "toArrow")


def to_arrow(data: Any) -> pa.Table:
    """Arrow with the types Delta stores: nanosecond timestamps become microseconds."""
    if isinstance(data, pa.Table):
        table = data
    elif is_spark_frame(data):
        table = data.toArrow()
    else:
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"cannot write {type(data).__name__}: give a Spark DataFrame, pyarrow Table or pandas DataFrame")
        table = pa.Table.from_pandas(data, preserve_index=False)
    return _microsecond_timestamps(table)


def _microsecond_timestamps(table: pa.Table) -> pa.Table:
    fields = []
    changed = False
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            field = field.with_type(pa.timestamp("us", tz=field.type.tz))
            changed = True
        fields.append(field)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata)) if changed else table
