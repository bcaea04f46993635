"""Trainer and gate evaluator of the image use cases (``trainer``/``evaluator`` of
``lakeside.usecases.cars`` and ``.pathology``), on a pinned ``gold.<images>_features`` snapshot.

Split: by ``params["group"]`` when set (pathology: ``slide_id``, so no slide is on both sides;
the groups whose hash is below the holdout fraction, at least one each side), else the
snapshot's own split (cars: stratified by label). The validation rows for early stopping are cut
the same way out of the training rows.

The run logs the backbone (wheel versions, weights hash, the features' backbone graph hash), the
tables and versions, the patch size, the head's settings; per-epoch loss and accuracy; holdout
accuracy, macro F1, log loss (and ROC AUC for two classes); a confusion matrix, the ROC curve,
a grid of misclassified images; for a split by slide, the held-out slides' heat maps (and
their overlap with a tumour mask where one lies beside the slide). The model is
:mod:`lakeside.vision.pyfunc` over backbone + head + softmax exported as one ONNX graph,
checked against torch (1e-4) before it is logged.

The gate's evaluator scores the *served* model: the holdout's images, base64-encoded, through
the registered pyfunc.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lakeside.snapshot import Snapshot, key_hash, snapshot_mask

log = logging.getLogger(__name__)
VALIDATION_FRACTION = 0.2
FAMILY = "efficientnet_lite0+linear"


def holdout_mask(frame: pd.DataFrame, snapshot: Snapshot, group: str | None, fraction: float | None = None) -> pd.Series:
    """True for the held-out rows: whole groups when ``group`` is set, else the snapshot's split."""
    fraction = snapshot.holdout_fraction if fraction is None else fraction
    if not group:
        if fraction == snapshot.holdout_fraction:
            return snapshot_mask(frame, snapshot)
        return snapshot_mask(frame, Snapshot(**{**snapshot.to_dict(), "key": snapshot.key,
                                                 "holdout_fraction": fraction}))
    groups = pd.Series(sorted(frame[group].astype(str).unique()))
    buckets = pd.Series(key_hash(groups.to_frame(group), [group]) % np.uint64(10_000), index=groups.values)
    held = set(buckets[buckets < int(round(fraction * 10_000))].index)
    if len(groups) > 1 and not held:
        held = {buckets.idxmin()}
    if len(groups) > 1 and len(held) == len(groups):
        held.discard(buckets.idxmax())
    return frame[group].astype(str).isin(held)


def parts(frame: pd.DataFrame, snapshot: Snapshot, group: str | None):
    """(train, validation, holdout) rows."""
    held = holdout_mask(frame, snapshot, group)
    rest, holdout = frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)
    inner = Snapshot(**{**snapshot.to_dict(), "key": snapshot.key, "holdout_fraction": VALIDATION_FRACTION})
    val = holdout_mask(rest, inner, group)
    return rest[~val].reset_index(drop=True), rest[val].reset_index(drop=True), holdout


def train(use_case, snapshot: Snapshot, params: dict[str, Any], spark=None) -> dict[str, Any]:
    import mlflow

    from lakeside import snapshot as snapshots
    from lakeside import tracking
    from lakeside.metrics import classification
    from lakeside.vision import backbone, head, pyfunc

    target, group = use_case.target, params.get("group")
    frame = snapshots.load(snapshot)
    train_rows, val_rows, holdout = parts(frame, snapshot, group)
    classes = sorted(frame[target].astype(str).unique())
    config = head_config(params)
    lake = lake_of(snapshot)
    images = lake.table(params["images_table"])
    experiment = tracking.experiment_id(_model_name(use_case))
    with mlflow.start_run(experiment_id=experiment, run_name=f"{FAMILY} {snapshot.table} v{snapshot.version}") as run, \
            tempfile.TemporaryDirectory(prefix="lakeside-vision-") as folder:
        folder = Path(folder)
        mlflow.set_tags({"lakeside.use_case": use_case.name, "lakeside.family": FAMILY})
        mlflow.log_params({**backbone.describe(), "features_table": snapshot.table,
                           "features_version": snapshot.version, "images_table": params["images_table"],
                           "images_version": images.version(), "features_backbone": str(frame["backbone"].iloc[0]),
                           "patch_size": params.get("patch_size"), "split_group": group or snapshot.split_kind,
                           "train_rows": len(train_rows), "val_rows": len(val_rows), "holdout_rows": len(holdout),
                           **{f"head_{k}": v for k, v in vars(config).items()}})
        fitted = head.fit(_matrix(train_rows), train_rows[target].astype(str), _matrix(val_rows),
                          val_rows[target].astype(str), config, classes,
                          on_epoch=lambda epoch, metrics: mlflow.log_metrics(metrics, step=epoch))
        probabilities = fitted.probabilities(_matrix(holdout))
        scores = holdout_scores(holdout[target].astype(str).to_numpy(), probabilities, classes,
                                use_case.positive_label)
        mlflow.log_metrics({**{f"test_{k}": v for k, v in scores.items()}, "best_epoch": fitted.best_epoch,
                            "epochs": len(fitted.history), "fit_seconds": fitted.fit_seconds})
        key = snapshot.key[0]
        contents = image_contents(images, holdout[key], key)
        graph = export_checked(fitted, contents[:4], folder / "classifier.onnx")
        log_plots(holdout[target].astype(str).to_numpy(), probabilities, classes, contents, use_case.positive_label,
                  folder)
        if group:
            size = int(params.get("patch_size") or 224)
            log_slide_heatmaps(images, holdout[group].astype(str).unique(), graph, classes,
                               use_case.positive_label or classes[-1], size, int(params.get("stride") or size), folder)
        info = pyfunc.log_model(graph, classes, contents[:2])
    log.info("%s: best epoch %d of %d, holdout %s", use_case.name, fitted.best_epoch, len(fitted.history), scores)
    return {"model_uri": info.model_uri, "run_id": run.info.run_id, "family": FAMILY, "metrics": scores}


def evaluate(use_case, model_uri: str, snapshot: Snapshot) -> dict[str, float]:
    """The served model's metrics on the snapshot's holdout images (base64 through the pyfunc)."""
    import mlflow

    from lakeside import snapshot as snapshots
    from lakeside.metrics import classification

    params = {**use_case.params}
    frame = snapshots.load(snapshot)
    holdout = frame[holdout_mask(frame, snapshot, params.get("group"))].reset_index(drop=True)
    key = snapshot.key[0]
    contents = image_contents(lake_of(snapshot).table(params["images_table"]), holdout[key], key)
    model = mlflow.pyfunc.load_model(model_uri)
    answer = model.predict(pd.DataFrame({"image": [base64.b64encode(c).decode("ascii") for c in contents]}))
    actual = holdout[use_case.target].astype(str).to_numpy()
    classes = list((model.model_config or {}).get("classes") or sorted(set(actual)))
    probabilities = _served_probabilities(answer, classes)
    if len(classes) == 2:
        scores = holdout_scores(actual, probabilities, classes, use_case.positive_label)
    else:
        scores = {k: v for k, v in classification(actual, probabilities, classes).items()
                  if k in ("accuracy", "f1", "precision", "recall")}
        scores["macro_f1"] = scores["f1"]
    return {**scores, "holdout_images": float(len(contents))}


def holdout_scores(actual, probabilities: np.ndarray, classes: list[str], positive=None) -> dict[str, float]:
    from lakeside.metrics import classification

    scores = classification(actual, probabilities, classes, positive=positive)
    if len(classes) == 2:
        predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
        from sklearn.metrics import accuracy_score, f1_score

        scores["accuracy"] = float(accuracy_score(actual, predicted))
        scores["macro_f1"] = float(f1_score(actual, predicted, average="macro", labels=classes, zero_division=0))
    else:
        scores["macro_f1"] = scores["f1"]
    return scores


def head_config(params: dict[str, Any]):
    from lakeside.vision.head import HeadConfig

    given = {k: params[k] for k in ("max_epochs", "patience", "weight_decay", "learning_rate", "batch_size", "seed")
             if params.get(k) is not None}
    return HeadConfig(**given)


def export_checked(fitted, contents: list[bytes], path: Path, tolerance: float = 1e-4) -> Path:
    """Backbone + head + softmax as one ONNX file, after checking it answers as torch does."""
    from lakeside.vision import backbone
    from lakeside.vision.images import decode_pixels
    from lakeside.vision.runtime import OnnxModel

    network = backbone.classifier_net(fitted.layer)
    backbone.export_onnx(path, network, output="probabilities")
    sample = decode_pixels(contents)
    gap = float(np.abs(OnnxModel(path).run(sample) - backbone.torch_run(network, sample)).max())
    if gap > tolerance:
        raise RuntimeError(f"the exported classifier differs from torch by {gap:.2e} (> {tolerance:g})")
    return path


def image_contents(images, keys: pd.Series, key: str) -> list[bytes]:
    """The image bytes of ``keys`` (in that order) from the images table."""
    table = images.to_pandas()[[key, "content"]].drop_duplicates(key).set_index(key)["content"]
    missing = [k for k in keys if k not in table.index]
    if missing:
        raise ValueError(f"{images.name} lacks the images of {len(missing)} keys, e.g. {missing[:3]}")
    return [bytes(table[k]) for k in keys]


def log_plots(actual, probabilities, classes, contents, positive, folder: Path) -> None:
    import mlflow

    from lakeside.vision import plots

    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    mlflow.log_artifact(str(plots.confusion(actual, predicted, classes, folder / "confusion_matrix.png")), "plots")
    if len(classes) == 2:
        positive = classes[-1] if positive is None else positive
        score = probabilities[:, classes.index(positive)]
        mlflow.log_artifact(str(plots.roc(actual == positive, score, folder / "roc_curve.png")), "plots")
    wrong = np.flatnonzero(predicted != actual)[:16]
    if len(wrong):
        mlflow.log_artifact(str(plots.grid([contents[i] for i in wrong],
                                           [f"{actual[i]} as {predicted[i]}" for i in wrong],
                                           folder / "misclassified.png")), "plots")


def slide_locations(images) -> dict[str, Path]:
    """``slide_id -> file`` of the whole slides the images table's patches were cut from: the
    folders its commits name (``slides``), the newest commit's file winning."""
    from lakeside.datasets.pathology_slides import slide_files

    found: dict[str, Path] = {}
    for commit in reversed(images.history()):
        folder = commit.metadata.get("slides")
        if folder and Path(folder).is_dir():
            found.update(slide_files(folder))
    return found


def log_slide_heatmaps(images, slide_ids, graph_path: Path, classes: list[str], positive: str, size: int,
                       stride: int, folder: Path) -> dict[str, float]:
    """The held-out slides scored tile by tile (``size``-pixel tiles every ``stride`` pixels, glass
    skipped) by the trained graph, logged as overlay PNGs under ``heatmaps/``; where the slide has a tumour mask
    beside it (``<slide>_mask.png``), the intersection over union of tiles at 0.5 and the mask,
    per slide in ``heatmaps/iou.json`` and their mean as ``test_heatmap_iou``."""
    import json

    import mlflow
    from PIL import Image

    from lakeside.datasets.pathology_slides import read_slide
    from lakeside.vision import heatmap, plots
    from lakeside.vision.runtime import OnnxModel

    files = slide_locations(images)
    chosen = sorted(set(slide_ids) & set(files))
    if not chosen:
        log.warning("no held-out slide found beside the patches (%s): no heat maps", sorted(slide_ids)[:5])
        return {}
    graph, ious = OnnxModel(graph_path), {}
    for slide_id in chosen:
        slide = read_slide(files[slide_id])
        cells = heatmap.grid(heatmap.score_slide(slide, graph, classes.index(positive), size, stride),
                             slide.shape[:2], stride)
        mlflow.log_artifact(str(plots.overlay(slide, cells, folder / f"{slide_id}.png")), "heatmaps")
        mask = files[slide_id].with_name(f"{slide_id}_mask.png")
        if mask.exists():
            ious[slide_id] = heatmap.iou(cells, np.asarray(Image.open(mask)) > 0, stride)
    if ious:
        (folder / "iou.json").write_text(json.dumps(ious, indent=2))
        mlflow.log_artifact(str(folder / "iou.json"), "heatmaps")
        mlflow.log_metric("test_heatmap_iou", float(np.mean(list(ious.values()))))
    log.info("heat maps of %d held-out slides; IoU with their masks: %s", len(chosen), ious)
    return ious


def lake_of(snapshot: Snapshot):
    from lakeside.tables import Lake

    return Lake(snapshot.uri.rsplit("/", 2)[0], backend="embedded")


def _served_probabilities(answer: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Rows x classes from the served ``label, prob``: the top class gets ``prob``, the others
    share the rest evenly (exact for two classes)."""
    others = (1.0 - answer["prob"].to_numpy(dtype=float)) / max(1, len(classes) - 1)
    out = np.repeat(others[:, None], len(classes), axis=1)
    columns = [classes.index(label) for label in answer["label"]]
    out[np.arange(len(out)), columns] = answer["prob"].to_numpy(dtype=float)
    return out


def _matrix(rows: pd.DataFrame) -> np.ndarray:
    if rows.empty:
        return np.empty((0, 1280), dtype=np.float32)
    return np.stack(rows["features"].to_numpy()).astype(np.float32)


def _model_name(use_case) -> str:
    from lakeside.retrain import model_name

    return model_name(use_case)
