"""Demand forecasting at scale: models per minute for many store-item series on this machine,
the Spark job's parallel efficiency, and each engine's backtest accuracy beside the noise floor.

    python bench/demand_forecast.py [--stores 10 --items 50 --years 5] [--engines prophet auto_ets]
                                    [--single 10] [--cores 2]

Per engine:

1. one process, no Spark: fit and 90-day forecast of ``--single`` series one after the other
   (the engine's own cost per series, imports excluded);
2. the Spark job's backtest on every series (``groupBy('store','item').applyInPandas`` fit on
   all days but the last 90, forecast from the serialised models, scored against the held-out
   days), ``local[cores]``, wall time;
3. parallel efficiency = single-series time x series / cores / Spark wall time; models per
   minute = series / Spark wall time x 60;
4. accuracy: mean sMAPE, MAE and 95%-interval coverage over series, and the noise floor: the
   sMAPE of the generator's expected sales (the best any forecast can do on average).

Prints a table and writes ``bench/results/demand_forecast.json``; the load average before and
after is part of the result.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import log, write_json  # noqa: E402

HOLDOUT = 90


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--engines", nargs="+", default=["prophet", "auto_ets"])
    parser.add_argument("--single", type=int, default=10, help="series fitted one by one in one process")
    parser.add_argument("--cores", type=int, default=2)
    return parser.parse_args(argv)


def single_process(engine: str, data: pd.DataFrame, count: int) -> float:
    """Mean seconds to fit one series and forecast 90 days, in this process."""
    from lakeside.usecases.demand_forecast import engines

    keys = data[["store", "item"]].drop_duplicates().head(count).itertuples(index=False)
    series = [data[(data["store"] == s) & (data["item"] == i)] for s, i in keys]
    warm = series[0].head(400)
    engines.fit(engine, pd.DataFrame({"ds": pd.to_datetime(warm["date"]), "y": warm["sales"].astype(float)}))
    started = time.perf_counter()
    for rows in series:
        history = pd.DataFrame({"ds": pd.to_datetime(rows["date"]), "y": rows["sales"].astype(float)})
        history = history.iloc[:-HOLDOUT]
        fitted = engines.load(engine, engines.fit(engine, history))
        engines.forecast(engine, fitted, HOLDOUT, history=False, seed=1)
    return (time.perf_counter() - started) / len(series)


def spark_backtest(spark, lake, engine: str, partitions: int) -> tuple[float, pd.DataFrame]:
    from lakeside.usecases.demand_forecast import forecast

    series = forecast.daily_series(lake.table("silver.store_item").read()).cache()
    last = series.agg({"ds": "max"}).first()[0]
    cutoff = pd.Timestamp(last) - pd.Timedelta(days=HOLDOUT - 1)
    before, held_out = forecast.split_at(series, cutoff)
    series.count()
    started = time.perf_counter()
    models = forecast.fit_models(before, engine, partitions=partitions).cache()
    models.count()
    scored = forecast.backtest(models, held_out, HOLDOUT, partitions).toPandas()
    wall = time.perf_counter() - started
    models.unpersist()
    series.unpersist()
    return wall, scored


def noise_floor(args) -> float:
    from lakeside.datasets import store_item

    actual = store_item.generate(args.stores, args.items, years=args.years)
    mean = store_item.expected(args.stores, args.items, years=args.years)["expected"].to_numpy()
    last = actual["date"].max() - pd.Timedelta(days=HOLDOUT - 1)
    held = (actual["date"] >= last).to_numpy()
    y, f = actual["sales"].to_numpy(float)[held], mean[held]
    smape = np.where(np.abs(y) + np.abs(f) > 0, 200 * np.abs(f - y) / (np.abs(y) + np.abs(f)), 0.0)
    return float(pd.Series(smape).groupby([actual["store"][held].to_numpy(), actual["item"][held].to_numpy()]).mean()
                 .mean())


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("LAKESIDE_SPARK_SHUFFLE_PARTITIONS", str(args.cores))
    from lakeside.datasets import store_item
    from lakeside.spark import get_spark
    from lakeside.tables import Lake

    load_before = os.getloadavg()
    data = store_item.generate(args.stores, args.items, years=args.years)
    series_count = args.stores * args.items
    spark = get_spark("bench-demand", master=f"local[{args.cores}]")
    results = {"series": series_count, "days": int(data["date"].nunique()), "cores": args.cores,
               "noise_floor_smape": noise_floor(args), "engines": {}}
    with tempfile.TemporaryDirectory(prefix="bench-demand-") as root:
        lake = Lake(Path(root) / "lake", backend="embedded", spark=spark)
        lake.table("silver.store_item").overwrite(data)
        for engine in args.engines:
            single = single_process(engine, data, args.single)
            wall, scored = spark_backtest(spark, lake, engine, partitions=None)
            ok = scored[scored["status"] == "ok"]
            results["engines"][engine] = {
                "single_series_s": single, "spark_wall_s": wall,
                "models_per_minute": 60 * series_count / wall,
                "parallel_efficiency": single * series_count / args.cores / wall,
                "smape": float(ok["smape"].mean()), "mae": float(ok["mae"].mean()),
                "coverage": float(ok["coverage"].mean()), "fitted": int(len(ok)),
                "not_fitted": int(len(scored) - len(ok)),
            }
            log(f"{engine}: {results['engines'][engine]}")
    spark.stop()
    results["load_average_before"] = load_before
    results["load_average_after"] = os.getloadavg()
    print(f"\n{series_count} series x {results['days']} days, local[{args.cores}], "
          f"noise floor sMAPE {results['noise_floor_smape']:.2f}")
    print(f"{'engine':10} {'1 series s':>10} {'spark s':>9} {'models/min':>10} {'efficiency':>10} "
          f"{'sMAPE':>7} {'MAE':>6} {'coverage':>8}")
    for engine, r in results["engines"].items():
        print(f"{engine:10} {r['single_series_s']:10.3f} {r['spark_wall_s']:9.1f} {r['models_per_minute']:10.0f} "
              f"{r['parallel_efficiency']:10.0%} {r['smape']:7.2f} {r['mae']:6.2f} {r['coverage']:8.3f}")
    print(f"load average before {load_before}, after {results['load_average_after']}")
    write_json("demand_forecast", {"arguments": vars(args), **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
