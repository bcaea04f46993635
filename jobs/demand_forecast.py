"""Demand forecasting outside Airflow: pin ``silver.store_item``, backtest the engines, fit one
model per store-item, write ``gold.demand_backtest`` and ``gold.demand_forecasts``, log the
model family to MLflow, and (``--register``) register, gate and deploy it like the DAG does.

    spark-submit --master 'local[*]' jobs/demand_forecast.py [--register] [--no-deploy] \\
        [--params '{"engine": "prophet", "compare_engines": ["auto_ets"], "horizon": 90, "stores": [1, 2]}']

The steps are :func:`lakeside.retrain.retrain`'s with the use case's trainer
(:func:`lakeside.usecases.demand_forecast.train.train`: ``groupBy('store', 'item').applyInPandas``),
so a DAG run and this job give the same tables and runs. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import sys

from lakeside.spark import get_spark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demand_forecast", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=json.loads, default={}, help="trainer settings (JSON), over the declaration's")
    parser.add_argument("--register", action="store_true", help="register, gate (and deploy) the model family")
    parser.add_argument("--no-deploy", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from lakeside import retrain, usecases

    args = parse_args(argv)
    case = usecases.get("demand_forecast")
    get_spark("demand_forecast")  # the session the trainer's getOrCreate finds
    params = {**args.params, "spark": True}
    if args.register:
        report = retrain.retrain(case, params, deploy=not args.no_deploy)
    else:
        pinned = retrain.take_snapshot(case)
        report = {"snapshot": pinned, "trained": retrain.train(case, pinned, params)}
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
