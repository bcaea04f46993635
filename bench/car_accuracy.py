"""Car classifier accuracy against training pictures per class, on generated car pictures:
how many a class the ``car_classifier`` gate's minimum accuracy (0.90) needs.

    .venv/bin/python bench/car_accuracy.py [--per-class 26 50 100 250 400] [--test-per-class 50]

One run: ``lakeside.datasets.car_images`` draws the largest training set (seed 0) and an
independent test set (another seed), the features job's unit (backbone ONNX in onnxruntime)
turns both into features once, then for each size a stratified sample of that many pictures a class (a fifth
of it for validation, as the trainer's early stopping needs) fits :func:`lakeside.vision.head.fit`
with its default config and with a weaker weight decay; accuracy is on the whole test set.
Prints the table; writes ``bench/results/car_accuracy.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import load_average, log, table, write_json  # noqa: E402

NAME = "car_accuracy"
GATE_MIN_ACCURACY = 0.90


def features(onnx_path: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The pictures under ``folder``'s class folders through the features job's own unit."""
    import pandas as pd

    from lakeside.datasets import car_images
    from lakeside.vision.features import backbone_id, features_frame

    files = list(car_images.class_files(folder))
    frame = pd.DataFrame({"label": [label for _, label in files], "content": [path.read_bytes() for path, _ in files]})
    out = features_frame(frame, onnx_path, ["label"], backbone_id(onnx_path))
    return np.stack(out["features"].to_list()), out["label"].to_numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[26, 50, 100, 250, 400])
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument("--weak-decay", type=float, default=0.01)
    args = parser.parse_args(argv)

    from lakeside.datasets import car_images
    from lakeside.vision import backbone, head

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cars-") as scratch:
        root = Path(scratch)
        car_images.generate(root / "train", per_class=max(args.per_class), seed=0)
        car_images.generate(root / "test", per_class=args.test_per_class, seed=99)
        onnx_path = str(backbone.exported(root / "onnx"))
        started = time.perf_counter()
        x, y = features(onnx_path, root / "train")
        test_x, test_y = features(onnx_path, root / "test")
        log(f"features of {len(y) + len(test_y)} pictures: {time.perf_counter() - started:.1f}s")
    default = head.HeadConfig()
    for per_class in args.per_class:
        chosen = rng.permutation(np.concatenate([rng.permutation(np.flatnonzero(y == label))[:per_class]
                                                 for label in np.unique(y)]))
        val, train = chosen[:len(chosen) // 5], chosen[len(chosen) // 5:]
        for config in (default, replace(default, weight_decay=args.weak_decay)):
            fitted = head.fit(x[train], y[train], x[val], y[val], config)
            predicted = np.array(fitted.classes)[fitted.probabilities(test_x).argmax(axis=1)]
            accuracy = float(np.mean(predicted == test_y))
            rows.append([per_class, len(train), config.weight_decay, fitted.best_epoch, round(fitted.fit_seconds, 1),
                         round(accuracy, 3), "yes" if accuracy >= GATE_MIN_ACCURACY else "no"])
            log(f"{per_class} a class, weight decay {config.weight_decay}: accuracy {accuracy:.3f}")
    table(["per class", "train", "weight decay", "best epoch", "fit s", "test accuracy", ">= 0.90"], rows,
          title=f"{NAME}: {args.test_per_class * 6} test pictures (load {load_average()})")
    write_json(NAME, {"rows": rows, "test_pictures": len(test_y)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
