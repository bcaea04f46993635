"""Request bodies of ``POST /invocations``: the four shapes clients send, checked against the
model's MLflow signature.

Shapes (all JSON objects):

- ``{"columns": [...], "data": [[...], ...]}``: MLflow 1.x split, the reference platform's;
  answered with a bare list of predictions.
- ``{"dataframe_split": {"columns": [...], "data": [[...]], "index": [...]}}``
- ``{"dataframe_records": [{"col": value, ...}, ...]}``
- ``{"inputs": [{...}, ...]}`` (records), ``{"inputs": {"col": [values], ...}}`` (columns) or
  ``{"inputs": {"col": value, ...}}`` (one row).

- ``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}``: the Open Inference Protocol V2
  body (KServe, Seldon, Triton clients): one tensor per column (shape ``[n]`` or ``[n, 1]``), or
  one ``[n, k]`` tensor of the signature's ``k`` columns in order; ``data`` flat (row-major) or
  nested. Answered in the protocol's form, ``{"model_name", "model_version", "id", "outputs"}``
  (:func:`oip_answer`).

The three MLflow 2+ shapes are answered with ``{"predictions": [...]}``, as MLflow answers.

Columns the signature does not name are refused (``strict``, the default) or, with the
``lenient`` policy, dropped and reported in :attr:`Rows.dropped`.

Every problem is a :class:`PayloadError` carrying the HTTP status and, where there is one,
the field and the row (0-based) it is about.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

LEGACY_SPLIT = "split"
OIP_V2 = "oip_v2"
SHAPES = ("dataframe_split", "dataframe_records", "inputs")
UNKNOWN_COLUMN_POLICIES = ("strict", "lenient")
OIP_FIELDS = frozenset({"name", "shape", "datatype", "data"})
OIP_DATATYPES = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                           "FP16", "FP32", "FP64", "BYTES"})


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
    """One column of a model's input signature (MLflow ``ColSpec``). ``name`` is what requests
    send (text); ``key`` is the name as the signature holds it (an integer for a model trained on
    a frame with integer column names), which the model's frame must use."""

    name: str
    type: str
    required: bool = True
    key: Any = None

    @property
    def frame_key(self) -> Any:
        return self.name if self.key is None else self.key


@dataclass
class Rows:
    """A request's rows, column-wise, in the signature's column order."""

    shape: str
    columns: dict[str, list[Any]] = field(default_factory=dict)
    count: int = 0
    dropped: list[str] = field(default_factory=list)


def signature_columns(schema) -> list[InputColumn] | None:
    """The input columns of an MLflow ``Schema``; ``None`` when the model has no column
    signature (then requests are passed on unchecked)."""
    if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
        return None
    return [InputColumn(str(c.name), str(c.type.name), bool(getattr(c, "required", True)),
                        None if isinstance(c.name, str) else c.name) for c in schema.inputs]


INTEGER_TYPES = frozenset({"long", "integer"})


def to_frame(columns: dict[str, list[Any]], signature: list[InputColumn] | None):
    """Checked rows as the pandas frame the model takes: the signature's own column keys,
    date-times parsed, and integer columns holding a missing value as pandas' nullable
    ``Int64`` (``pd.NA``) rather than objects."""
    import pandas as pd

    if signature is None:
        return pd.DataFrame(columns)
    data = {}
    for spec in signature:
        values = columns[spec.name]
        if spec.type == "datetime":
            values = datetimes(values)
        elif spec.type in INTEGER_TYPES and any(v is None for v in values):
            values = pd.array(values, dtype="Int64")
        data[spec.frame_key] = values
    return pd.DataFrame(data)


def datetimes(values: list[Any]):
    """Date-times as pandas parses them; ISO 8601 text (what clients send) by the fixed format
    first, three times quicker than pandas' format inference on a request's few values."""
    import pandas as pd

    try:
        return pd.to_datetime(values, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(pd.Series(values, dtype=object))


def missing_integers(frame, signature: list[InputColumn] | None) -> list[str]:
    """The integer columns of ``frame`` that hold a missing value."""
    return [spec.name for spec in signature or () if spec.type in INTEGER_TYPES
            and bool(frame[spec.frame_key].isna().any())]


def parse(body: dict[str, Any], signature: list[InputColumn] | None, max_rows: int,
          unknown_columns: str = "strict") -> Rows:
    """Read one of the five shapes into checked rows, or raise :class:`PayloadError`.

    ``unknown_columns``: ``strict`` refuses a column the signature does not name (422 naming
    it), ``lenient`` drops it and lists it in ``Rows.dropped``.
    """
    if unknown_columns not in UNKNOWN_COLUMN_POLICIES:
        raise ValueError(f"unknown-column policy {unknown_columns!r}: choose from {UNKNOWN_COLUMN_POLICIES}")
    shape, names, records = _rows_of(body, signature)
    if len(records) > max_rows:
        raise PayloadError(f"too many rows: {len(records)}, at most {max_rows} per request", status=413)
    if not records:
        raise PayloadError("no rows to predict", field=_data_field(shape))
    if signature is None:
        return _unchecked(shape, names, records)
    return _checked(shape, names, records, signature, lenient=unknown_columns == "lenient")


def oip_answer(predictions: list[Any], model_name: str, model_version: str,
               request_id: str | None = None) -> dict[str, Any]:
    """Predictions as an Open Inference Protocol V2 answer: one output ``predictions``, or one
    output per key when each prediction is an object (multi-output models)."""
    if predictions and all(isinstance(p, dict) for p in predictions):
        keys = list(dict.fromkeys(k for p in predictions for k in p))
        outputs = [_oip_output(str(k), [p.get(k) for p in predictions]) for k in keys]
    else:
        outputs = [_oip_output("predictions", predictions)]
    answer: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request_id is not None:
        answer["id"] = request_id
    return answer


def _oip_output(name: str, values: list[Any]) -> dict[str, Any]:
    shape = [len(values)]
    if values and all(isinstance(v, list) for v in values):
        width = {len(v) for v in values}
        if len(width) == 1:
            shape.append(width.pop())
            values = [x for v in values for x in v]
    return {"name": name, "shape": shape, "datatype": _oip_datatype(values), "data": values}


def _oip_datatype(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOL"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "FP64"
    return "BYTES"


def _rows_of(body: dict[str, Any], signature: list[InputColumn] | None = None) -> tuple[str, list[str] | None, list]:
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
    if is_oip(value):
        return OIP_V2, *_oip(value, signature)
    return shape, *_inputs(value)


def is_oip(inputs: Any) -> bool:
    """Whether ``inputs`` is a list of Open Inference Protocol V2 tensors (each an object with
    ``name``, ``shape``, ``datatype`` and ``data``, and at most ``parameters`` besides)."""
    return (isinstance(inputs, list) and bool(inputs)
            and all(isinstance(t, dict) and OIP_FIELDS <= t.keys() <= OIP_FIELDS | {"parameters"} for t in inputs))


def _oip(tensors: list[dict[str, Any]], signature: list[InputColumn] | None) -> tuple[list[str], list]:
    """Column names and rows of OIP V2 tensors: one tensor per column, or one ``[n, k]`` tensor
    holding the signature's ``k`` columns in order."""
    names, columns = [], []
    for i, tensor in enumerate(tensors):
        where = f"inputs[{i}]"
        name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
        if not isinstance(name, str) or not name:
            raise PayloadError("each tensor needs a 'name'", status=400, field=f"{where}.name")
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise PayloadError(f"tensor {name!r}: 'shape' must be a list of sizes", status=400, field=f"{where}.shape")
        if datatype not in OIP_DATATYPES:
            raise PayloadError(f"tensor {name!r}: unknown datatype {datatype!r}", status=400,
                               field=f"{where}.datatype")
        data = _flat(tensor["data"])
        if math.prod(shape) != len(data):
            raise PayloadError(f"tensor {name!r}: shape {shape} holds {math.prod(shape)} values, 'data' has "
                               f"{len(data)}", status=400, field=f"{where}.data")
        width = math.prod(shape[1:]) if len(shape) > 1 else 1
        if len(shape) > 2 or (width > 1 and len(tensors) > 1):
            raise PayloadError(f"tensor {name!r}: shape {shape}; send one [n] tensor per column, or a single "
                               "[n, k] tensor of the model's k columns", status=400, field=f"{where}.shape")
        if width > 1:
            if signature is None:
                names = [f"{name}_{j}" for j in range(width)]
            elif width == len(signature):
                names = [c.name for c in signature]
            else:
                raise PayloadError(f"tensor {name!r} has {width} columns; the model takes {len(signature)}: "
                                   f"{[c.name for c in signature]}", status=422, field=f"{where}.shape")
            return names, [data[r * width:(r + 1) * width] for r in range(shape[0])]
        names.append(name)
        columns.append(data)
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise PayloadError(f"the tensors have different row counts {sorted(lengths)}", status=400, field="inputs")
    if len(set(names)) != len(names):
        raise PayloadError(f"duplicate tensor names {sorted({n for n in names if names.count(n) > 1})}", status=400,
                           field="inputs")
    return names, [list(row) for row in zip(*columns)]


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    return [x for v in data for x in _flat(v)]


def _split(value: dict[str, Any], prefix: str) -> tuple[list[str], list]:
    columns, data = value.get("columns"), value.get("data")
    if isinstance(columns, list):
        columns = [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in columns]
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


def _checked(shape: str, names: list[str] | None, records: list, signature: list[InputColumn],
             lenient: bool = False) -> Rows:
    expected = {c.name for c in signature}
    field_name = _data_field(shape)
    dropped: dict[str, None] = {}
    if names is not None:
        _check_names(set(names), expected, signature, field_name, None, lenient, dropped)
        positions = {n: i for i, n in enumerate(names)}
        columns = {c.name: _column(c, [row[positions[c.name]] for row in records] if c.name in positions else None,
                                   len(records)) for c in signature}
    else:
        for row, record in enumerate(records):
            _check_names(set(record), expected, signature, field_name, row, lenient, dropped)
        columns = {c.name: _column(c, [record.get(c.name) for record in records], len(records)) for c in signature}
    return Rows(shape, columns, len(records), list(dropped))


def _check_names(given: set[str], expected: set[str], signature: list[InputColumn], field_name: str,
                 row: int | None, lenient: bool = False, dropped: dict[str, None] | None = None) -> None:
    extra = sorted(given - expected)
    if extra and lenient and dropped is not None:
        dropped.update(dict.fromkeys(extra))
    elif extra:
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
    return {LEGACY_SPLIT: "data", "dataframe_split": "dataframe_split.data", OIP_V2: "inputs"}.get(shape, shape)
