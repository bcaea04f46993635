"""Daily ingest: one day's raw files -> bronze (as arrived) -> silver (typed, valid, merged on the
natural key) and quarantine (refused rows, each with its reason).

Ingest metadata: every row keeps its logical date (``_ingest_date``), source file and record
number; bronze and quarantine rows also name the Airflow run that wrote the day
(``_run_id``), and every commit carries the run id in its metadata (table history).

Every input record ends in silver or in quarantine. A day is idempotent: bronze and quarantine
replace that day's partition, silver merges on the key and only rewrites rows that changed
(and never with an older day's values). When the refused share passes the threshold, bronze
and quarantine still record what arrived and why it was refused, but silver is left as it was
and the run fails.

Files are read in parallel splits (lines numbered from each split's offset, quoted line breaks
joined back into records), so no step holds a whole file in one partition. Summary lines of
an export (``SourceSpec.summary_lines``) are refused with their own reason and do not count
towards the refused share.

The transforms (:func:`to_bronze`, :func:`parse`, :func:`split`) are pure DataFrame functions;
:func:`extract` reads files and :func:`load` writes tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakeside.datasets._spec import NULL_TOKENS, Column, RowCheck, SourceSpec
from lakeside.landing import as_date
from lakeside.sparksql import quoted, string
from lakeside.tables import Lake

log = logging.getLogger(__name__)

RAW_EXTRAS = ("_raw_line", "_missing_columns")
SUMMARY_REASON = "summary line of the export (totals), not a record"
MALFORMED_REASON = "malformed CSV record (wrong number of fields or unbalanced quotes)"
CORRUPT = "_corrupt_record"


class EmptyLandingError(ValueError):
    """A landing file with no header line: nothing can be read from it."""


class RejectedShareExceeded(RuntimeError):
    """More of the day's rows were refused than the configured threshold allows."""


@dataclass
class Batch:
    """One read of the files and everything derived from it.

    ``judged`` (each record typed and judged on its own) and ``repeated`` (the keys that valid
    records repeat) are what every other frame is computed from: :func:`load` caches both, so
    the files are parsed once and the duplicate keys found once.
    """

    bronze: DataFrame
    judged: DataFrame
    repeated: DataFrame
    parsed: DataFrame  # judged plus the duplicate-key rule: silver and quarantine are its two halves
    silver: DataFrame
    quarantine: DataFrame


@dataclass
class IngestReport:
    source: str
    logical_date: str
    run_id: str
    files: list[str]
    rows_in: int
    rows_valid: int
    rows_rejected: int
    rows_summary: int = 0  # of the refused: the export's summary lines, not counted in the share
    silver_inserted: int = 0
    silver_updated: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_share(self) -> float:
        """Refused records over records (summary lines are neither)."""
        records = self.rows_in - self.rows_summary
        return (self.rows_rejected - self.rows_summary) / records if records else 0.0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "rejected_share": round(self.rejected_share, 6)}, indent=2)


# --- extract ---------------------------------------------------------------------------------

def extract(spark: SparkSession, files: list[str], spec: SourceSpec) -> DataFrame:
    """Every record of the files as text: the spec's columns, the unreadable ones and provenance."""
    if not files:
        raise FileNotFoundError(f"no raw {spec.name} files given")
    frames = [read_raw_file(spark, path, spec) for path in files]
    raw = frames[0]
    for frame in frames[1:]:
        raw = raw.unionByName(frame)
    return raw


def read_raw_file(spark: SparkSession, path: str, spec: SourceSpec) -> DataFrame:
    """The records of one CSV file as text, read in parallel splits.

    The file is read as lines (splittable, unlike Spark's ``multiLine`` CSV reader), numbered
    from each split's offset, and lines are joined back into records where a quoted field
    holds line breaks (an odd number of quote characters opens or closes such a field). Each
    record is then parsed with the header's columns (``from_csv``); one whose fields do not
    match keeps its text in ``_raw_line``. Columns are found by their file header
    (``Column.file_name``) and named by the spec's table names. ``_row`` is the number of the record's first line
    counted from the first line after the header: the record number, unless earlier records
    span several lines or blank lines come between them; stable for a given file.
    Notice lines before the header (old Lending Club exports) are skipped and logged. A quote
    inside a quoted field is written twice (RFC 4180), as pandas and spreadsheets write it.
    """
    lines = _numbered_lines(spark, path)
    layout = _FileLayout.scan(lines, path, spec)
    missing = [c.name for c in spec.columns if c.file_name not in layout.header]
    extra = [c for c in layout.header if c not in spec.file_names]
    if extra:
        log.warning("%s: ignoring columns %s that %s does not define", path, extra, spec.name)
    numbered = lines.select(layout.line_number().alias("_line"), "value").filter(F.col("_line") > layout.header_line)
    records = _records(numbered, layout.multi_line_records(spark))
    ddl = ", ".join(f"`{name.replace('`', '``')}` STRING" for name in [*layout.header, CORRUPT])
    fields = F.from_csv("value", ddl, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "escape": '"'})
    parsed = records.filter(F.trim("value") != "").select(fields.alias("r"), "_line")
    return parsed.select(
        *[(F.col("r").getField(c.file_name) if c.file_name in layout.header else F.lit(None).cast("string"))
          .alias(c.name) for c in spec.columns],
        F.col("r").getField(CORRUPT).alias("_raw_line"),
        F.lit(",".join(missing) or None).cast("string").alias("_missing_columns"),
        F.lit(path).alias("_source_file"),
        (F.col("_line") - layout.header_line).cast("long").alias("_row"),
    )


_POSITION_BITS = 33  # monotonically_increasing_id: partition id above, position within below


def _numbered_lines(spark: SparkSession, path: str) -> DataFrame:
    """The file's lines with their split (partition) and position in it."""
    mid = F.monotonically_increasing_id()
    return spark.read.text(path).select(
        "value",
        F.shiftright(mid, _POSITION_BITS).cast("int").alias("_split"),
        mid.bitwiseAND(F.lit((1 << _POSITION_BITS) - 1)).alias("_position"),
    )


@dataclass
class _FileLayout:
    """What one pass over a file tells: lines per split, the header, lines opening quotes."""

    path: str
    split_offsets: list[int]
    odd_quote_lines: list[int]
    header: list[str]
    header_line: int

    @classmethod
    def scan(cls, lines: DataFrame, path: str, spec: SourceSpec) -> "_FileLayout":
        quotes = F.length("value") - F.length(F.regexp_replace("value", '"', ""))
        stats = (
            lines.groupBy("_split")
            .agg(F.count(F.lit(1)).alias("lines"),
                 F.sort_array(F.collect_list(F.when(quotes % 2 == 1, F.col("_position")))).alias("odd"))
            .orderBy("_split").collect()
        )
        if not stats or sum(row["lines"] for row in stats) == 0:
            raise EmptyLandingError(f"{path} is empty: expected a header line naming the columns")
        offsets, odd, total = {}, [], 0
        for row in stats:
            offsets[row["_split"]] = total
            odd.extend(total + position + 1 for position in row["odd"])
            total += row["lines"]
        splits = [offsets.get(i, 0) for i in range(max(offsets) + 1)]
        header_line, header = find_header([r["value"] for r in lines.limit(MAX_PREAMBLE_LINES + 1).collect()], spec, path)
        return cls(path, splits, [n for n in odd if n > header_line], header, header_line)

    def line_number(self) -> SparkColumn:
        """1-based line number in the file."""
        offsets = F.array(*[F.lit(o).cast("long") for o in self.split_offsets])
        return (F.element_at(offsets, F.col("_split") + 1) + F.col("_position") + 1).cast("long")

    def multi_line_records(self, spark: SparkSession) -> DataFrame | None:
        """(line, first line of its record) for every line of a record that spans lines.

        Lines with an odd number of quotes pair up: the first opens a quoted line break, the
        next closes it. A last unpaired one (an unbalanced quote) stays a record on its own.
        """
        pairs = list(zip(self.odd_quote_lines[::2], self.odd_quote_lines[1::2]))
        if not pairs:
            return None
        rows = [(line, first) for first, last in pairs for line in range(first, last + 1)]
        return spark.createDataFrame(rows, "_line long, _record long")


MAX_PREAMBLE_LINES = 5  # notice lines allowed before the header


def find_header(first_lines: list[str], spec: SourceSpec, path: str) -> tuple[int, list[str]]:
    """(line number, column names) of the header: the first line naming the spec's key columns
    within the first lines, else the first line."""
    parsed = [[(v or "").strip().lstrip("\ufeff") for v in next(csv.reader([line]), [])] for line in first_lines]
    number = next((i for i, names in enumerate(parsed) if set(spec.key) <= set(names)), 0)
    if number:
        log.warning("%s: skipping %d line(s) before the header: %s", path, number, first_lines[:number])
    names = parsed[number]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{path}: the header repeats columns {repeated}")
    return number + 1, names


def _records(numbered: DataFrame, multi_line: DataFrame | None) -> DataFrame:
    """One row per record (``value``, ``_line`` of its first line): lines, with those of a
    record spanning lines joined by line breaks."""
    if multi_line is None:
        return numbered
    tagged = numbered.join(F.broadcast(multi_line), "_line", "left")
    single = tagged.filter(F.col("_record").isNull()).select("_line", "value")
    joined = (
        tagged.filter(F.col("_record").isNotNull())
        .groupBy("_record")
        .agg(F.array_join(F.transform(F.sort_array(F.collect_list(F.struct("_line", "value"))),
                                      lambda part: part["value"]), "\n").alias("value"))
        .select(F.col("_record").alias("_line"), "value")
    )
    return single.unionByName(joined)


# --- transform -------------------------------------------------------------------------------

def transform(raw: DataFrame, spec: SourceSpec, day: dt.date | str, run_id: str) -> Batch:
    arrived = to_bronze(raw, spec, day, run_id)
    judged = judge(arrived, spec)
    repeated = repeated_keys(judged, spec)
    parsed = _flag_duplicate_keys(judged, repeated, spec)
    silver, quarantine = split(parsed, spec)
    bronze = judged.select(*arrived.columns)  # from the judged records, so a cache of them serves it too
    return Batch(bronze=bronze, judged=judged, repeated=repeated, parsed=parsed, silver=silver, quarantine=quarantine)


def to_bronze(raw: DataFrame, spec: SourceSpec, day: dt.date | str, run_id: str) -> DataFrame:
    """The records as they arrived (text), with the ingest metadata; never the wall clock."""
    return raw.select(
        *[F.col(f"`{c}`") for c in spec.column_names],
        *RAW_EXTRAS,
        F.lit(as_date(day)).alias("_ingest_date"),
        "_source_file",
        "_row",
        F.lit(run_id).alias("_run_id"),
    )


def parse(bronze: DataFrame, spec: SourceSpec) -> DataFrame:
    """Bronze plus each column typed (``__typed_<name>``) and ``_errors``, the reasons to refuse it."""
    judged = judge(bronze, spec)
    return _flag_duplicate_keys(judged, repeated_keys(judged, spec), spec)


def judge(bronze: DataFrame, spec: SourceSpec) -> DataFrame:
    """:func:`parse` without the duplicate-key rule: every record judged on its own.

    Types and checks are written as Spark SQL, one expression per column and one for the
    reasons: built from Column objects, a wide source (107 columns) took tens of thousands of
    calls into the JVM and more time than reading its file.
    """
    typed = [f"{_typed(c)} AS {quoted(typed_name(c.name))}" for c in spec.columns]
    with_types = bronze.selectExpr("*", *typed)
    errors = [e for c in spec.columns for e in column_errors(c, _text(c), SPARK_SQL)]
    errors += [row_check_error(r, SPARK_SQL) for r in spec.row_checks]
    malformed = string(MALFORMED_REASON)
    summary = (f"_raw_line IS NOT NULL AND _raw_line RLIKE {string(spec.summary_lines)}"
               if spec.summary_lines else "false")
    # The array of reasons is only built where one applies: ``filter`` with a lambda is
    # interpreted, not compiled, and built on every row it cost more than parsing and typing.
    refused = " OR ".join(f"({error}) IS NOT NULL" for error in errors) or "false"
    errors = (
        f"CASE WHEN {summary} THEN array({string(SUMMARY_REASON)}) "
        f"WHEN _raw_line IS NOT NULL THEN array({malformed}) "
        f"WHEN {refused} THEN filter(array({', '.join(errors)}), e -> e IS NOT NULL) "
        "ELSE CAST(array() AS array<string>) END"
    )
    return with_types.withColumn("_errors", F.expr(errors))


def _valid() -> SparkColumn:
    return F.size("_errors") == 0


def _position() -> SparkColumn:
    """Where a record is: its file, then its row."""
    return F.struct("_source_file", "_row")


def split(parsed: DataFrame, spec: SourceSpec) -> tuple[DataFrame, DataFrame]:
    """(silver rows, quarantine rows)."""
    valid = _valid()
    silver = parsed.filter(valid).select(
        *[F.col(typed_name(c.name)).alias(c.name) for c in spec.columns],
        "_ingest_date", "_source_file", "_row",
    )
    quarantine = parsed.filter(~valid).select(
        *[F.col(f"`{c}`") for c in spec.column_names],
        "_raw_line",
        F.array_join("_errors", "; ").alias("_reason"),
        "_ingest_date", "_source_file", "_row", "_run_id",
    )
    return silver, quarantine


def typed_name(name: str) -> str:
    """The column of a cell's typed value while records are judged (both engines)."""
    return f"__typed_{name}"


def _text(column: Column) -> str:
    """The cell's text, trimmed; null for the :data:`NULL_TOKENS`."""
    trimmed = f"trim({quoted(column.name)})"
    tokens = ", ".join(string(t) for t in NULL_TOKENS)
    return f"(CASE WHEN {trimmed} IN ({tokens}) THEN NULL ELSE {trimmed} END)"


_YEARS = r"^(\d+)\+?\s*(years?)?$"  # "10+ years", "3 years", "3"
_UNDER_A_YEAR = r"^<\s*1\s*years?$"


def _typed(column: Column) -> str:
    text = _text(column)
    kind = column.kind
    if kind == "string":
        return text
    if kind in ("int", "long"):
        return f"try_cast({text} AS {'int' if kind == 'int' else 'bigint'})"
    if kind in ("double", "percent"):
        digits = f"regexp_replace({text}, '%$', '')" if kind == "percent" else text
        number = f"try_cast({digits} AS double)"
        return f"(CASE WHEN isnan({number}) OR abs({number}) = CAST('Infinity' AS double) THEN NULL ELSE {number} END)"
    if kind == "date":
        return f"try_to_date({text})"
    if kind == "timestamp":
        return f"try_to_timestamp({text})"
    if kind == "month_year":
        return f"try_to_date({text}, 'MMM-yyyy')"
    if kind == "emp_length":
        years = f"regexp_extract({text}, {string(_YEARS)}, 1)"
        return (f"(CASE WHEN {text} RLIKE {string(_UNDER_A_YEAR)} THEN 0 "
                f"WHEN {years} != '' THEN try_cast({years} AS int) ELSE CAST(NULL AS int) END)")
    raise ValueError(f"no parser for kind {kind!r}")


@dataclass(frozen=True)
class Dialect:
    """How an engine's SQL writes what the checks of a source need: both engines build their
    reasons to refuse from :func:`column_errors` and :func:`row_check_error`."""

    literal: Callable[[str], str]  # a string literal
    name: Callable[[str], str]  # a quoted column name
    number: Callable[[float], str]  # a double literal
    matches: str  # a regular expression search, "{value}" and "{pattern}" filled in


SPARK_SQL = Dialect(literal=string, name=quoted, number=lambda v: str(v) if isinstance(v, int) else f"{float(v)!r}D",
                    matches="{value} RLIKE {pattern}")


def column_errors(column: Column, text: str, sql: Dialect) -> list[str]:
    """The column's reasons to refuse a record, each null where it does not apply; ``text`` is
    the cell's trimmed text (null for the null tokens), ``__typed_<name>`` its typed value."""
    name = column.name
    value = sql.name(typed_name(name))
    absent = (f"contains(concat({sql.literal(',')}, coalesce(_missing_columns, {sql.literal('')}), {sql.literal(',')}), "
              f"{sql.literal(f',{name},')})")

    def quoting(before: str, after: str) -> str:
        return f"concat({sql.literal(before)}, {text}, {sql.literal(after)})"

    checks = []
    if column.required:
        checks += [(absent, sql.literal(f"`{name}`: column missing from file")),
                   (f"NOT {absent} AND {text} IS NULL", sql.literal(f"`{name}`: missing value"))]
    if column.kind != "string":
        checks.append((f"{text} IS NOT NULL AND {value} IS NULL", quoting(f"`{name}`: cannot read '", f"' as {column.kind}")))
    if column.allowed:
        allowed = ", ".join(sql.literal(a) for a in column.allowed)
        checks.append((f"{value} IS NOT NULL AND NOT {value} IN ({allowed})",
                       quoting(f"`{name}`: '", f"' is not one of {', '.join(column.allowed)}")))
    if column.min is not None or column.max is not None:
        bounds = [f"{value} < {sql.number(column.min)}" if column.min is not None else None,
                  f"{value} > {sql.number(column.max)}" if column.max is not None else None]
        checks.append((f"{value} IS NOT NULL AND ({' OR '.join(b for b in bounds if b)})",
                       quoting(f"`{name}`: ", f" is out of range [{column.min}, {column.max}]")))
    if column.pattern:
        search = sql.matches.format(value=f"CAST({value} AS STRING)", pattern=sql.literal(column.pattern))
        checks.append((f"{value} IS NOT NULL AND NOT ({search})", quoting(f"`{name}`: '", f"' does not match {column.pattern}")))
    return [f"CASE WHEN {condition} THEN {message} END" for condition, message in checks]


def row_check_error(check: RowCheck, sql: Dialect) -> str:
    """The check's reason when its condition holds over the typed values (null: not judged)."""
    condition = check.refuse_when.format(**{c: sql.name(typed_name(c)) for c in check.columns()})
    return f"CASE WHEN coalesce({condition}, false) THEN {sql.literal(check.reason)} END"


def repeated_keys(judged: DataFrame, spec: SourceSpec) -> DataFrame:
    """The keys that valid records repeat, each with the position (file, row) of its first one.

    A narrow aggregate, not a sort of whole records (which cost more than the rest of the parse).
    """
    keys = [typed_name(k) for k in spec.key]
    return (
        judged.filter(_valid()).groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("__records"), F.min(_position()).alias("__first"))
        .filter(F.col("__records") > 1)
        .select(*[F.col(k).alias(f"__repeated{k}") for k in keys], "__first")
    )


def _flag_duplicate_keys(judged: DataFrame, repeated: DataFrame, spec: SourceSpec) -> DataFrame:
    """The first valid record of a key (by file, then row) wins; later valid ones are refused and
    name the first."""
    keys = [typed_name(k) for k in spec.key]
    position = _position()
    same_key = [judged[k].eqNullSafe(repeated[f"__repeated{k}"]) for k in keys]
    joined = judged.join(repeated, on=same_key, how="left")
    duplicate = _valid() & F.col("__first").isNotNull() & (position != F.col("__first"))
    message = F.format_string(
        f"duplicate key ({', '.join(spec.key)}): row %d already has it", F.col("__first._row")
    )
    flagged = joined.withColumn("_errors", F.when(duplicate, F.array(message)).otherwise(F.col("_errors")))
    return flagged.drop("__first", *[f"__repeated{k}" for k in keys])


def run(spark: SparkSession, lake: Lake, files: list[str], spec: SourceSpec, day: dt.date | str, run_id: str,
        max_rejected_share: float) -> IngestReport:
    """Extract ``files``, transform, load: what an ingest job does, a day's files or a whole history."""
    batch = transform(extract(spark, files, spec), spec, day, run_id)
    return load(lake, batch, spec, day, run_id, files, max_rejected_share)


def engine() -> str:
    """``spark`` or ``duckdb``: ``LAKESIDE_INGEST_ENGINE``, where ``auto`` means DuckDB when the
    lake is the embedded backend (``embedded``, or ``auto`` without Delta's Spark connector) and
    Spark when it is ``spark-delta``. Both engines keep the same contract (lakeside.ingest_duckdb)."""
    from lakeside.config import settings
    from lakeside.spark import delta_conf

    config = settings()
    if config.ingest_engine != "auto":
        return config.ingest_engine
    embedded = config.table_backend == "embedded" or (config.table_backend == "auto" and not delta_conf())
    return "duckdb" if embedded else "spark"


def run_configured(files: list[str], spec: SourceSpec, day: dt.date | str, run_id: str,
                   max_rejected_share: float, app_name: str) -> IngestReport:
    """:func:`run` on the engine :func:`engine` picks, into the configured lake: what the ingest
    jobs run. The DuckDB engine starts no Spark session unless the lake needs one."""
    from lakeside.config import settings
    from lakeside.spark import get_spark
    from lakeside.tables import open_lake

    if engine() == "duckdb":
        from lakeside import ingest_duckdb

        spark = None if settings().table_backend != "spark-delta" else get_spark(app_name)
        return ingest_duckdb.run(open_lake(spark), files, spec, day, run_id, max_rejected_share)
    spark = get_spark(app_name)
    return run(spark, open_lake(spark), files, spec, day, run_id, max_rejected_share)


# --- load ------------------------------------------------------------------------------------

def load(lake: Lake, batch: Batch, spec: SourceSpec, day: dt.date | str, run_id: str,
         files: list[str], max_rejected_share: float) -> IngestReport:
    """Write bronze and quarantine for the day, then merge silver unless too much was refused."""
    cached = [batch.judged.persist(), batch.repeated.persist()]
    try:
        counts = _counts(batch.parsed)
        reasons = _reason_counts(batch.quarantine) if counts["refused"] else {}
        return write_day(lake, spec, as_date(day), run_id, files, batch.bronze, batch.quarantine, batch.silver,
                         reasons=reasons, max_rejected_share=max_rejected_share, **counts)
    finally:
        for frame in cached:
            frame.unpersist()


def write_day(lake: Lake, spec: SourceSpec, day: dt.date, run_id: str, files: list[str],
              bronze, quarantine, silver, *, rows: int, refused: int, summary: int,
              reasons: dict[str, int], max_rejected_share: float) -> IngestReport:
    """Replace the day in bronze and quarantine, then merge silver unless too much was refused.

    The three frames are whatever :mod:`lakeside.tables` writes (Spark DataFrames from the Spark
    engine, DuckDB relations from the DuckDB engine); ``rows``, ``refused`` and ``summary`` count
    the day's records, the refused ones and the summary lines among them.
    """
    report = IngestReport(
        source=spec.name, logical_date=day.isoformat(), run_id=run_id, files=files,
        rows_in=rows, rows_valid=rows - refused, rows_rejected=refused, rows_summary=summary, reasons=reasons,
    )
    commit = {"run_id": run_id, "logical_date": day.isoformat(), "source": spec.name}
    this_day = f"_ingest_date = '{day.isoformat()}'"
    tables = {layer: lake.table(f"{layer}.{spec.name}") for layer in ("bronze", "quarantine", "silver")}
    tables["bronze"].replace_where(this_day, bronze, partition_by=["_ingest_date"], metadata=commit)
    tables["quarantine"].replace_where(this_day, quarantine, partition_by=["_ingest_date"], metadata=commit)
    if report.rejected_share > max_rejected_share:
        raise RejectedShareExceeded(
            f"{spec.name} {day}: {report.rows_rejected - report.rows_summary} of "
            f"{report.rows_in - report.rows_summary} rows refused "
            f"({report.rejected_share:.1%} > {max_rejected_share:.1%}); silver left unchanged; "
            f"see table quarantine.{spec.name}. Reasons: {json.dumps(report.reasons)}"
        )
    merged = tables["silver"].merge(
        silver, keys=list(spec.key), partition_by=list(spec.partition_by),
        newer_by="_ingest_date", metadata=commit,
    )
    report.silver_inserted, report.silver_updated = merged["inserted"], merged["updated"]
    report.versions = {layer: t.version() for layer, t in tables.items()}
    return report


def _counts(parsed: DataFrame) -> dict[str, int]:
    """Records, refused ones and refused summary lines, in one pass."""
    refused = F.size("_errors") > 0
    summary = F.array_contains("_errors", SUMMARY_REASON)
    row = parsed.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(refused, 1)).alias("refused"),
        F.count(F.when(summary, 1)).alias("summary"),
    ).first()
    return {k: int(row[k] or 0) for k in ("rows", "refused", "summary")}


def _reason_counts(quarantine: DataFrame, top: int = 20) -> dict[str, int]:
    """Refusals per reason, with the value quoted in the reason replaced by '…'."""
    reason = F.col("reason")
    for pattern, replacement in ((r"'[^']*'", "'...'"), (r": \S+ is out of range", ": ... is out of range"), (r"row \d+", "row ...")):
        reason = F.regexp_replace(reason, pattern, replacement)
    reasons = quarantine.select(F.explode(F.split("_reason", "; ")).alias("reason")).select(reason.alias("reason"))
    rows = reasons.groupBy("reason").count().orderBy(F.desc("count"), "reason").limit(top).collect()
    return {row["reason"]: int(row["count"]) for row in rows}
