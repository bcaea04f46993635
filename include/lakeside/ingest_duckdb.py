"""Daily ingest on one machine: the same contract as :mod:`lakeside.ingest`, run by DuckDB.

The embedded backend keeps its tables with delta-rs on one machine, so its ingest has no need
for a JVM: a fresh Spark session spends more CPU compiling its own code than judging a day of
records. This engine reads the files with numpy and Python's ``csv`` module, types and judges
the records in SQL generated from the same :class:`SourceSpec`, and writes the same tables
through :func:`lakeside.ingest.write_day`. The contract suite (``tests/lakeside/test_ingest_duckdb.py``)
runs both engines over the same files and asserts the same bronze, silver and quarantine.

What a record is follows the Spark engine exactly: lines end at ``\\n``, ``\\r\\n`` or ``\\r``;
a line with an odd number of quote characters opens a quoted line break and the next such line
closes it; blank lines between records are skipped; ``_row`` is the record's first line counted
from the line after the header. Fields are read as RFC 4180 (doubled quotes inside quotes); a
record whose field count differs from the header's is malformed and keeps its text.
"""

from __future__ import annotations

import bz2
import csv
import datetime as dt
import gzip
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeside.datasets._spec import NULL_TOKENS, Column, SourceSpec
from lakeside.ingest import (
    MALFORMED_REASON, MAX_PREAMBLE_LINES, SUMMARY_REASON, Dialect, EmptyLandingError, IngestReport, column_errors,
    find_header, row_check_error, typed_name, write_day,
)
from lakeside.config import settings
from lakeside.landing import as_date
from lakeside.tables import Lake

log = logging.getLogger(__name__)

_NEWLINE, _CARRIAGE_RETURN, _QUOTE, _SPACE = 10, 13, 34, 32


@dataclass
class LocalBatch:
    """One day's records judged, held by a DuckDB connection: the three tables as DuckDB
    relations (each read into Arrow only when it is written, one at a time) and the counts the
    report needs. Close it (``with``) once written."""

    bronze: Any
    silver: Any
    quarantine: Any
    rows: int
    refused: int
    summary: int
    reasons: dict[str, int]
    connection: Any
    spill: str  # where DuckDB spills past LAKESIDE_INGEST_MEMORY

    def __enter__(self) -> "LocalBatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self.spill, ignore_errors=True)


def run(lake: Lake, files: list[str], spec: SourceSpec, day: dt.date | str, run_id: str,
        max_rejected_share: float) -> IngestReport:
    """Read ``files``, judge them, write the day: what the Spark engine's ``ingest.run`` does."""
    with transform(files, spec, day, run_id) as batch:
        return write_day(lake, spec, as_date(day), run_id, files, batch.bronze, batch.quarantine, batch.silver,
                         rows=batch.rows, refused=batch.refused, summary=batch.summary, reasons=batch.reasons,
                         max_rejected_share=max_rejected_share)


def transform(files: list[str], spec: SourceSpec, day: dt.date | str, run_id: str) -> LocalBatch:
    import duckdb

    if not files:
        raise FileNotFoundError(f"no raw {spec.name} files given")
    start = time.perf_counter()
    spill = tempfile.mkdtemp(prefix="lakeside-ingest-")
    con = duckdb.connect(config={"memory_limit": settings().ingest_memory, "temp_directory": spill})
    try:
        con.execute("SET TimeZone = 'UTC'").fetchall()
        judged = "CREATE TEMP TABLE judged AS {}"
        for path in files:
            for chunk in read_raw_file(path, spec):
                con.register("records", chunk.records)
                con.execute(judged.format(_judged_sql(spec, as_date(day), run_id, chunk.select_sql("records", spec))))
                con.unregister("records")
                judged = "INSERT INTO judged {}"
            log.info("%s: records read and judged in %.1f s", path, time.perf_counter() - start)
        for statement in _flag_duplicates_sql(spec):
            con.execute(statement).fetchall()
        rows, refused, summary = con.execute(
            "SELECT count(*), count(*) FILTER (len(_errors) > 0), "
            f"count(*) FILTER (list_contains(_errors, {_lit(SUMMARY_REASON)})) FROM judged").fetchall()[0]
        texts = ", ".join(_ident(c) for c in spec.column_names)
        meta = "_ingest_date, _source_file, _row"
        bronze = con.sql(f"SELECT {texts}, _raw_line, _missing_columns, {meta}, _run_id FROM judged")
        silver = con.sql(
            "SELECT " + ", ".join(f"{_ident(typed_name(c))} AS {_ident(c)}" for c in spec.column_names)
            + f", {meta} FROM judged WHERE len(_errors) = 0")
        quarantine = con.sql(
            f"SELECT {texts}, _raw_line, array_to_string(_errors, '; ') AS _reason, {meta}, _run_id "
            "FROM judged WHERE len(_errors) > 0")
        log.info("%s: %d records judged, %d refused (%d summary lines), in %.1f s",
                 spec.name, rows, refused, summary, time.perf_counter() - start)
        return LocalBatch(bronze, silver, quarantine, rows, refused, summary,
                          _reason_counts(con) if refused else {}, con, spill)
    except BaseException:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        raise


# --- extract ---------------------------------------------------------------------------------

@dataclass
class RawFile:
    """One file's records: ``value`` (the text), ``_fields`` and ``_row``, and its header."""

    path: str
    records: pa.Table
    header: list[str]
    missing: list[str]  # the spec's columns the header does not name

    def select_sql(self, table: str, spec: SourceSpec) -> str:
        """The spec's columns of the file's records as text, as the Spark engine reads them."""
        position = {name: i + 1 for i, name in enumerate(self.header)}
        cells = [(f"nullif(_fields[{position[c.file_name]}], '')" if c.file_name in position else "NULL::VARCHAR")
                 + f" AS {_ident(c.name)}" for c in spec.columns]
        missing = _lit(",".join(self.missing)) if self.missing else "NULL::VARCHAR"
        return (f"SELECT {', '.join(cells)}, CASE WHEN len(_fields) <> {len(self.header)} THEN value END AS _raw_line, "
                f"{missing} AS _missing_columns, {_lit(self.path)} AS _source_file, _row FROM {table}")


CHUNK_RECORDS = 500_000


def read_raw_file(path: str, spec: SourceSpec) -> Iterator[RawFile]:
    """The records of one CSV file, split into fields, :data:`CHUNK_RECORDS` at a time (see the
    module's docstring): only the file's bytes and a few numbers per line are held throughout."""
    chunk_records = CHUNK_RECORDS
    layout = _Layout.scan(path, spec)
    extra = [c for c in layout.header if c not in spec.file_names]
    if extra:
        log.warning("%s: ignoring columns %s that %s does not define", path, extra, spec.name)
    for first in range(0, max(len(layout.first_lines), 1), chunk_records):
        part = slice(first, first + chunk_records)
        values = _strings(layout.data, layout.starts[part], layout.ends[part])
        records = pa.table({"value": values, "_row": pa.array(layout.first_lines[part] + 1, pa.int64()),
                            "_fields": _fields(values)})
        yield RawFile(path, records, layout.header, layout.missing)


def _fields(values: pa.Array) -> pa.Array:
    """Each record's fields: split at commas where it has no quote, else read by ``csv``."""
    plain = pc.split_pattern(values, ",")
    quoted = pc.match_substring(values, '"').to_numpy(zero_copy_only=False)
    if not quoted.any():
        return plain
    positions, rest = np.flatnonzero(quoted), np.flatnonzero(~quoted)
    parsed = pa.array([_csv_fields(v) for v in values.take(positions).to_pylist()], plain.type)
    combined = pa.concat_arrays([plain.take(rest), parsed])
    return combined.take(np.argsort(np.concatenate([rest, positions]), kind="stable"))


def _csv_fields(record: str) -> list[str]:
    try:
        return next(csv.reader([record], strict=False), [])
    except csv.Error:  # a NUL byte, or a field past the module's size limit: keep the text whole
        return [record]


@dataclass
class _Layout:
    """Where a file's records are: their byte ranges and first lines (0-based, after the header)."""

    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    first_lines: np.ndarray
    header: list[str]
    missing: list[str]  # the spec's columns the header does not name

    @classmethod
    def scan(cls, path: str, spec: SourceSpec) -> "_Layout":
        data = _normalised_line_ends(_file_bytes(path))
        if len(data) == 0:
            raise EmptyLandingError(f"{path} is empty: expected a header line naming the columns")
        ends = np.flatnonzero(data == _NEWLINE)
        if len(ends) == 0 or ends[-1] != len(data) - 1:
            ends = np.append(ends, len(data))
        starts = np.concatenate(([0], ends[:-1] + 1))
        first_lines = [bytes(data[s:e]).decode("utf-8", errors="replace") for s, e in
                       zip(starts[:MAX_PREAMBLE_LINES + 1], ends[:MAX_PREAMBLE_LINES + 1])]
        header_line, header = find_header(first_lines, spec, path)
        missing = [c.name for c in spec.columns if c.file_name not in header]
        starts, ends = starts[header_line:], ends[header_line:]

        quotes = np.flatnonzero(data == _QUOTE)
        odd = np.flatnonzero((np.searchsorted(quotes, ends) - np.searchsorted(quotes, starts)) % 2 == 1)
        opening, closing = odd[0::2][: len(odd) // 2], odd[1::2]
        inside = np.zeros(len(starts) + 1, dtype=np.int64)
        np.add.at(inside, opening + 1, 1)
        np.add.at(inside, closing + 1, -1)
        continuation = np.cumsum(inside[:-1]) > 0  # lines after a record's first line, up to its last
        record_ends = ends.copy()
        record_ends[opening] = ends[closing]
        keep = ~continuation & ~_blank(data, starts, ends)
        return cls(data, starts[keep], record_ends[keep], np.flatnonzero(keep), header, missing)


def _file_bytes(path: str) -> np.ndarray:
    """The file's bytes; ``.gz`` and ``.bz2`` files decompressed, as Spark's text reader does."""
    for suffix, codec in ((".gz", gzip), (".bz2", bz2)):
        if path.endswith(suffix):
            with codec.open(path, "rb") as compressed:
                return np.frombuffer(compressed.read(), dtype=np.uint8)
    return np.fromfile(path, dtype=np.uint8)


def _normalised_line_ends(data: np.ndarray) -> np.ndarray:
    """``\\r\\n`` and a lone ``\\r`` as ``\\n``: the line ends Spark's text reader knows."""
    returns = np.flatnonzero(data == _CARRIAGE_RETURN)
    if len(returns) == 0:
        return data
    before_newline = returns[(returns + 1 < len(data)) & (data[np.minimum(returns + 1, len(data) - 1)] == _NEWLINE)]
    data = np.delete(data, before_newline)
    data[data == _CARRIAGE_RETURN] = _NEWLINE
    return data


def _blank(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines of spaces only (or empty), which Spark's ``trim`` makes empty."""
    blank = ends == starts
    candidates = np.flatnonzero(~blank & (data[np.minimum(starts, len(data) - 1)] == _SPACE))
    for i in candidates:
        blank[i] = not bytes(data[starts[i]:ends[i]]).strip(b" ")
    return blank


def _strings(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The byte ranges (in order, not overlapping) as one Arrow string array: 64-bit offsets,
    the bytes between them (line ends, blank lines) left out; invalid UTF-8 replaced."""
    if len(starts) == 0:
        return pa.array([], pa.large_string())
    base = starts[0]
    span = data[base:ends[-1]]
    mark = np.zeros(len(span) + 1, dtype=np.int8)
    mark[starts - base] += 1
    mark[ends - base] -= 1
    body = span[np.cumsum(mark[:-1], dtype=np.int8).astype(bool)]
    offsets = np.concatenate(([0], np.cumsum(ends - starts))).astype(np.int64)
    strings = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(body))
    try:
        strings.validate(full=True)
    except pa.ArrowInvalid:
        strings = pa.array([bytes(body[a:b]).decode("utf-8", errors="replace")
                            for a, b in zip(offsets[:-1], offsets[1:])], pa.large_string())
    return strings


# --- transform (DuckDB SQL from the spec) ----------------------------------------------------

def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


DUCKDB_SQL = Dialect(literal=_lit, name=_ident, number=repr, matches="regexp_matches({value}, {pattern})")


def _text_name(name: str) -> str:
    return f"__text_{name}"


def _judged_sql(spec: SourceSpec, day: dt.date, run_id: str, raw: str) -> str:
    """Every record typed and judged on its own, in three projections: each cell's text, its
    typed value, then the reasons (each a column reference, so no cell is read twice). The
    texts are dropped once judged: bronze keeps the cells as they arrived."""
    texts = ", ".join(f"{_text_of(c)} AS {_ident(_text_name(c.name))}" for c in spec.columns)
    typed = ", ".join(f"{_typed(c)} AS {_ident(typed_name(c.name))}" for c in spec.columns)
    errors = [e for c in spec.columns for e in column_errors(c, _text(c), DUCKDB_SQL)]
    errors += [row_check_error(r, DUCKDB_SQL) for r in spec.row_checks]
    summary = (f"_raw_line IS NOT NULL AND regexp_matches(_raw_line, {_lit(spec.summary_lines)})"
               if spec.summary_lines else "false")
    refused = " OR ".join(f"({e}) IS NOT NULL" for e in errors) or "false"
    judged = (f"CASE WHEN {summary} THEN [{_lit(SUMMARY_REASON)}] "
              f"WHEN _raw_line IS NOT NULL THEN [{_lit(MALFORMED_REASON)}] "
              f"WHEN {refused} THEN list_filter([{', '.join(errors)}], lambda e: e IS NOT NULL) "
              "ELSE []::VARCHAR[] END")
    scratch = ", ".join(_ident(_text_name(c.name)) for c in spec.columns)
    return (f"SELECT * EXCLUDE ({scratch}), {judged} AS _errors FROM (SELECT *, {typed} FROM ("
            f"SELECT *, DATE '{day.isoformat()}' AS _ingest_date, {_lit(run_id)} AS _run_id, {texts} FROM ({raw})))")


def _flag_duplicates_sql(spec: SourceSpec) -> list[str]:
    """The first valid record of a key (by file, then row) wins; later ones are refused and name
    its row. An update in place: the judged records keep their order (the files' order)."""
    keys = ", ".join(_ident(typed_name(k)) for k in spec.key)
    same = " AND ".join(f"j.{k} = f.{k}" for k in (_ident(typed_name(k)) for k in spec.key))
    message = _lit(f"duplicate key ({', '.join(spec.key)}): row ") + " || f.first[2] || " + _lit(" already has it")
    return [
        f"""CREATE TEMP TABLE firsts AS
            WITH repeated AS (SELECT {keys} FROM judged WHERE len(_errors) = 0 GROUP BY ALL HAVING count(*) > 1)
            SELECT {keys}, min((_source_file, _row)) AS first
            FROM judged SEMI JOIN repeated USING ({keys}) WHERE len(_errors) = 0 GROUP BY ALL""",
        f"""UPDATE judged AS j SET _errors = [{message}] FROM firsts AS f
            WHERE {same} AND len(j._errors) = 0 AND (j._source_file, j._row) <> f.first""",
    ]


def _text(column: Column) -> str:
    """The cell's text (see :func:`_text_of`), computed once per record."""
    return _ident(_text_name(column.name))


def _text_of(column: Column) -> str:
    """The cell's text, trimmed; null for the :data:`NULL_TOKENS`."""
    trimmed = f"trim({_ident(column.name)})"
    tokens = ", ".join(_lit(t) for t in NULL_TOKENS)
    return f"(CASE WHEN {trimmed} IN ({tokens}) THEN NULL ELSE {trimmed} END)"


_INTEGER = r"^[+-]?\d{1,19}$"
_ISO_DATE = r"^(\d{4})(-(\d{1,2})(-(\d{1,2}))?)?([T ].*)?$"
_YEARS = r"^(\d+)\+?\s*(years?)?$"
_UNDER_A_YEAR = r"^<\s*1\s*years?$"


def _typed(column: Column) -> str:
    """The column's silver value, read as the Spark engine reads it (see ``lakeside.ingest._typed``)."""
    text, kind = _text(column), column.kind
    if kind == "string":
        return text
    if kind in ("int", "long"):
        return f"(CASE WHEN regexp_matches({text}, {_lit(_INTEGER)}) THEN TRY_CAST({text} AS {'INTEGER' if kind == 'int' else 'BIGINT'}) END)"
    if kind in ("double", "percent"):
        digits = f"(CASE WHEN suffix({text}, '%') THEN left({text}, length({text}) - 1) ELSE {text} END)" \
            if kind == "percent" else text
        return f"(CASE WHEN NOT contains({text}, '_') THEN {_finite(f'TRY_CAST({digits} AS DOUBLE)', digits)} END)"
    if kind == "date":
        return _date(text)
    if kind == "timestamp":
        return (f"coalesce(TRY_CAST({text} AS TIMESTAMPTZ), "
                f"CASE WHEN NOT contains({text}, ':') THEN CAST({_date(text)} AS TIMESTAMPTZ) END)")
    if kind == "month_year":
        return f"(CASE WHEN regexp_matches({text}, '^[A-Za-z]{{3}}-\\d{{4}}$') THEN CAST(try_strptime({text}, '%b-%Y') AS DATE) END)"
    if kind == "emp_length":
        years = f"regexp_extract({text}, {_lit(_YEARS)}, 1)"
        return (f"(CASE WHEN regexp_matches({text}, {_lit(_UNDER_A_YEAR)}) THEN 0 "
                f"WHEN {years} <> '' THEN TRY_CAST({years} AS INTEGER) END)")
    raise ValueError(f"no parser for kind {kind!r}")


def _finite(number: str, digits: str) -> str:
    """A finite double, else null; like Java, a trailing d or f (``1.5d``) is allowed. DuckDB reads
    ``1_000`` where Spark does not: the caller refuses underscores."""
    suffixed = f"(CASE WHEN regexp_matches({digits}, '[0-9.][dDfF]$') THEN TRY_CAST(left({digits}, length({digits}) - 1) AS DOUBLE) END)"
    value = f"coalesce({number}, {suffixed})"
    return f"(CASE WHEN isfinite({value}) THEN {value} END)"


def _date(text: str) -> str:
    """ISO dates as Spark reads them: "2015-04-01", "2015-4-1", "2015-04", "2015", or a timestamp's date."""
    part = f"regexp_extract({text}, {_lit(_ISO_DATE)}, "
    month, day = f"coalesce(nullif({part}3), ''), '1')", f"coalesce(nullif({part}5), ''), '1')"
    return (f"(CASE WHEN regexp_matches({text}, {_lit(_ISO_DATE)}) THEN "
            f"TRY_CAST({part}1) || '-' || lpad({month}, 2, '0') || '-' || lpad({day}, 2, '0') AS DATE) END)")


def _reason_counts(con, top: int = 20) -> dict[str, int]:
    """Refusals per reason, the value quoted in it replaced by '...' (as the Spark engine counts)."""
    reason = "reason"
    for pattern, replacement in ((r"'[^']*'", "'...'"), (r": \S+ is out of range", ": ... is out of range"),
                                 (r"row \d+", "row ...")):
        reason = f"regexp_replace({reason}, {_lit(pattern)}, {_lit(replacement)}, 'g')"
    rows = con.execute(
        f"SELECT {reason} AS reason, count(*) AS n FROM (SELECT unnest(string_split(array_to_string(_errors, '; '), '; '))"
        " AS reason FROM judged WHERE len(_errors) > 0) "
        f"GROUP BY 1 ORDER BY n DESC, reason LIMIT {top}").fetchall()
    return {r: int(n) for r, n in rows}
