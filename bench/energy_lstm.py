"""The energy LSTM on 19,735 generated rows (the public set's length), side by side:

- ``cpu``: Lakeside's default configuration (864 steps read every 6th, batch 64, at most 20
  epochs, patience 5 on the validation loss), through :func:`lakeside.forecast.lstm.fit`
  (windows gathered lazily, validation each epoch, early stopping);
- ``bare``: a plain torch loop on the same windows as pre-built tensors (same network, batches
  and validation pass; no lazy gathering, no early stopping): what ``fit`` may cost at most
  over it (target: <= 10%);
- ``seed``: every step (864 inputs), ``--seed-epochs`` epochs of ``fit``;
- ``keras``: Keras 3's LSTM on its torch backend at 864 steps, ``--keras-batches`` batches,
  extrapolated to an epoch (skipped when keras is not installed; it is not a requirement);

plus the naive, seasonal-naive and LightGBM baselines on the same test windows. The windows
come from the real job (``jobs/energy_windows.py`` on an embedded lake; Spark's start not timed).

    .venv/bin/python bench/energy_lstm.py [--max-epochs 20] [--seed-epochs 1] [--keras-batches 20]

Reports s/epoch, fit time, test MAE/RMSE (Wh) and the ratios against the targets (cpu <= 16
s/epoch and trained <= 5 min; <= 10% over bare; torch >= 60x Keras at 864 steps; LSTM MAE
below both naive baselines), with the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import load_average, log, table, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=19_735)
    parser.add_argument("--max-epochs", type=int, default=20, help="cpu configuration's epoch limit")
    parser.add_argument("--bare-epochs", type=int, default=2)
    parser.add_argument("--seed-epochs", type=int, default=1)
    parser.add_argument("--keras-batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for every model (default: torch's, one per core)")
    return parser.parse_args(argv)


def windows(rows: int, root: Path):
    from lakeside.datasets import appliances_energy
    from lakeside.snapshot import take
    from lakeside.spark import get_spark
    from lakeside.tables import Lake
    from lakeside.usecases.energy_lstm import data

    spark = get_spark("bench-energy", master="local[2]")
    lake = Lake(root, backend="embedded", spark=spark)
    lake.table("silver.appliances_energy").overwrite(appliances_energy.generate(rows, seed=0))
    spec = importlib.util.spec_from_file_location("energy_windows_job", ROOT / "jobs" / "energy_windows.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    started = time.perf_counter()
    facts = job.run(lake, 864, 144, run_id="bench")
    log(f"windows job: {time.perf_counter() - started:.1f}s, counts {facts['counts']}")
    spark.stop()
    return data.load(take(lake.table("gold.energy_windows"), ("anchor",)))


def score(w, predicted_scaled, anchors, config):
    from lakeside.usecases.energy_lstm.baselines import actual, errors

    scale = w.scaler["Appliances"]
    return errors(actual(w.raw_target, anchors, config.targets), predicted_scaled * scale["std"] + scale["mean"])


def run_fit(w, config, name):
    from lakeside.forecast import lstm

    train, val, test = (w.anchors(s) for s in ("train", "val", "test"))
    log(f"{name}: fitting up to {config.max_epochs} epochs ({config.input_steps} steps a window)")
    fitted = lstm.fit(w.features, w.features[:, w.target_column], train, val, config,
                      on_epoch=lambda e, m: log(f"  {name} epoch {e}: val_loss {m['val_loss']:.4f}, "
                                                f"{m['epoch_s']:.1f}s"))
    predicted = lstm.predict(fitted.model, w.features, test, config)
    epochs = [h["epoch_s"] for h in fitted.history]
    return {"s_per_epoch": statistics.median(epochs), "epochs": len(epochs), "best_epoch": fitted.best_epoch,
            "fit_s": fitted.fit_seconds, "val_loss": min(h["val_loss"] for h in fitted.history),
            **score(w, predicted, test, config)}


def run_bare(w, config, epochs: int):
    """The same network, batches and validation pass on pre-built tensors, nothing else."""
    import torch

    from lakeside.forecast import lstm

    features = torch.as_tensor(w.features)
    target = torch.as_tensor(w.features[:, w.target_column])
    train, val, test = (w.anchors(s) for s in ("train", "val", "test"))
    x_train, x_val, x_test = (lstm.gather(features, a, config) for a in (train, val, test))
    y_train, y_val = (target[torch.as_tensor(lstm.target_rows(a, config))] for a in (train, val))
    model = lstm.build(w.features.shape[1], config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.MSELoss()
    times = []
    for _ in range(epochs):
        began = time.perf_counter()
        model.train()
        for start in range(0, len(x_train), config.batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[start:start + config.batch_size]), y_train[start:start + config.batch_size])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            val_loss = float(loss_fn(torch.cat([model(x_val[s:s + 256]) for s in range(0, len(x_val), 256)]), y_val))
        times.append(time.perf_counter() - began)
        log(f"  bare epoch {len(times)}: val_loss {val_loss:.4f}, {times[-1]:.1f}s")
    with torch.inference_mode():
        predicted = torch.cat([model(x_test[s:s + 256]) for s in range(0, len(x_test), 256)]).numpy()
    return {"s_per_epoch": statistics.median(times), "epochs": epochs, "fit_s": sum(times), "val_loss": val_loss,
            **score(w, predicted, test, config)}


def run_keras(w, config, batches: int):
    import torch

    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        log("keras: not installed, skipped")
        return None
    from lakeside.forecast import lstm

    train, test = w.anchors("train"), w.anchors("test")[:256]
    used = train[:batches * config.batch_size]
    features = torch.as_tensor(w.features)
    x = lstm.gather(features, used, config).numpy()
    y = w.features[lstm.target_rows(used, config), w.target_column]
    model = keras.Sequential([keras.Input((config.input_steps, w.features.shape[1])), keras.layers.LSTM(config.units),
                              keras.layers.LeakyReLU(0.5), keras.layers.Dropout(config.dropout),
                              keras.layers.Dense(len(config.targets))])
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse", metrics=["mae"])
    model.train_on_batch(x[:config.batch_size], y[:config.batch_size])  # build and warm up, not timed
    log(f"keras ({keras.__version__}, backend {keras.backend.backend()}): {batches} batches at "
        f"{config.input_steps} steps")
    began = time.perf_counter()
    for start in range(0, len(x), config.batch_size):
        model.train_on_batch(x[start:start + config.batch_size], y[start:start + config.batch_size])
    elapsed = time.perf_counter() - began
    per_epoch = elapsed / batches * -(-len(train) // config.batch_size)
    predicted = model.predict(lstm.gather(features, test, config).numpy(), batch_size=64, verbose=0)
    return {"s_per_epoch": per_epoch, "epochs": 0, "fit_s": elapsed, "batches": batches,
            **score(w, predicted, test, config), "test_windows": len(test)}


def main(argv=None) -> int:
    from lakeside.forecast import lstm
    from lakeside.usecases.energy_lstm import baselines

    args = parse_args(argv)
    import torch

    log(f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads, "
        f"load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-energy-") as scratch:
        w = windows(args.rows, Path(scratch) / "lake")
    load_before = load_average()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = replace(lstm.CONFIGS["cpu"], max_epochs=args.max_epochs, threads=args.threads)
    seed = replace(lstm.CONFIGS["seed"], max_epochs=args.seed_epochs, threads=args.threads)
    results = {"cpu": run_fit(w, cpu, "cpu")}
    failed = {}
    for name, run in (("bare", lambda: run_bare(w, cpu, args.bare_epochs)), ("seed", lambda: run_fit(w, seed, "seed")),
                      ("keras", lambda: run_keras(w, seed, args.keras_batches) if args.keras_batches else None)):
        try:
            outcome = run()
        except Exception as error:  # noqa: BLE001 - one side's failure is reported, the others still are
            log(f"{name} failed: {error!r}")
            failed[name] = repr(error)
            continue
        if outcome:
            results[name] = outcome
    test = w.anchors("test")
    truth = baselines.actual(w.raw_target, test, cpu.targets)
    for name, predicted in baselines.forecasts(w, cpu).items():
        results[name] = baselines.errors(truth, predicted)
    load_after = load_average()

    rows = [[name, r.get("s_per_epoch"), r.get("epochs"), r.get("best_epoch"), r.get("fit_s"), r.get("val_loss"),
             r["mae"], r["rmse"]] for name, r in results.items()]
    table(["model", "s/epoch", "epochs", "best", "fit s", "val MSE", "test MAE Wh", "test RMSE Wh"], rows,
          title=f"energy LSTM, {args.rows} rows, {len(test)} test windows (load {load_before} -> {load_after})")
    ratios = {
        "cpu_s_per_epoch": results["cpu"]["s_per_epoch"],
        "cpu_fit_min": results["cpu"]["fit_s"] / 60,
        "cpu_over_bare": (results["cpu"]["s_per_epoch"] / results["bare"]["s_per_epoch"] - 1
                          if "bare" in results else None),
        "seed_over_cpu_epoch": (results["seed"]["s_per_epoch"] / results["cpu"]["s_per_epoch"]
                                if "seed" in results else None),
        "keras_over_torch_864": (results["keras"]["s_per_epoch"] / results["seed"]["s_per_epoch"]
                                 if {"keras", "seed"} <= set(results) else None),
        "lstm_mae_below_naive": results["cpu"]["mae"] < results["naive"]["mae"],
        "lstm_mae_below_seasonal_naive": results["cpu"]["mae"] < results["seasonal_naive"]["mae"],
    }
    table(["measure", "value"], [[k, v] for k, v in ratios.items()], title="against the targets")
    write_json("energy_lstm", {"failed": failed, "rows": args.rows, "threads": args.threads or torch.get_num_threads(),
                               "settings": vars(args), "results": results, "ratios": ratios,
                               "load_average": {"before": load_before, "after": load_after},
                               "windows": {k: v for k, v in w.facts.items() if k != "scaler"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
