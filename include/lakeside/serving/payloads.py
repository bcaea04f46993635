"""Request bodies of ``POST /invocations``: the four shapes clients send, checked against the
model's MLflow signature.

Shapes (all JSON objects):

- ``{"columns": [...], "data": [[...], ...]}``: MLflow 1.x split, the reference platform's;
  answered with a bare list of predictions.
- ``{"dataframe_split": {"columns": [...], "data": [[...]], "index": [...]}}``
- ``{"dataframe_records": [{"col": value, ...}, ...]}``
- ``{"inputs": [{...}, ...]}`` (records), ``{"inputs": {"col": [values], ...}}`` (columns) or
  ``{"inputs": {"col": value, ...}}`` (one row).

The three MLflow 2+ shapes are answered with ``{"predictions": [...]}``, as MLflow answers.

Every problem is a :class:`PayloadError` carrying the HTTP status and, where there is one,
the field and the row (0-based) it is about.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

LEGACY_SPLIT = "split"
SHAPES = ("dataframe_split", "dataframe_records", "inputs")


class PayloadError(ValueError):
    """A request the model cannot take; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 422, field: str | None = None, row: int | None = None):
        super().__init__(message)
        self.status = status
        self.field = field
        self.row = row

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": str(self)}
        if self.field is not None:
            body["field"] = self.field
        if self.row is not None:
            body["row"] = self.row
        return body


@dataclass(frozen=True)
class InputColumn:
    """One column of a model's input signature (MLflow ``ColSpec``)."""

    name: str
    type: str
    required: bool = True


@dataclass
class Rows:
    """A request's rows, column-wise, in the signature's column order."""

    shape: str
    columns: dict[str, list[Any]] = field(default_factory=dict)
    count: int = 0


def signature_columns(schema) -> list[InputColumn] | None:
    """The input columns of an MLflow ``Schema``; ``None`` when the model has no column
    signature (then requests are passed on unchecked)."""
    if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
        return None
    return [InputColumn(c.name, str(c.type.name), bool(getattr(c, "required", True))) for c in schema.inputs]


def parse(body: dict[str, Any], signature: list[InputColumn] | None, max_rows: int) -> Rows:
    """Read one of the four shapes into checked rows, or raise :class:`PayloadError`."""
    shape, names, records = _rows_of(body)
    if len(records) > max_rows:
        raise PayloadError(f"too many rows: {len(records)}, at most {max_rows} per request", status=413)
    if not records:
        raise PayloadError("no rows to predict", field=_data_field(shape))
    if signature is None:
        return _unchecked(shape, names, records)
    return _checked(shape, names, records, signature)


def _rows_of(body: dict[str, Any]) -> tuple[str, list[str] | None, list]:
    """``(shape, column names or None for records, rows)``."""
    given = [key for key in (*SHAPES, "columns", "data") if body.get(key) is not None]
    if not given:
        raise PayloadError(
            "the body must have one of 'dataframe_split', 'dataframe_records', 'inputs', "
            "or 'columns' with 'data'", status=400,
        )
    new_shapes = [key for key in given if key in SHAPES]
    if len(new_shapes) > 1 or (new_shapes and {"columns", "data"} & set(given)):
        raise PayloadError(f"send exactly one input shape, got {given}", status=400)
    if not new_shapes:
        return LEGACY_SPLIT, *_split(body, prefix="")
    shape = new_shapes[0]
    value = body[shape]
    if shape == "dataframe_split":
        if not isinstance(value, dict):
            raise PayloadError("'dataframe_split' must be an object with 'columns' and 'data'", status=400,
                               field="dataframe_split")
        return shape, *_split(value, prefix="dataframe_split.")
    if shape == "dataframe_records":
        return shape, None, _records(value, "dataframe_records")
    return shape, *_inputs(value)


def _split(value: dict[str, Any], prefix: str) -> tuple[list[str], list]:
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise PayloadError("'columns' must be a list of column names", status=400, field=f"{prefix}columns")
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise PayloadError(f"duplicate column names {duplicated}", status=400, field=f"{prefix}columns")
    if not isinstance(data, list):
        raise PayloadError("'data' must be a list of rows", status=400, field=f"{prefix}data")
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise PayloadError(f"row {row} must be a list of {len(columns)} values, one per column", status=400,
                               field=f"{prefix}data", row=row)
    return columns, data


def _records(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise PayloadError(f"'{name}' must be a list of objects", status=400, field=name)
    for row, record in enumerate(value):
        if not isinstance(record, dict):
            raise PayloadError(f"row {row} of '{name}' must be an object of column: value", status=400,
                               field=name, row=row)
    return value


def _inputs(value: Any) -> tuple[list[str] | None, list]:
    if isinstance(value, list):
        return None, _records(value, "inputs")
    if not isinstance(value, dict):
        raise PayloadError("'inputs' must be a list of records or an object of columns", status=400, field="inputs")
    if not value:
        return None, []
    if all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) != 1:
            raise PayloadError(f"the columns of 'inputs' have different lengths {sorted(lengths)}", status=400,
                               field="inputs")
        names = list(value)
        return names, [list(row) for row in zip(*value.values())]
    return None, [value]


def _unchecked(shape: str, names: list[str] | None, records: list) -> Rows:
    if names is None:
        names = list(dict.fromkeys(k for record in records for k in record))
        columns = {n: [record.get(n) for record in records] for n in names}
    else:
        columns = {n: [row[i] for row in records] for i, n in enumerate(names)}
    return Rows(shape, columns, len(records))


def _checked(shape: str, names: list[str] | None, records: list, signature: list[InputColumn]) -> Rows:
    expected = {c.name for c in signature}
    field_name = _data_field(shape)
    if names is not None:
        _check_names(set(names), expected, signature, field_name, row=None)
        positions = {n: i for i, n in enumerate(names)}
        columns = {c.name: _column(c, [row[positions[c.name]] for row in records] if c.name in positions else None,
                                   len(records)) for c in signature}
    else:
        for row, record in enumerate(records):
            _check_names(set(record), expected, signature, field_name, row=row)
        columns = {c.name: _column(c, [record.get(c.name) for record in records], len(records)) for c in signature}
    return Rows(shape, columns, len(records))


def _check_names(given: set[str], expected: set[str], signature: list[InputColumn], field_name: str,
                 row: int | None) -> None:
    extra = sorted(given - expected)
    if extra:
        raise PayloadError(f"unknown column {extra[0]!r}: the model takes {[c.name for c in signature]}",
                           field=extra[0], row=row)
    missing = [c.name for c in signature if c.required and c.name not in given]
    if missing:
        raise PayloadError(f"missing column {missing[0]!r} (required by the model's signature)", field=missing[0],
                           row=row)


def _column(spec: InputColumn, values: list[Any] | None, count: int) -> list[Any]:
    if values is None:
        return [None] * count
    check = _CHECKS.get(spec.type)
    out = []
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if spec.required:
                what = "NaN" if value is not None else "a missing value (null)"
                raise PayloadError(f"{spec.name!r} has {what}; the column is required", field=spec.name, row=row)
            out.append(None)
            continue
        out.append(check(spec, value, row) if check else value)
    return out


def _bad(spec: InputColumn, value: Any, row: int, wanted: str) -> PayloadError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return PayloadError(f"{spec.name!r} must be {wanted}, got {shown}", field=spec.name, row=row)


def _as_float(spec: InputColumn, value: Any, row: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(spec, value, row, "a number")
    if isinstance(value, float) and math.isinf(value):
        raise _bad(spec, value, row, "a finite number")
    return float(value)


def _as_int(spec: InputColumn, value: Any, row: int) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(spec, value, row, "an integer")
    return value


def _as_bool(spec: InputColumn, value: Any, row: int) -> bool:
    if not isinstance(value, bool):
        raise _bad(spec, value, row, "true or false")
    return value


def _as_string(spec: InputColumn, value: Any, row: int) -> str:
    if not isinstance(value, str):
        raise _bad(spec, value, row, "a string")
    return value


def _as_datetime(spec: InputColumn, value: Any, row: int) -> dt.datetime:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _bad(spec, value, row, "an ISO date or date-time string such as '2024-01-31'")


_CHECKS = {
    "double": _as_float, "float": _as_float, "long": _as_int, "integer": _as_int,
    "boolean": _as_bool, "string": _as_string, "datetime": _as_datetime,
}


def _data_field(shape: str) -> str:
    return {LEGACY_SPLIT: "data", "dataframe_split": "dataframe_split.data"}.get(shape, shape)
