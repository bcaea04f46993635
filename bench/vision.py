"""Vision on frozen EfficientNet-Lite0 features, side by side in one run, on generated slides:

- ``in-process``: the backbone's ONNX graph in onnxruntime at batch 32 (decode + resize + run);
- ``features job``: ``jobs/image_features.py``'s ``run`` on the same patches in Delta (local
  Spark, ``mapInPandas``, graph loaded once per worker; Spark's start not timed): images/s and
  its share of in-process (target >= 70%);
- ``head``: :func:`lakeside.vision.head.fit` on the features of all slides but the last
  (validation: the next-to-last slide), accuracy on the last (held-out) slide and fit time,
  against a small CNN trained from scratch on the same patches at 64 px (``--cnn-epochs``);
- ``heat map``: seconds to tile and score one slide (``--slide-size``; the reference is 15 s per
  4096-px slide) with backbone + head + softmax as one graph.

    .venv/bin/python bench/vision.py [--slides 4] [--slide-size 2048] [--per-label 60] [--patch 224]

Not measured here yet: served images/s and p50/p99 at concurrency 1 and 32 (Lakeside's image
service vs a plain BentoML service). Prints the table with the load average; writes
``bench/results/vision.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import load_average, log, table, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_job(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_job", REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_cnn(classes: int):
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(64, classes))


def fit_cnn(train_x, train_y, test_x, test_y, epochs: int, seed: int = 0) -> tuple[float, float]:
    """(fit seconds, held-out accuracy) of the small CNN on 64-px patches."""
    import torch

    torch.manual_seed(seed)
    model = small_cnn(2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(train_x).permute(0, 3, 1, 2) / 255.0
    y = torch.from_numpy(train_y)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            rows = order[start:start + 32]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            optimiser.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        predicted = model(torch.from_numpy(test_x).permute(0, 3, 1, 2) / 255.0).argmax(dim=1).numpy()
    return seconds, float((predicted == test_y).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slides", type=int, default=4)
    parser.add_argument("--slide-size", type=int, default=2048)
    parser.add_argument("--per-label", type=int, default=60)
    parser.add_argument("--patch", type=int, default=224)
    parser.add_argument("--cnn-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from PIL import Image

    from lakeside.datasets import pathology_slides
    from lakeside.spark import get_spark
    from lakeside.tables import Lake
    from lakeside.vision import backbone, head, heatmap, train
    from lakeside.vision.images import decode_pixels
    from lakeside.vision.runtime import OnnxModel

    rows, facts = [], {"args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="bench-vision-") as folder:
        folder = Path(folder)
        log(f"generating {args.slides} slides of {args.slide_size} px")
        points = pathology_slides.generate(folder / "slides", slides=args.slides, size=args.slide_size,
                                           per_label=args.per_label, seed=args.seed, margin=args.patch // 2)
        onnx = str(backbone.exported(folder / "backbone"))
        spark = get_spark("bench-vision")
        lake = Lake(folder / "lake", backend="embedded", spark=spark)
        cut = load_job("slide_patches").run(lake, spark, str(folder / "slides"), str(points), "2026-12-01", args.patch)
        patches = lake.table("silver.pathology_patches").to_pandas().sort_values("patch_id").reset_index(drop=True)
        count = len(patches)
        log(f"{count} patches ({cut['refused']} points refused)")

        load = load_average()
        started = time.perf_counter()
        model = OnnxModel(onnx)
        features = model.run(decode_pixels([bytes(c) for c in patches["content"]]), batch=32)
        in_process = time.perf_counter() - started
        rows.append(["in-process onnxruntime, batch 32", count, in_process, count / in_process, "", load and load[0]])

        load = load_average()
        started = time.perf_counter()
        load_job("image_features").run(lake, "pathology_patches", key="patch_id", carry=("label", "slide_id"),
                                       onnx=onnx)
        job = time.perf_counter() - started
        share = in_process / job
        rows.append(["features job (Spark, mapInPandas)", count, job, count / job, f"{share:.0%} of in-process",
                     load and load[0]])
        table_features = lake.table("gold.pathology_patches_features").to_pandas().sort_values("patch_id")
        gap = float(np.abs(np.stack(table_features["features"].to_numpy()) - features).max())
        if gap > 1e-5:
            log(f"FAILED: the job's features differ from in-process by {gap:.2e}")
            return 1

        slides = sorted(patches["slide_id"].unique())
        test_slide, val_slide = slides[-1], slides[-2]
        labels = patches["label"].to_numpy()
        parts = {name: patches["slide_id"].to_numpy() == s for name, s in (("test", test_slide), ("val", val_slide))}
        parts["train"] = ~(parts["test"] | parts["val"])
        load = load_average()
        fitted = head.fit(features[parts["train"]], labels[parts["train"]], features[parts["val"]],
                          labels[parts["val"]], head.HeadConfig(seed=args.seed))
        predicted = np.array(fitted.classes)[fitted.probabilities(features[parts["test"]]).argmax(axis=1)]
        head_accuracy = float((predicted == labels[parts["test"]]).mean())
        rows.append([f"head fit ({fitted.best_epoch}/{len(fitted.history)} epochs), accuracy {head_accuracy:.3f}",
                     int(parts["train"].sum()), fitted.fit_seconds, "", "held-out slide", load and load[0]])

        small = np.stack([np.asarray(Image.open(__import__("io").BytesIO(bytes(c))).convert("RGB").resize((64, 64)))
                          for c in patches["content"]]).astype(np.float32)
        index = {label: i for i, label in enumerate(fitted.classes)}
        y = np.array([index[v] for v in labels])
        fit_rows = parts["train"] | parts["val"]
        load = load_average()
        cnn_seconds, cnn_accuracy = fit_cnn(small[fit_rows], y[fit_rows], small[parts["test"]], y[parts["test"]],
                                            args.cnn_epochs, args.seed)
        rows.append([f"small CNN from scratch ({args.cnn_epochs} epochs), accuracy {cnn_accuracy:.3f}",
                     int(fit_rows.sum()), cnn_seconds, "", "held-out slide", load and load[0]])

        graph = train.export_checked(fitted, [bytes(c) for c in patches["content"][:4]], folder / "classifier.onnx")
        slide = pathology_slides.read_slide(folder / "slides" / f"{test_slide}.png")
        load = load_average()
        started = time.perf_counter()
        scores = heatmap.score_slide(slide, OnnxModel(graph), fitted.classes.index("tumor"), args.patch, args.patch)
        seconds = time.perf_counter() - started
        rows.append([f"heat map of one {args.slide_size}-px slide (stride {args.patch})", len(scores), seconds,
                     len(scores) / seconds, f"{seconds:.1f} s/slide", load and load[0]])

    headers = ["step", "images", "seconds", "images/s", "note", "load 1m"]
    print(table(headers, rows, title=f"bench/vision.py, {os.cpu_count()} CPUs"))
    facts.update({"rows": [dict(zip(headers, r)) for r in rows], "features_job_share": share,
                  "head_accuracy": head_accuracy, "cnn_accuracy": cnn_accuracy})
    write_json("vision", facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
