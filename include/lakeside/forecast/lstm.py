"""A multivariate LSTM forecaster in torch, trained on windows sliced lazily from one array.

The model is ../shared/use-cases.md §4's: LSTM (128 units) -> LeakyReLU(0.5) -> Dropout(0.1)
-> Dense (one output per target step); Adam (lr 0.00144), MSE loss, MAE metric, early stopping
(min_delta 1e-5, the best weights restored). Two configurations (:data:`CONFIGS`):

- ``cpu`` (default): the 864-step lookback read every 6th step (144 steps an input), at most
  20 epochs, patience 5 on the validation loss: about 7x less work an epoch than every step,
  for a validation loss as good as two full-resolution epochs;
- ``seed``: the reference's settings: every step, patience 50 on the training loss.

``cpu`` takes batches of 256 windows, ``seed`` of 64. Batches run in time order (§4: no
shuffling), so each update pulls the weights towards the weeks of its batch; with batches of 64
the ``cpu`` fit ended each epoch fitted to its last weeks, and its forecast was worse than
repeating yesterday's value (test MAE 40-53 Wh against the naive baseline's 29.5 on the
generated series; 29.3 with 256, bench/energy_lstm.py). ``seed`` keeps the 64 it was measured
with: one epoch at every step takes minutes, and 256 there is not measured yet.

Samples are not copies: a window is its anchor (the row of its last input) in ``features``
(rows x features, time order); a batch gathers ``features[anchor - k * sample_every]`` for
``k`` = n-1..0 at the moment it is used (:func:`gather`). Torch uses ``Config.threads``
threads while fitting (default: one per core).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

LEAKY_SLOPE = 0.5


@dataclass(frozen=True)
class Config:
    lookback_steps: int = 864
    sample_every: int = 6
    targets: tuple[int, ...] = (144,)
    """Steps ahead of the anchor to forecast (one output each)."""
    units: int = 128
    dropout: float = 0.1
    learning_rate: float = 0.00144
    batch_size: int = 64
    max_epochs: int = 20
    patience: int = 5
    monitor: str = "val_loss"
    """``val_loss`` or ``loss`` (the training loss): what early stopping watches."""
    min_delta: float = 1e-5
    seed: int = 0
    threads: int | None = None
    """Torch's intra-op threads while fitting (None: torch's default, one per core). On a machine
    shared with other busy processes one thread can be several times faster than two (measured
    here at load 7 on 2 cores: 0.19 s against 1.22 s a batch): the threads spin-wait for each other."""

    def __post_init__(self) -> None:
        if self.lookback_steps < 1 or self.sample_every < 1 or self.lookback_steps % self.sample_every:
            raise ValueError(f"lookback_steps ({self.lookback_steps}) must be a positive multiple of "
                             f"sample_every ({self.sample_every})")
        if not self.targets or min(self.targets) < 1 or list(self.targets) != sorted(set(self.targets)):
            raise ValueError(f"targets must be increasing step counts >= 1, got {list(self.targets)}")
        if self.monitor not in ("val_loss", "loss"):
            raise ValueError(f"monitor must be 'val_loss' or 'loss', got {self.monitor!r}")
        if self.units < 1 or self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ValueError("units, batch_size, max_epochs and patience must be at least 1")

    @property
    def input_steps(self) -> int:
        return self.lookback_steps // self.sample_every

    @property
    def horizon(self) -> int:
        return max(self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "targets": list(self.targets)}


CONFIGS: dict[str, Config] = {
    "cpu": Config(batch_size=256),
    "seed": Config(sample_every=1, max_epochs=100, patience=50, monitor="loss"),
}


def config_of(params: dict[str, Any]) -> Config:
    """The named configuration (``config``: cpu or seed) with the given knobs over it."""
    name = params.get("config") or "cpu"
    if name not in CONFIGS:
        raise ValueError(f"config must be one of {sorted(CONFIGS)}, got {name!r}")
    knobs = {f: params[f] for f in Config.__dataclass_fields__ if params.get(f) is not None}
    if "targets" in knobs:
        targets = knobs["targets"]
        knobs["targets"] = tuple(int(t) for t in ([targets] if isinstance(targets, int) else targets))
    return replace(CONFIGS[name], **knobs)


def offsets(config: Config) -> np.ndarray:
    """Row offsets from the anchor of one window's inputs, oldest first, ending at 0."""
    return -np.arange(config.input_steps - 1, -1, -1, dtype=np.int64) * config.sample_every


def gather(features, anchors, config: Config):
    """The inputs of the windows ending at ``anchors``: (windows, input_steps, features)."""
    import torch

    index = torch.as_tensor(np.asarray(anchors, dtype=np.int64)[:, None] + offsets(config)[None, :])
    return features[index]


def target_rows(anchors, config: Config) -> np.ndarray:
    """(windows, targets) row indexes of the values each window forecasts."""
    return np.asarray(anchors, dtype=np.int64)[:, None] + np.asarray(config.targets, dtype=np.int64)[None, :]


def build(n_features: int, config: Config):
    import torch
    from torch import nn

    class LstmForecaster(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(n_features, config.units, batch_first=True)
            self.head = nn.Sequential(nn.LeakyReLU(LEAKY_SLOPE), nn.Dropout(config.dropout),
                                      nn.Linear(config.units, len(config.targets)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(x)
            return self.head(hidden[-1])

    torch.manual_seed(config.seed)
    return LstmForecaster()


@dataclass
class Fit:
    model: Any
    config: Config
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    fit_seconds: float = 0.0


def fit(features: np.ndarray, target: np.ndarray, train_anchors: np.ndarray, val_anchors: np.ndarray,
        config: Config, on_epoch=None) -> Fit:
    """Train on the windows ending at ``train_anchors``; ``target`` is the (scaled) series the
    outputs forecast. Early stopping watches ``config.monitor``; the best epoch's weights are
    restored. ``on_epoch(epoch, metrics)`` is called after each epoch (MLflow logging)."""
    import torch

    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _fit(features, target, train_anchors, val_anchors, config, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _fit(features, target, train_anchors, val_anchors, config: Config, on_epoch) -> Fit:
    import torch

    torch.manual_seed(config.seed)
    rows = torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32))
    series = torch.as_tensor(np.ascontiguousarray(target, dtype=np.float32))
    model = build(rows.shape[1], config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.MSELoss()
    result = Fit(model, config)
    best, best_state, waited = math.inf, copy.deepcopy(model.state_dict()), 0
    started = time.perf_counter()
    for epoch in range(1, config.max_epochs + 1):
        began = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for batch in _batches(train_anchors, config.batch_size):
            x, y = gather(rows, batch, config), series[torch.as_tensor(target_rows(batch, config))]
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            seen += len(batch)
        metrics = {"train_loss": total / max(seen, 1), **_validate(model, rows, series, val_anchors, config),
                   "epoch_s": time.perf_counter() - began}
        result.history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        watched = metrics["train_loss"] if config.monitor == "loss" else metrics["val_loss"]
        if watched < best - config.min_delta:
            best, best_state, waited, result.best_epoch = watched, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            waited += 1
            if waited >= config.patience:
                result.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    result.fit_seconds = time.perf_counter() - started
    return result


def predict(model, features, anchors: np.ndarray, config: Config, batch_size: int = 256) -> np.ndarray:
    """(windows, targets) forecasts, in the features' (scaled) units."""
    import torch

    rows = features if isinstance(features, torch.Tensor) else torch.as_tensor(
        np.ascontiguousarray(features, dtype=np.float32))
    model.eval()
    out = []
    with torch.inference_mode():
        for batch in _batches(np.asarray(anchors, dtype=np.int64), batch_size):
            out.append(model(gather(rows, batch, config)).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(config.targets)), dtype=np.float32)


def _validate(model, rows, series, anchors: np.ndarray, config: Config) -> dict[str, float]:
    import torch

    if len(anchors) == 0:
        return {"val_loss": math.nan, "val_mae": math.nan}
    predicted = torch.as_tensor(predict(model, rows, anchors, config))
    actual = series[torch.as_tensor(target_rows(anchors, config))]
    return {"val_loss": float(torch.mean((predicted - actual) ** 2)),
            "val_mae": float(torch.mean(torch.abs(predicted - actual)))}


def _batches(anchors: np.ndarray, size: int):
    anchors = np.asarray(anchors, dtype=np.int64)
    for start in range(0, len(anchors), size):
        yield anchors[start:start + size]
