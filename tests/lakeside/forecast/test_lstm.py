"""The torch LSTM: §4's network and settings, windows gathered lazily as the slices they stand
for, and early stopping that really restores the best epoch's weights."""

import numpy as np
import pytest
import torch

from lakeside.forecast import lstm


def test_the_configurations_carry_the_reference_settings():
    cpu, seed = lstm.CONFIGS["cpu"], lstm.CONFIGS["seed"]
    assert (cpu.lookback_steps, cpu.sample_every, cpu.input_steps, cpu.batch_size) == (864, 6, 144, 256)
    assert (cpu.max_epochs, cpu.patience, cpu.monitor) == (20, 5, "val_loss")
    assert (seed.sample_every, seed.patience, seed.monitor, seed.batch_size) == (1, 50, "loss", 64)
    for config in (cpu, seed):
        assert (config.units, config.dropout, config.learning_rate, config.min_delta) == (128, 0.1, 0.00144, 1e-5)
        assert config.targets == (144,)
    model = lstm.build(28, cpu)
    assert model.lstm.hidden_size == 128 and model.head[0].negative_slope == 0.5 and model.head[1].p == 0.1
    assert model.head[2].out_features == 1
    tuned = lstm.config_of({"config": "seed", "targets": [6, 12], "units": 8, "max_epochs": None})
    assert tuned.targets == (6, 12) and tuned.units == 8 and tuned.max_epochs == 100 and tuned.horizon == 12


@pytest.mark.parametrize("params, message", [
    ({"lookback_steps": 864, "sample_every": 5}, "multiple of sample_every"),
    ({"targets": [12, 6]}, "increasing"),
    ({"config": "gpu"}, "config must be one of"),
])
def test_bad_settings_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        lstm.config_of(params)


def test_a_batch_is_the_window_s_rows_read_every_nth_step_ending_at_the_anchor():
    features = np.arange(200 * 3, dtype=np.float32).reshape(200, 3)
    config = lstm.Config(lookback_steps=12, sample_every=3, targets=(2, 5))
    anchors = np.array([11, 50, 190])
    batch = lstm.gather(torch.as_tensor(features), anchors, config)
    assert batch.shape == (3, 4, 3)
    for window, anchor in zip(batch.numpy(), anchors):
        assert np.array_equal(window, features[anchor - 9:anchor + 1:3])
    assert np.array_equal(lstm.target_rows(anchors, config), [[13, 16], [52, 55], [192, 195]])


def test_early_stopping_restores_the_best_epoch_s_weights():
    """Training targets follow the inputs, validation targets are their opposite: the more the
    network learns, the worse validation gets, so the best epoch is an early one."""
    rng = np.random.default_rng(0)
    rows = 600
    signal = np.sin(np.arange(rows) / 5.0) + rng.normal(0, 0.05, rows)
    features = np.stack([signal, rng.normal(0, 1, rows)], axis=1).astype(np.float32)
    target = signal.copy()
    target[400:] = -signal[400:]
    config = lstm.Config(lookback_steps=8, sample_every=1, targets=(1,), units=8, batch_size=16,
                         max_epochs=12, patience=3, learning_rate=0.01, seed=1)
    train, val = np.arange(7, 380), np.arange(410, 590)
    fitted = lstm.fit(features, target, train, val, config)

    losses = [epoch["val_loss"] for epoch in fitted.history]
    assert fitted.stopped_early and len(losses) < config.max_epochs
    assert fitted.best_epoch == int(np.argmin(losses)) + 1 < len(losses)
    assert fitted.history[-1]["train_loss"] < fitted.history[0]["train_loss"]
    restored = lstm._validate(fitted.model, torch.as_tensor(features), torch.as_tensor(target.astype(np.float32)),
                              val, config)["val_loss"]
    assert restored == pytest.approx(min(losses), rel=1e-5)
    assert restored < losses[-1]
