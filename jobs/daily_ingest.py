"""Daily ingest of one source for one logical date: raw CSV files -> bronze, silver, quarantine.

    spark-submit --master 'local[*]' jobs/daily_ingest.py \\
        --source loans --logical-date 2024-01-01 --run-id scheduled__2024-01-01T00:00:00+00:00

Extract reads the day's files under ``$LAKESIDE_HOME/landing/<source>/<date>/`` (or ``--file``);
transform types and validates them; load replaces the day in bronze and quarantine and merges
silver on the source's key. Exits non-zero, with silver untouched, when the refused share
passes ``--max-rejected-share`` (default ``LAKESIDE_MAX_REJECTED_SHARE``, 0.05).

The engine is ``LAKESIDE_INGEST_ENGINE`` (``lakeside.ingest.engine``): on the embedded backend,
DuckDB in this process (no Spark session is started); on ``spark-delta``, Spark. Both write
the same tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from lakeside import ingest, landing
from lakeside.config import settings
from lakeside.datasets import ALL_SOURCES, source


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="daily_ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, choices=ALL_SOURCES)
    parser.add_argument("--logical-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--file", action="append", dest="files", help="a raw file (repeatable); default: the landing folder")
    parser.add_argument("--max-rejected-share", type=float, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = source(args.source).SPEC
    share = settings().max_rejected_share if args.max_rejected_share is None else args.max_rejected_share
    files = args.files or landing.ensure_landing(args.source, args.logical_date)
    report = ingest.run_configured(files, spec, args.logical_date, args.run_id, share, f"daily_ingest:{args.source}")
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
