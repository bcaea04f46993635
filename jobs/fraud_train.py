"""Fraud tree training outside Airflow: pin ``silver.fraud_labels``, cross-validate the decision
tree over the grid, retrain balanced, log both variants to MLflow, and (``--register``) register,
gate and deploy the better one like the retrain DAG does.

    spark-submit --master 'local[*]' jobs/fraud_train.py [--register] [--no-deploy] \\
        [--params '{"max_depth": [5, 10, 15], "max_bins": [10, 20, 30], "parallelism": 2}']

The steps are :mod:`lakeside.retrain`'s with the use case's trainer
(:func:`lakeside.usecases.fraud.training.train`), so a DAG run and this job give the same runs.
Prints a JSON report (the variants' metrics, the chosen run, the gate's decision).
"""

from __future__ import annotations

import argparse
import json
import sys

from lakeside.spark import get_spark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fraud_train", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=json.loads, default={}, help="trainer settings (JSON), over the declaration's")
    parser.add_argument("--register", action="store_true", help="register, gate (and deploy) the chosen variant")
    parser.add_argument("--no-deploy", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from lakeside import retrain, usecases

    args = parse_args(argv)
    case = usecases.get("fraud")
    get_spark("fraud_train")  # the session the trainer's getOrCreate finds
    pinned = retrain.take_snapshot(case)
    found = retrain.train(case, pinned, {**args.params, "spark": True})
    report = {"snapshot": pinned, "trained": found}
    if args.register:
        version = retrain.register(case, found, pinned)
        decision = retrain.decide(case, version, pinned)
        report.update(version=version, decision=decision)
        if decision["promoted"] and not args.no_deploy:
            report["deployment"] = retrain.deploy_champion(case)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
