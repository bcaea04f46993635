"""The classifier on frozen features: the seed's logistic regression as a torch
``Linear(1280, classes)``, with weight decay (L2) and early stopping on the validation loss.

Features are centred on the training rows' mean and divided by their overall spread while
fitting; the returned
layer has that scaling folded into its weights, so it takes raw backbone features and exports
behind the backbone as one graph (:func:`lakeside.vision.backbone.classifier_net`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class HeadConfig:
    max_epochs: int = 300
    patience: int = 30
    weight_decay: float = 0.1
    """Strong: with 26 generated cars a class, 0.1 held out 0.896 of the test pictures, 1e-3 0.771.
    On an independent test set 0.1 and 0.01 are alike: 0.75 at 26 a class, 0.86 at 100, 0.93 at
    250 (bench/car_accuracy.py); the gate's 0.90 needs about 250 pictures a class."""
    learning_rate: float = 1e-3
    batch_size: int = 256
    seed: int = 0


@dataclass
class FittedHead:
    layer: object
    """``torch.nn.Linear(1280, classes)`` on raw features."""
    classes: list[str]
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = self.layer(torch.from_numpy(np.asarray(features, dtype=np.float32)))
            return torch.softmax(logits, dim=1).numpy()


def fit(train_x: np.ndarray, train_y: Sequence[str], val_x: np.ndarray, val_y: Sequence[str],
        config: HeadConfig = HeadConfig(), classes: Sequence[str] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> FittedHead:
    """Fit the head; the weights of the epoch with the lowest validation loss are kept."""
    import torch

    started = time.perf_counter()
    train_y, val_y = [str(v) for v in train_y], [str(v) for v in val_y]
    classes = sorted(set(train_y) | set(val_y)) if classes is None else [str(c) for c in classes]
    index = {label: i for i, label in enumerate(classes)}
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(np.asarray(train_x, dtype=np.float32))
    # One spread for all features, not one each: a per-feature scale fitted on a few patches
    # blows up features that happen to be nearly constant there and shift on a new slide.
    mean = x.mean(dim=0)
    std = (x - mean).std().clamp_min(1e-6).expand(x.shape[1])
    x = (x - mean) / std
    y = torch.tensor([index[v] for v in train_y])
    vx = (torch.from_numpy(np.asarray(val_x, dtype=np.float32)) - mean) / std
    vy = torch.tensor([index[v] for v in val_y])
    layer = torch.nn.Linear(x.shape[1], len(classes))
    optimiser = torch.optim.Adam(layer.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_of = torch.nn.CrossEntropyLoss()
    best, best_epoch, best_state, history = float("inf"), 0, copy.deepcopy(layer.state_dict()), []
    for epoch in range(1, config.max_epochs + 1):
        layer.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), config.batch_size):
            rows = order[start:start + config.batch_size]
            optimiser.zero_grad()
            loss = loss_of(layer(x[rows]), y[rows])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        layer.eval()
        with torch.no_grad():
            val_logits = layer(vx)
            val_loss = float(loss_of(val_logits, vy)) if len(vy) else float("nan")
            val_accuracy = float((val_logits.argmax(dim=1) == vy).float().mean()) if len(vy) else float("nan")
            train_accuracy = float((layer(x).argmax(dim=1) == y).float().mean())
        metrics = {"train_loss": total / len(x), "train_accuracy": train_accuracy, "val_loss": val_loss,
                   "val_accuracy": val_accuracy}
        history.append(metrics)
        if on_epoch:
            on_epoch(epoch, metrics)
        if val_loss < best - 1e-6 or not np.isfinite(best):
            best, best_epoch, best_state = val_loss, epoch, copy.deepcopy(layer.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    layer.load_state_dict(best_state)
    return FittedHead(_folded(layer, mean, std), classes, best_epoch, history, time.perf_counter() - started)


def _folded(layer, mean, std):
    """The layer on raw features: ``W (x - mean) / std + b`` = ``(W / std) x + (b - W (mean / std))``."""
    import torch

    folded = torch.nn.Linear(layer.in_features, layer.out_features)
    with torch.no_grad():
        weight = layer.weight / std
        folded.weight.copy_(weight)
        folded.bias.copy_(layer.bias - weight @ mean)
    return folded.eval()
