"""Declarative description of a source: its columns as they arrive, and the rules of silver.

A raw file arrives as text. Each column has a *kind* that says how its text is read and what
type it has in silver; rules (required, allowed values, range, pattern) say which rows are
refused and go to quarantine instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# kind -> silver type (Spark SQL / Delta type name)
KIND_TYPES: dict[str, str] = {
    "string": "string",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "percent": "double",  # "13.56" or "13.56%"
    "date": "date",  # ISO "2015-04-01"
    "timestamp": "timestamp",  # ISO "2015-04-01 13:45:00"
    "month_year": "date",  # Lending Club "Apr-2015" -> 2015-04-01
    "emp_length": "int",  # Lending Club "10+ years", "< 1 year", "3 years" or a plain integer
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "string"
    required: bool = True
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KIND_TYPES:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}")

    @property
    def silver_type(self) -> str:
        return KIND_TYPES[self.kind]


@dataclass(frozen=True)
class SourceSpec:
    """A source: its columns in file order, its natural key and how silver is partitioned."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str = ""
    partition_by: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name!r}: duplicate column names")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"source {self.name!r}: key columns {missing} are not columns")
        for k in self.key:
            if not self.column(k).required:
                raise ValueError(f"source {self.name!r}: key column {k!r} must be required")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} has no column {name!r}")

    def silver_ddl(self) -> str:
        """Spark DDL of the typed columns (without ingest metadata)."""
        return ", ".join(f"`{c.name}` {c.silver_type}" for c in self.columns)


def read_text_csv(path: str, spec: SourceSpec, what: str, optional: tuple[str, ...] = (), skiprows: int = 0):
    """A public CSV as text (every cell a string), checked to hold the spec's columns.

    Raises ``ValueError`` naming the missing columns; ``optional`` columns may be absent.
    """
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False, skiprows=skiprows)
    raw.columns = raw.columns.str.strip()
    missing = [c for c in spec.column_names if c not in optional and c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: not a {what} file, missing columns: {', '.join(missing)}")
    return raw
