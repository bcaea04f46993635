"""Declarative description of a source: its columns as they arrive, and the rules of silver.

A raw file arrives as text. Each column has a *kind* that says how its text is read and what
type it has in silver; rules (required, allowed values, range, pattern) say which rows are
refused and go to quarantine instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Cell texts that mean "no value" (after trimming), in ingest and in the loaders alike.
NULL_TOKENS = ("", "n/a", "N/A", "NULL", "null")

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
    header: str | None = None
    """The column's name in the raw file when it differs from ``name`` (the name in every table):
    Delta refuses names with spaces without column mapping, so "Normalized 0" arrives under
    that header and is stored as ``Normalized_0``."""

    def __post_init__(self) -> None:
        if self.kind not in KIND_TYPES:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}")

    @property
    def file_name(self) -> str:
        """The column's header in raw files."""
        return self.header or self.name

    @property
    def silver_type(self) -> str:
        return KIND_TYPES[self.kind]


@dataclass(frozen=True)
class RowCheck:
    """A rule across columns. ``refuse_when`` is a Spark SQL condition over the row's typed values,
    each column written as ``{name}`` (``"{newbalanceOrig} > {oldbalanceOrg} + 0.01"``); rows for
    which it is true are refused with ``reason``. Rows with a missing value in it are not judged
    by it (their missing value is refused on its own)."""

    reason: str
    refuse_when: str

    def columns(self) -> list[str]:
        import re

        return sorted(set(re.findall(r"\{(\w+)\}", self.refuse_when)))


@dataclass(frozen=True)
class SourceSpec:
    """A source: its columns in file order, its natural key and how silver is partitioned."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str = ""
    partition_by: tuple[str, ...] = field(default_factory=tuple)
    # A regular expression matching the summary lines an export appends (totals, not records):
    # ingest refuses them to quarantine with their own reason, outside the refused share.
    summary_lines: str | None = None
    row_checks: tuple[RowCheck, ...] = ()
    # The weekday (0 = Monday) a weekly export lands on; None: a file lands every day.
    landing_weekday: int | None = None

    def __post_init__(self) -> None:
        if self.landing_weekday is not None and self.landing_weekday not in range(7):
            raise ValueError(f"source {self.name!r}: landing_weekday must be 0 (Monday) to 6, "
                             f"not {self.landing_weekday!r}")
        names = self.column_names
        for check in self.row_checks:
            unknown = [c for c in check.columns() if c not in names]
            if unknown:
                raise ValueError(f"source {self.name!r}: row check {check.reason!r} names unknown columns {unknown}")
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

    @property
    def file_names(self) -> list[str]:
        """The columns' headers in raw files (``column_names`` where no header differs)."""
        return [c.file_name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} has no column {name!r}")

    def typed(self, raw):
        """The spec's columns of ``raw`` (a pandas frame of text) typed by their kind.

        The pandas twin of ingest's Spark typing, with the same rules: cells are trimmed, the
        :data:`NULL_TOKENS` and unreadable cells become missing. Types follow :func:`generate`:
        int -> int32, long -> int64 (nullable ``Int32``/``Int64`` when a value is missing),
        double/percent -> float64, date and month_year -> ``datetime.date`` objects,
        timestamp -> datetime64[ns], emp_length -> ``Int32``, string -> object. No rule
        (range, allowed values, pattern) is applied: that is ingest's job.
        """
        import pandas as pd

        return pd.DataFrame({c.name: typed_column(raw[c.name], c.kind) for c in self.columns}).reset_index(drop=True)

    def silver_ddl(self) -> str:
        """Spark DDL of the typed columns (without ingest metadata)."""
        return ", ".join(f"`{c.name}` {c.silver_type}" for c in self.columns)


def read_text_csv(path: str, spec: SourceSpec, what: str, optional: tuple[str, ...] = (), skiprows: int = 0):
    """A public CSV as text (every cell a string), checked to hold the spec's columns, whose
    file headers are renamed to the spec's column names.

    Raises ``ValueError`` naming the missing columns (as the file names them); ``optional``
    columns may be absent.
    """
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False, skiprows=skiprows)
    raw.columns = raw.columns.str.strip()
    missing = [c.file_name for c in spec.columns if c.name not in optional and c.file_name not in raw.columns]
    if missing:
        raise ValueError(f"{path}: not a {what} file, missing columns: {', '.join(missing)}")
    return raw.rename(columns={c.file_name: c.name for c in spec.columns if c.header})


def typed_column(texts, kind: str):
    """One column of text typed by ``kind`` (see :meth:`SourceSpec.typed`)."""
    import numpy as np
    import pandas as pd

    text = texts.astype("string").str.strip()
    text = text.mask(text.isin(NULL_TOKENS))
    if kind == "string":
        return text.astype(object).where(text.notna(), None)
    if kind in ("int", "long"):
        bits = 32 if kind == "int" else 64
        whole = text.where(text.str.fullmatch(r"[+-]?\d{1,19}").fillna(False))
        fits = whole.isna() | whole.map(lambda t: -(2 ** (bits - 1)) <= int(t) < 2 ** (bits - 1), na_action="ignore")
        return _integers(whole.where(fits.astype(bool)).astype("Int64"), bits)
    if kind in ("double", "percent"):
        if kind == "percent":
            text = text.str.replace(r"%$", "", regex=True)
        number = pd.to_numeric(text.astype(object), errors="coerce").astype("float64")
        return number.where(np.isfinite(number))
    if kind == "date":
        return _dates(text)
    if kind == "timestamp":
        return pd.to_datetime(text.astype(object), format="ISO8601", errors="coerce").astype("datetime64[ns]")
    if kind == "month_year":
        month_year = text.where(text.str.fullmatch(r"[A-Za-z]{3}-\d{4}").fillna(False))
        return _as_dates(pd.to_datetime(month_year.astype(object), format="%b-%Y", errors="coerce"))
    if kind == "emp_length":
        years = text.str.extract(r"^(\d+)\+?\s*(?:years?)?$", expand=False)
        less_than_one = text.str.fullmatch(r"<\s*1\s*years?").fillna(False)
        value = pd.to_numeric(years, errors="coerce").where(lambda v: v < 2**31)
        return _integers(value.mask(less_than_one, 0), 32, nullable=True)
    raise ValueError(f"no parser for kind {kind!r}")


def _integers(number, bits: int, nullable: bool = False):
    """Nullable ``Int32``/``Int64`` when asked or when a value is missing, else numpy ints."""
    number = number.astype(f"Int{bits}")
    return number if nullable or number.isna().any() else number.astype(f"int{bits}")


def _dates(text):
    """ISO dates as Spark reads them: "2015-04-01", "2015-4-1", "2015-04", "2015", or a timestamp's date."""
    import pandas as pd

    parts = text.str.extract(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ].*)?$")
    frame = pd.DataFrame({
        "year": pd.to_numeric(parts[0], errors="coerce"),
        "month": pd.to_numeric(parts[1], errors="coerce").fillna(1),
        "day": pd.to_numeric(parts[2], errors="coerce").fillna(1),
    })
    days = pd.to_datetime(frame.astype("float64"), errors="coerce") if len(frame) else pd.Series([], dtype="datetime64[ns]")
    days.index = text.index
    return _as_dates(days)


def _as_dates(timestamps):
    """datetime64 -> ``datetime.date`` objects, missing -> None."""
    import pandas as pd

    values = [None if pd.isna(t) else t.date() for t in timestamps]
    return pd.Series(values, index=timestamps.index, dtype=object)
