"""Fraud relabel: ingest the analysts' pending review drops, label PaySim transactions with the
rules (reviewed labels first) into ``silver.fraud_labels``, then refresh the review queue.

    spark-submit --master 'local[*]' jobs/fraud_relabel.py \\
        --logical-date 2024-01-01 --run-id scheduled__2024-01-01T00:00:00+00:00 \\
        [--rules include/lakeside/usecases/fraud/rules.json] [--review-band 0.2,0.8]

Review drops land under ``$LAKESIDE_HOME/landing/fraud_reviewed_labels/<date>/*.csv``; each
date not ingested yet goes through the ordinary ingest (bronze, silver, quarantine with reasons).
Extract: ``silver.paysim``, ``silver.fraud_labels``, ``silver.fraud_reviewed_labels``; transform:
:func:`lakeside.usecases.fraud.relabel.label`; load: the days that need it (new days, days with
new reviews, every day after a rule-version change) and their part of
``gold.fraud_review_queue`` (skipped, and said so, until a champion exists). Prints a JSON report
whose ``rule_version_changed`` tells the DAG to retrain.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from lakeside import usecases
from lakeside.config import settings
from lakeside.spark import get_spark
from lakeside.tables import open_lake


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    params = usecases.get("fraud").params
    parser = argparse.ArgumentParser(prog="fraud_relabel", description=__doc__.splitlines()[0])
    parser.add_argument("--logical-date", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--rules", default=params["rules"], help="the rule file (default: the seed rules)")
    parser.add_argument("--review-band", default=",".join(str(v) for v in params["review_band"]),
                        help="low,high probability of fraud that goes to review")
    parser.add_argument("--no-review-queue", action="store_true", help="only relabel")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from lakeside.retrain import model_name
    from lakeside.usecases.fraud import relabel, review, rules

    args = parse_args(argv)
    rule_set = rules.load(args.rules)
    band = review.check_band(args.review_band.split(","))
    spark = get_spark("fraud_relabel")
    lake = open_lake(spark)

    share = settings().max_rejected_share
    reviews = review.ingest_drops(lake, spark, args.run_id, share)
    report = relabel.relabel(lake, rule_set, args.run_id, args.logical_date).to_dict()
    report["review_drops"] = [{k: r[k] for k in ("logical_date", "rows_valid", "rows_rejected", "reasons")}
                              for r in reviews]
    report["review_queue"] = None
    if not args.no_review_queue:
        report["review_queue"] = _refresh_queue(lake, report["days"], band, model_name("fraud"), args.run_id)
    print(json.dumps(report, indent=2, default=str))
    return 0


def _refresh_queue(lake, days: list[str], band, model: str, run_id: str) -> dict:
    import mlflow

    from lakeside import tracking
    from lakeside.usecases.fraud import review

    mlflow.set_tracking_uri(tracking.ensure_server())
    champion = review.champion_tree(model)
    if champion is None:
        return {"skipped": f"no champion of {model} yet"}
    tree, version = champion
    return {"model_version": version, "rows": review.refresh(lake, days, tree, band, version, run_id)}


if __name__ == "__main__":
    sys.exit(main())
