"""Request bodies of a pyfunc model that takes arrays: ``{"inputs": [[...], ...]}`` (one
tensor) or ``{"inputs": {"name": [[...]], ...}}`` (named tensors), checked against the
signature's tensor specs (shape, ``-1`` meaning any size, and dtype), and ``params`` checked
against the signature's params schema. Problems are :class:`~.payloads.PayloadError` naming
the field.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lakeside.serving.payloads import PayloadError


def tensor_inputs(value: Any, schema, max_rows: int) -> np.ndarray | dict[str, np.ndarray]:
    """``inputs`` as the array(s) the tensor signature ``schema`` describes."""
    specs = schema.inputs
    if schema.has_input_names():
        if not isinstance(value, dict):
            raise PayloadError(f"'inputs' must be an object of named arrays {[s.name for s in specs]}",
                               status=400, field="inputs")
        known = {spec.name for spec in specs}
        unknown = sorted(set(value) - known)
        if unknown:
            raise PayloadError(f"unknown input {unknown[0]!r}: the model takes {sorted(known)}", field=unknown[0])
        missing = [spec.name for spec in specs if spec.name not in value and getattr(spec, "required", True)]
        if missing:
            raise PayloadError(f"missing input {missing[0]!r}", field=missing[0])
        return {spec.name: _tensor(spec.name, value[spec.name], spec, max_rows) for spec in specs
                if spec.name in value}
    if len(specs) != 1:
        raise PayloadError(f"the model takes {len(specs)} unnamed tensors; send them as a list", field="inputs")
    return _tensor("inputs", value, specs[0], max_rows)


def free_inputs(value: Any, max_rows: int) -> Any:
    """``inputs`` for a model without a signature: records as a DataFrame, arrays as numpy
    arrays, named arrays as a dict of arrays; anything else as sent."""
    import pandas as pd

    if isinstance(value, list):
        _check_rows(len(value), max_rows)
        if value and all(isinstance(v, dict) for v in value):
            return pd.DataFrame(value)
        return _array_or_list(value)
    if isinstance(value, dict):
        return {k: _array_or_list(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


def check_params(params: Any, schema) -> dict[str, Any] | None:
    """``params`` checked against the params schema (None: the model takes none)."""
    if params is None:
        return None
    if not isinstance(params, dict):
        raise PayloadError("'params' must be an object of name: value", status=400, field="params")
    specs = {spec.name: spec for spec in schema.params} if schema is not None else {}
    checked = {}
    for name, value in params.items():
        spec = specs.get(name)
        if spec is None:
            takes = sorted(specs) if specs else "no params"
            raise PayloadError(f"unknown param {name!r}: the model takes {takes}", field=name)
        try:
            checked[name] = type(spec).validate_param_spec(value, spec)
        except Exception as error:  # noqa: BLE001 - MLflow's own check names the problem
            raise PayloadError(f"param {name!r}: {_message(error)}", field=name) from None
    return checked


def _tensor(field: str, value: Any, spec, max_rows: int) -> np.ndarray:
    if not isinstance(value, list):
        raise PayloadError(f"{field!r} must be an array", status=400, field=field)
    expected = tuple(spec.shape)
    try:
        array = np.asarray(value)
    except ValueError:
        raise _row_error(field, value, spec) or PayloadError(
            f"{field!r} is ragged: every row must have the same shape", field=field) from None
    if array.dtype == object:
        raise _row_error(field, value, spec) or PayloadError(
            f"{field!r} is ragged or mixes types: every row must have the same shape", field=field)
    if len(array.shape) != len(expected) or any(e not in (-1, a) for e, a in zip(expected, array.shape)):
        raise _row_error(field, value, spec) or PayloadError(
            f"{field!r} must have shape {_shape(expected)}, got {_shape(array.shape)}", field=field)
    if array.ndim:
        _check_rows(array.shape[0], max_rows)
    dtype = np.dtype(spec.type)
    if array.dtype == dtype:
        return array
    if array.dtype.kind == "b" and dtype.kind != "b" or not np.can_cast(array.dtype, dtype, casting="same_kind"):
        raise PayloadError(f"{field!r} must hold {_kind(dtype)}, got {_kind(array.dtype)}", field=field)
    return array.astype(dtype)


def _row_error(field: str, value: list, spec) -> PayloadError | None:
    """For a table of numbers (shape ``(-1, n)``): the first row that is not ``n`` values, or that
    holds something else than a number (null included), named with its row; None otherwise."""
    expected = tuple(spec.shape)
    if len(expected) != 2 or expected[1] == -1 or not isinstance(value, list):
        return None
    width, numbers = expected[1], np.dtype(spec.type).kind in "iuf"
    for row, values in enumerate(value):
        if not isinstance(values, list) or len(values) != width:
            size = f"{len(values)} values" if isinstance(values, list) else f"a {type(values).__name__}"
            problem = "is ragged" if row and isinstance(values, list) and len(value[0]) == width \
                else f"must have shape {_shape(expected)}"
            return PayloadError(f"{field!r} {problem}: row {row} has {size}, every row must have {width}",
                                field=field, row=row)
        if numbers:
            for position, item in enumerate(values):
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    return PayloadError(f"row {row} of {field!r} must hold numbers, got {item!r} at position "
                                        f"{position}", field=field, row=row)
    return None


def _check_rows(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise PayloadError(f"too many rows: {count}, at most {max_rows} per request", status=413)


def _array_or_list(value: list) -> Any:
    try:
        array = np.asarray(value)
    except ValueError:
        return value
    return value if array.dtype == object else array


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("any" if d == -1 else str(d) for d in shape) + ")"


def _kind(dtype: np.dtype) -> str:
    return {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers", "U": "strings", "S": "bytes"}.get(
        dtype.kind, str(dtype))


def _message(error: Exception) -> str:
    return getattr(error, "message", None) or str(error)
