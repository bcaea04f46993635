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

The transforms (:func:`to_bronze`, :func:`parse`, :func:`split`) are pure DataFrame functions;
:func:`extract` reads files and :func:`load` writes tables.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakeside.datasets._spec import NULL_TOKENS, Column, SourceSpec
from lakeside.landing import as_date
from lakeside.tables import Lake

log = logging.getLogger(__name__)

RAW_EXTRAS = ("_raw_line", "_missing_columns")
CORRUPT = "_corrupt_record"


class EmptyLandingError(ValueError):
    """A landing file with no header line: nothing can be read from it."""


class RejectedShareExceeded(RuntimeError):
    """More of the day's rows were refused than the configured threshold allows."""


@dataclass
class Batch:
    bronze: DataFrame
    parsed: DataFrame  # bronze typed and judged: silver and quarantine are its two halves
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
    silver_inserted: int = 0
    silver_updated: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_share(self) -> float:
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0

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
    header = _header(spark, path)
    missing = [c for c in spec.column_names if c not in header]
    extra = [c for c in header if c not in spec.column_names]
    if extra:
        log.warning("%s: ignoring columns %s that %s does not define", path, extra, spec.name)
    schema = StructType([StructField(name, StringType()) for name in header] + [StructField(CORRUPT, StringType())])
    frame = (
        spark.read.schema(schema)
        .option("header", True)
        .option("multiLine", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .csv(path)
    )
    order = Window.orderBy(F.monotonically_increasing_id())
    return frame.select(
        *[(F.col(f"`{c}`") if c in header else F.lit(None).cast("string")).alias(c) for c in spec.column_names],
        F.col(CORRUPT).alias("_raw_line"),
        F.lit(",".join(missing) or None).cast("string").alias("_missing_columns"),
        F.lit(path).alias("_source_file"),
        F.row_number().over(order).cast("long").alias("_row"),
    )


def _header(spark: SparkSession, path: str) -> list[str]:
    first = spark.read.option("header", False).option("multiLine", True).csv(path).first()
    if first is None:
        raise EmptyLandingError(f"{path} is empty: expected a header line naming the columns")
    names = [(value or "").strip().lstrip("\ufeff") for value in first]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{path}: the header repeats columns {repeated}")
    return names


# --- transform -------------------------------------------------------------------------------

def transform(raw: DataFrame, spec: SourceSpec, day: dt.date | str, run_id: str) -> Batch:
    bronze = to_bronze(raw, spec, day, run_id)
    parsed = parse(bronze, spec)
    silver, quarantine = split(parsed, spec)
    return Batch(bronze=bronze, parsed=parsed, silver=silver, quarantine=quarantine)


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
    typed = {c.name: _typed(c) for c in spec.columns}
    with_types = bronze.withColumns({_typed_name(n): expr for n, expr in typed.items()})
    column_errors = [e for c in spec.columns for e in _column_errors(c)]
    malformed = F.array(F.lit("malformed CSV record (wrong number of fields or unbalanced quotes)"))
    errors = F.when(F.col("_raw_line").isNotNull(), malformed).otherwise(
        F.filter(F.array(*column_errors), lambda e: e.isNotNull())
    )
    return _flag_duplicate_keys(with_types.withColumn("_errors", errors), spec)


def split(parsed: DataFrame, spec: SourceSpec) -> tuple[DataFrame, DataFrame]:
    """(silver rows, quarantine rows)."""
    valid = F.size("_errors") == 0
    silver = parsed.filter(valid).select(
        *[F.col(_typed_name(c.name)).alias(c.name) for c in spec.columns],
        "_ingest_date", "_source_file", "_row",
    )
    quarantine = parsed.filter(~valid).select(
        *[F.col(f"`{c}`") for c in spec.column_names],
        "_raw_line",
        F.array_join("_errors", "; ").alias("_reason"),
        "_ingest_date", "_source_file", "_row", "_run_id",
    )
    return silver, quarantine


def _typed_name(name: str) -> str:
    return f"__typed_{name}"


def _text(column: Column) -> SparkColumn:
    trimmed = F.trim(F.col(f"`{column.name}`"))
    return F.when(trimmed.isin(*NULL_TOKENS), F.lit(None)).otherwise(trimmed)


def _typed(column: Column) -> SparkColumn:
    text = _text(column)
    kind = column.kind
    if kind == "string":
        return text
    if kind in ("int", "long"):
        return text.try_cast("int" if kind == "int" else "bigint")
    if kind in ("double", "percent"):
        number = (F.regexp_replace(text, "%$", "") if kind == "percent" else text).try_cast("double")
        return F.when(F.isnan(number) | (F.abs(number) == float("inf")), F.lit(None)).otherwise(number)
    if kind == "date":
        return F.try_to_date(text)
    if kind == "timestamp":
        return F.try_to_timestamp(text)
    if kind == "month_year":
        return F.try_to_date(text, "MMM-yyyy")
    if kind == "emp_length":
        years = F.regexp_extract(text, r"^(\d+)\+?\s*(years?)?$", 1)
        return (
            F.when(text.rlike(r"^<\s*1\s*years?$"), F.lit(0))
            .when(years != "", years.try_cast("int"))
            .otherwise(F.lit(None).cast("int"))
        )
    raise ValueError(f"no parser for kind {kind!r}")


def _column_errors(column: Column) -> list[SparkColumn]:
    name = column.name
    text = _text(column)
    value = F.col(_typed_name(name))
    absent = F.array_contains(F.split(F.coalesce(F.col("_missing_columns"), F.lit("")), ","), name)
    checks = [
        (absent & F.lit(column.required), F.lit(f"`{name}`: column missing from file")),
        (~absent & text.isNull() & F.lit(column.required), F.lit(f"`{name}`: missing value")),
        (text.isNotNull() & value.isNull(),
         F.format_string(f"`{name}`: cannot read '%s' as {column.kind}", text)),
    ]
    if column.allowed:
        checks.append((value.isNotNull() & ~value.isin(*column.allowed),
                       F.format_string(f"`{name}`: '%s' is not one of {', '.join(column.allowed)}", text)))
    if column.min is not None or column.max is not None:
        low = value < column.min if column.min is not None else F.lit(False)
        high = value > column.max if column.max is not None else F.lit(False)
        checks.append((value.isNotNull() & (low | high),
                       F.format_string(f"`{name}`: %s is out of range [{column.min}, {column.max}]", text)))
    if column.pattern:
        checks.append((value.isNotNull() & ~value.cast("string").rlike(column.pattern),
                       F.format_string(f"`{name}`: '%s' does not match {column.pattern}", text)))
    return [F.when(condition, message) for condition, message in checks]


def _flag_duplicate_keys(parsed: DataFrame, spec: SourceSpec) -> DataFrame:
    """The first valid record of a key wins; later ones are refused and name the first."""
    keys = [F.col(_typed_name(k)) for k in spec.key]
    valid_first = Window.partitionBy(*keys).orderBy(F.size("_errors") > 0, "_source_file", "_row")
    ranked = parsed.withColumn("__rank", F.row_number().over(valid_first)).withColumn(
        "__first_row", F.first("_row").over(valid_first)
    )
    message = F.format_string(
        f"duplicate key ({', '.join(spec.key)}): row %d already has it", F.col("__first_row")
    )
    duplicate = (F.size("_errors") == 0) & (F.col("__rank") > 1)
    return ranked.withColumn(
        "_errors", F.when(duplicate, F.array(message)).otherwise(F.col("_errors"))
    ).drop("__rank", "__first_row")


# --- load ------------------------------------------------------------------------------------

def load(lake: Lake, batch: Batch, spec: SourceSpec, day: dt.date | str, run_id: str,
         files: list[str], max_rejected_share: float) -> IngestReport:
    """Write bronze and quarantine for the day, then merge silver unless too much was refused."""
    day = as_date(day)
    cached = [batch.bronze.persist(), batch.parsed.persist()]
    bronze, silver, quarantine = batch.bronze, batch.silver, batch.quarantine
    try:
        report = IngestReport(
            source=spec.name, logical_date=day.isoformat(), run_id=run_id, files=files,
            rows_in=bronze.count(), rows_valid=silver.count(), rows_rejected=quarantine.count(),
            reasons=_reason_counts(quarantine),
        )
        commit = {"run_id": run_id, "logical_date": day.isoformat(), "source": spec.name}
        this_day = f"_ingest_date = '{day.isoformat()}'"
        tables = {layer: lake.table(f"{layer}.{spec.name}") for layer in ("bronze", "quarantine", "silver")}
        tables["bronze"].replace_where(this_day, bronze, partition_by=["_ingest_date"], metadata=commit)
        tables["quarantine"].replace_where(this_day, quarantine, partition_by=["_ingest_date"], metadata=commit)
        if report.rejected_share > max_rejected_share:
            raise RejectedShareExceeded(
                f"{spec.name} {day}: {report.rows_rejected} of {report.rows_in} rows refused "
                f"({report.rejected_share:.1%} > {max_rejected_share:.1%}); silver left unchanged; "
                f"see table quarantine.{spec.name}. Reasons: {json.dumps(report.reasons)}"
            )
        counts = tables["silver"].merge(
            silver, keys=list(spec.key), partition_by=list(spec.partition_by),
            newer_by="_ingest_date", metadata=commit,
        )
        report.silver_inserted, report.silver_updated = counts["inserted"], counts["updated"]
        report.versions = {layer: t.version() for layer, t in tables.items()}
        return report
    finally:
        for frame in cached:
            frame.unpersist()


def _reason_counts(quarantine: DataFrame, top: int = 20) -> dict[str, int]:
    """Refusals per reason, with the value quoted in the reason replaced by '…'."""
    reason = F.col("reason")
    for pattern, replacement in ((r"'[^']*'", "'...'"), (r": \S+ is out of range", ": ... is out of range"), (r"row \d+", "row ...")):
        reason = F.regexp_replace(reason, pattern, replacement)
    reasons = quarantine.select(F.explode(F.split("_reason", "; ")).alias("reason")).select(reason.alias("reason"))
    rows = reasons.groupBy("reason").count().orderBy(F.desc("count"), "reason").limit(top).collect()
    return {row["reason"]: int(row["count"]) for row in rows}
