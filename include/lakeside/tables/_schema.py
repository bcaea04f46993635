"""Strict schema comparison, the same for every backend.

Both engines describe a table by the Delta schema (Spark's StructType JSON). Incoming data is
turned into that form (from Arrow or from Spark) and compared field by field: same names, same
types. delta-rs on its own casts silently (the string '3' into an integer column); Lakeside
refuses such a write instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa


class SchemaMismatchError(ValueError):
    """The data's columns or types differ from the table's."""


@dataclass(frozen=True)
class FieldType:
    name: str
    type: str  # Delta type: "integer", "long", "string", "date", "decimal(10,2)", or JSON for nested types


def fields_of_delta_json(schema_json: str) -> list[FieldType]:
    return [FieldType(f["name"], _type_text(f["type"])) for f in json.loads(schema_json)["fields"]]


def fields_of_arrow(schema: pa.Schema) -> list[FieldType]:
    from deltalake import Schema

    return fields_of_delta_json(Schema.from_arrow(schema).to_json())


def fields_of_spark(schema) -> list[FieldType]:
    """Spark's StructType JSON is the Delta schema format, names of types included."""
    return fields_of_delta_json(schema.json())


def check_same_fields(table: str, expected: list[FieldType], actual: list[FieldType]) -> None:
    """Raise :class:`SchemaMismatchError` listing every difference; column order is free."""
    want = {f.name: f.type for f in expected}
    got = {f.name: f.type for f in actual}
    problems = [f"missing column `{n}` ({t})" for n, t in want.items() if n not in got]
    problems += [f"unexpected column `{n}` ({t})" for n, t in got.items() if n not in want]
    problems += [
        f"column `{n}`: table has {t}, data has {got[n]}"
        for n, t in want.items()
        if n in got and got[n] != t
    ]
    if problems:
        raise SchemaMismatchError(f"refusing to write to {table}: " + "; ".join(problems))


def _type_text(delta_type) -> str:
    return delta_type if isinstance(delta_type, str) else json.dumps(delta_type, sort_keys=True)
