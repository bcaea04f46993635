"""Relabel: PaySim transactions -> ``silver.fraud_labels``, the rule label of every transaction
with the rule version, replaced by an analyst's reviewed label where there is one.

Which days are (re)labelled, so that a run is idempotent and catches up by itself:

- days of ``silver.paysim`` without labels yet (and the run's logical date, if given);
- days holding a transaction whose reviewed label differs from the label it carries;
- every day when the rule file's version is not the one every label carries (a new rule set).

Each chosen day's partition is replaced (``replace_where`` on ``_ingest_date``), in one commit
carrying the rule version and run id. :func:`label` is the pure transform.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakeside.datasets import paysim
from lakeside.tables import Lake
from lakeside.usecases.fraud import KEY, LABELS, REVIEWS, TRANSACTIONS
from lakeside.usecases.fraud.rules import RuleSet

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("rule_label", "rules_fired", "rule_version", "label", "label_source", "reviewer")


@dataclass
class RelabelReport:
    rule_version: str
    rule_version_changed: bool
    days: list[str]
    rows: int = 0
    rule_positives: int = 0
    positives: int = 0
    reviewed_labels_used: int = 0
    reviewed_labels_changing_rule: int = 0
    table_version: int | None = None
    previous_rule_versions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def label(transactions: DataFrame, rules: RuleSet, reviewed: DataFrame | None = None) -> DataFrame:
    """Transactions plus the rule label, the rules that fired, the rule version and the final
    ``label`` (the reviewed one when an analyst reviewed the transaction, else the rule's)."""
    columns = [*paysim.SPEC.column_names, "_ingest_date"]
    ruled = transactions.select(*columns).withColumns({
        "rule_label": rules.label_column(),
        "rules_fired": rules.fired_column(),
        "rule_version": F.lit(rules.version),
    })
    if reviewed is None:
        return ruled.withColumns({"label": F.col("rule_label"), "label_source": F.lit("rule"),
                                  "reviewer": F.lit(None).cast("string")})
    reviews = reviewed.select(*KEY, F.col("label").alias("_reviewed"), F.col("reviewer"))
    joined = ruled.join(reviews, list(KEY), "left")
    return joined.withColumns({
        "label": F.coalesce("_reviewed", "rule_label").cast("int"),
        "label_source": F.when(F.col("_reviewed").isNotNull(), "review").otherwise("rule"),
    }).select(*columns, *LABEL_COLUMNS)


def days_to_relabel(transactions: DataFrame, labels: DataFrame | None, reviewed: DataFrame | None,
                    rules: RuleSet, logical_date: dt.date | None) -> tuple[list[dt.date], list[str]]:
    """(days to relabel, rule versions the labels carry now)."""
    all_days = {row[0] for row in transactions.select("_ingest_date").distinct().collect()}
    if labels is None:
        return sorted(all_days), []
    versions = sorted(row[0] for row in labels.select("rule_version").distinct().collect())
    if versions and versions != [rules.version]:
        return sorted(all_days), versions
    labelled = {row[0] for row in labels.select("_ingest_date").distinct().collect()}
    days = (all_days - labelled) | ({logical_date} & all_days if logical_date else set())
    if reviewed is not None:
        stale = (labels.join(reviewed.select(*KEY, F.col("label").alias("_reviewed")), list(KEY))
                 .filter(F.col("label") != F.col("_reviewed")).select("_ingest_date").distinct().collect())
        days |= {row[0] for row in stale}
    return sorted(days), versions


def relabel(lake: Lake, rules: RuleSet, run_id: str, logical_date: dt.date | str | None = None) -> RelabelReport:
    """Label the days that need it (see the module) into ``silver.fraud_labels``."""
    day = dt.date.fromisoformat(str(logical_date)[:10]) if logical_date else None
    transactions = lake.table(TRANSACTIONS).read()
    labels_table = lake.table(LABELS)
    labels = labels_table.read() if labels_table.exists() else None
    reviews_table = lake.table(REVIEWS)
    reviewed = reviews_table.read() if reviews_table.exists() else None
    days, versions = days_to_relabel(transactions, labels, reviewed, rules, day)
    changed = bool(versions) and versions != [rules.version]
    report = RelabelReport(rules.version, changed, [d.isoformat() for d in days], previous_rule_versions=versions)
    if not days:
        report.table_version = labels_table.version() if labels_table.exists() else None
        return report
    chosen = transactions.filter(F.col("_ingest_date").isin(days))
    labelled = label(chosen, rules, reviewed).persist()
    try:
        counts = labelled.agg(
            F.count(F.lit(1)).alias("rows"), F.sum("rule_label").alias("rule_positives"),
            F.sum("label").alias("positives"), F.count(F.when(F.col("label_source") == "review", 1)).alias("reviewed"),
            F.count(F.when((F.col("label_source") == "review") & (F.col("label") != F.col("rule_label")), 1))
            .alias("changing"),
        ).first()
        report.rows, report.rule_positives, report.positives = int(counts["rows"]), int(counts["rule_positives"] or 0), \
            int(counts["positives"] or 0)
        report.reviewed_labels_used, report.reviewed_labels_changing_rule = int(counts["reviewed"]), int(counts["changing"])
        commit = {"run_id": run_id, "rule_version": rules.version, "days": ",".join(report.days)}
        if labels is None or changed:
            labels_table.overwrite(labelled, partition_by=["_ingest_date"], metadata=commit)
        else:
            where = "_ingest_date IN (" + ", ".join(f"'{d}'" for d in report.days) + ")"
            labels_table.replace_where(where, labelled, partition_by=["_ingest_date"], metadata=commit)
    finally:
        labelled.unpersist()
    report.table_version = labels_table.version()
    log.info("relabelled %d rows of %s with rules %s (%d reviewed labels used)", report.rows, report.days,
             rules.version, report.reviewed_labels_used)
    return report
