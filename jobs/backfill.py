"""Backfill one source's whole history in one run, with the daily ingest's validation: raw files
-> bronze, silver (MERGE on the key), quarantine, all under one logical date.

    spark-submit --master 'local[*]' jobs/backfill.py --source store_item \\
        --logical-date 2017-12-31 --run-id backfill__2017-12-31 [--file train.csv ...] \
        [--generator '{"stores": 2, "items": 5}']

For years of daily data (the public ``train.csv``, 913,000 rows) instead of one DAG run per day.
The engine follows ``LAKESIDE_INGEST_ENGINE``, as in ``jobs/daily_ingest.py``.
Without ``--file``, the source's generated history (``history_raw()`` of its dataset module) is
written to ``$LAKESIDE_HOME/landing/<source>/backfill-<date>/`` first (``--generator``: options of
that history as JSON, a subset of stores, say). The DAG ``backfill`` runs it. Bronze and quarantine keep
the rows under the logical date given: take the day before the first daily run, so a daily run
never replaces the backfill's bronze partition. Exits non-zero, silver untouched, when the
refused share passes ``--max-rejected-share``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from lakeside import ingest
from lakeside.config import settings
from lakeside.datasets import ALL_SOURCES, source


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, choices=ALL_SOURCES)
    parser.add_argument("--logical-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--file", action="append", dest="files", default=[],
                        help="a raw file, or several separated by commas (repeatable); default: generated")
    parser.add_argument("--seed", type=int, default=0, help="the generated history's seed")
    parser.add_argument("--generator", type=json.loads, default={},
                        help="options of the generated history, as a JSON object")
    parser.add_argument("--max-rejected-share", type=lambda value: float(value) if value else None, default=None,
                        help="fail past this refused share (empty: LAKESIDE_MAX_REJECTED_SHARE)")
    return parser.parse_args(argv)


def generated_history(name: str, day: dt.date, seed: int, options: dict | None = None) -> list[str]:
    """Write the source's generated history as one raw file in the landing area."""
    module = source(name)
    if not hasattr(module, "history_raw"):
        raise ValueError(f"source {name!r} generates no history: give its files with --file")
    if not isinstance(options or {}, dict):
        raise ValueError(f"--generator must be a JSON object, got {options!r}")
    target = settings().landing_root / name / f"backfill-{day.isoformat()}" / f"{name}-history.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    module.history_raw(seed=seed, **(options or {})).to_csv(partial, index=False)
    partial.replace(target)
    return [str(target)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = source(args.source).SPEC
    share = settings().max_rejected_share if args.max_rejected_share is None else args.max_rejected_share
    given = [str(Path(f)) for value in args.files for f in value.split(",") if f.strip()]
    files = given or generated_history(args.source, args.logical_date, args.seed, args.generator)
    report = ingest.run_configured(files, spec, args.logical_date, args.run_id, share, f"backfill:{args.source}")
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
