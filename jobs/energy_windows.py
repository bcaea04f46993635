"""The energy series as scaled rows and windows for the LSTM: ``silver.appliances_energy`` ->
``gold.energy_features`` and ``gold.energy_windows`` (both replaced as a whole).

    spark-submit --master 'local[*]' jobs/energy_windows.py --lookback 864 --horizon 144 \\
        [--version 12] [--run-id manual__2026-01-05]

Extract reads the silver table (``--version`` pins one; default its current version); the
transforms are :mod:`lakeside.usecases.energy_lstm.windows` (time split 70/15/15 with a gap of
lookback + horizon rows between parts, scaler fitted on the training rows, windows as
indexes); load overwrites the two tables. The windows table's commit carries what the trainer
needs to read them back (``energy_windows`` in the commit metadata, see
:func:`lakeside.usecases.energy_lstm.data.windows_facts`): the source version, the features
table's version, the split bounds, the scaler and the skip counts. Prints them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from lakeside.spark import get_spark
from lakeside.tables import Lake, open_lake

SOURCE = "silver.appliances_energy"
FEATURES_TABLE = "gold.energy_features"
WINDOWS_TABLE = "gold.energy_windows"
FACTS_KEY = "energy_windows"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="energy_windows", description=__doc__.splitlines()[0])
    parser.add_argument("--lookback", type=int, default=864, help="rows a window's inputs span")
    parser.add_argument("--horizon", type=int, default=144, help="steps from the anchor to the (last) target")
    parser.add_argument("--version", type=int, default=None, help="the source table's version (default: current)")
    parser.add_argument("--run-id", default="", help="recorded in the commits (the Airflow run)")
    return parser.parse_args(argv)


def run(lake: Lake, lookback: int, horizon: int, version: int | None = None, run_id: str = "") -> dict:
    """Extract, transform, load; returns the facts recorded with the windows table's commit."""
    from lakeside.usecases.energy_lstm import windows as w

    if lookback < 1 or horizon < 1:
        raise ValueError("lookback and horizon must be at least 1")
    source = lake.table(SOURCE)
    version = source.version() if version is None else version
    rows = w.numbered(source.read(version=version)).cache()
    try:
        count = rows.count()
        bounds = w.split_bounds(count, lookback, horizon)
        scaler = w.fit_scaler(rows, bounds)
        positions = w.windows(rows, bounds, lookback, horizon).cache()
        counts = w.skip_counts(positions)
        common = {"source": SOURCE, "source_version": str(version), "run_id": run_id}
        features_version = lake.table(FEATURES_TABLE).overwrite(w.scaled(rows, scaler), metadata=common)
        facts = {"source": SOURCE, "source_version": version, "features_table": FEATURES_TABLE,
                 "features_version": features_version, "rows": count, "lookback": lookback, "horizon": horizon,
                 "bounds": bounds.to_dict(), "counts": counts, "scaler": scaler, "run_id": run_id}
        facts["windows_version"] = lake.table(WINDOWS_TABLE).overwrite(
            w.kept(positions), metadata={**common, FACTS_KEY: json.dumps(facts, sort_keys=True)})
        positions.unpersist()
        return facts
    finally:
        rows.unpersist()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spark = get_spark("energy_windows")
    facts = run(open_lake(spark), args.lookback, args.horizon, args.version, args.run_id)
    print(json.dumps({k: v for k, v in facts.items() if k != "scaler"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
