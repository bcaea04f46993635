"""A search's data: the snapshot's rows in a fixed order, checked, split and folded.

The rows are sorted by the table's key (by time, then key, for a time split) before anything
else, so the training order (and with it every seeded fit) does not depend on the order delta-rs
happens to read the files in. Folds are K-fold (regression), stratified K-fold (classification)
or forward-chaining (time split: each fold validates on a later block than it fits on). The
glass-box notebooks repeat these steps as plain code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

from lakeside import snapshot as snapshots
from lakeside.automl.features import FeatureRoles, infer_roles, is_empty_column
from lakeside.metrics import CLASSIFICATION
from lakeside.snapshot import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchData:
    snapshot: Snapshot
    target: str
    feature_columns: list[str]
    roles: FeatureRoles
    train: pd.DataFrame
    holdout: pd.DataFrame
    folds: list[tuple[np.ndarray, np.ndarray]]
    """(fit rows, validation rows) of each fold, as positions in ``train``."""
    task: str = "regression"
    classes: list[Any] = field(default_factory=list)
    """Classification: every label of the snapshot, sorted (probability columns follow it)."""
    positive: Any = None
    threshold: float = 0.5
    balance: str = "none"
    seed: int = 0

    @property
    def is_classification(self) -> bool:
        return self.task in CLASSIFICATION

    @property
    def X_train(self) -> pd.DataFrame:
        return self.train[self.feature_columns]

    @property
    def y_train(self) -> np.ndarray:
        return target_values(self.train, self.target, self.task)

    @property
    def X_holdout(self) -> pd.DataFrame:
        return self.holdout[self.feature_columns]

    @property
    def y_holdout(self) -> np.ndarray:
        return target_values(self.holdout, self.target, self.task)

    def fold_indices(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(self.folds)

    def fit_rows(self, rows: np.ndarray) -> np.ndarray:
        """The rows a model is fitted on: ``rows``, undersampled when the search balances that way."""
        if self.balance != "undersample":
            return rows
        return undersample(rows, self.y_train[rows], self.seed)


def target_values(frame: pd.DataFrame, target: str, task: str) -> np.ndarray:
    if task in CLASSIFICATION:
        return frame[target].to_numpy()
    return frame[target].astype("float64").to_numpy()


def undersample(rows: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Every row of the rarest class, and as many rows of each other class, drawn with ``seed``;
    returned in their original order."""
    rng = np.random.default_rng(seed)
    values, counts = np.unique(labels.astype(str), return_counts=True)
    smallest = int(counts.min())
    kept = [rows[labels.astype(str) == value] for value in values]
    kept = [group if len(group) == smallest else rng.choice(group, smallest, replace=False) for group in kept]
    return np.sort(np.concatenate(kept))


def capped_rows(rows: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """``rows``, or a seeded sample of ``cap`` of them (in their original order) when there are more."""
    if cap is None or len(rows) <= cap:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, cap, replace=False))


def prepare(snapshot: Snapshot, target: str, exclude: Iterable[str] = (), cv_folds: int = 5,
            seed: int = 0, frame: pd.DataFrame | None = None, *, task: str = "regression",
            ordinals: Mapping[str, tuple[str, ...]] | None = None, positive: Any = None,
            threshold: float = 0.5, balance: str = "none") -> SearchData:
    """Load (unless ``frame`` is given), check, split and fold the snapshot's rows.

    Raises ValueError naming the problem: an empty table, a missing, unusable or constant
    target, feature columns holding only nulls, or too few rows for the folds.
    """
    where = f"{snapshot.table} version {snapshot.version}"
    frame = snapshots.load(snapshot) if frame is None else frame
    if frame.empty:
        raise ValueError(f"{where} is empty: there is nothing to train on")
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} is not in {where}; its columns are: {', '.join(frame.columns)}")
    frame = canonical_rows(frame, snapshot, target, where, task)
    features = feature_columns(frame.columns, target, snapshot.key, exclude)
    if not features:
        raise ValueError(f"{where} has no feature columns left besides the target, the key and {sorted(exclude)}")
    train, holdout = snapshots.split(frame, snapshot)
    _check_trainable(train, holdout, target, features, cv_folds, where)
    classes: list[Any] = []
    if task in CLASSIFICATION:
        classes = sorted(pd.unique(frame[target]).tolist())
        if task == "binary" and len(classes) != 2:
            raise ValueError(f"a binary task needs exactly two classes in {target!r} of {where}, found {classes}")
        if positive is not None and positive not in classes:
            raise ValueError(f"positive label {positive!r} is not a class of {target!r}: {classes}")
    folds = make_folds(train, target, task, snapshot, cv_folds, seed)
    return SearchData(snapshot, target, features, infer_roles(train[features], ordinals or {}), train, holdout,
                      folds, task, classes, positive, threshold, balance, seed)


def make_folds(train: pd.DataFrame, target: str, task: str, snapshot: Snapshot, cv_folds: int,
               seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if snapshot.split_kind == "time":
        splitter = TimeSeriesSplit(n_splits=cv_folds)
        return [(fit, check) for fit, check in splitter.split(train)]
    if task in CLASSIFICATION:
        labels = train[target].astype(str)
        smallest = int(labels.value_counts().min())
        if smallest < cv_folds:
            raise ValueError(f"the rarest class of {target!r} has {smallest} training rows: too few for "
                             f"{cv_folds}-fold stratified cross-validation")
        splitter = StratifiedKFold(cv_folds, shuffle=True, random_state=seed)
        return [(fit, check) for fit, check in splitter.split(train, labels)]
    splitter = KFold(cv_folds, shuffle=True, random_state=seed)
    return [(fit, check) for fit, check in splitter.split(train)]


def canonical_rows(frame: pd.DataFrame, snapshot: Snapshot, target: str, where: str = "the table",
                   task: str = "regression") -> pd.DataFrame:
    """Rows sorted by the key (time first for a time split), rows without a target dropped."""
    if task not in CLASSIFICATION and not (pd.api.types.is_numeric_dtype(frame[target])
                                           and not pd.api.types.is_bool_dtype(frame[target])):
        raise ValueError(f"target column {target!r} of {where} is {frame[target].dtype}, not numeric: "
                         "a regression search needs a numeric target")
    order = list(snapshot.key)
    if snapshot.split_kind == "time":
        order = [snapshot.split["time_column"], *[k for k in order if k != snapshot.split["time_column"]]]
    frame = frame.sort_values(order, kind="mergesort").reset_index(drop=True)
    unlabelled = int(frame[target].isna().sum())
    if unlabelled:
        log.warning("%s: %d rows without %s are left out", where, unlabelled, target)
        frame = frame[frame[target].notna()].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"{where} has no row with a value in {target!r}")
    return frame


def feature_columns(columns: Iterable[str], target: str, key: Iterable[str], exclude: Iterable[str]) -> list[str]:
    """Every column but the target, the key, ``exclude`` and ingest metadata (``_*``)."""
    dropped = {target, *key, *exclude}
    return [c for c in columns if c not in dropped and not str(c).startswith("_")]


def _check_trainable(train: pd.DataFrame, holdout: pd.DataFrame, target: str, features: list[str],
                     cv_folds: int, where: str) -> None:
    empty = [c for c in features if is_empty_column(train[c])]
    if empty:
        raise ValueError(f"feature column(s) {', '.join(map(repr, empty))} of {where} hold only nulls in the "
                         "training rows: fix the data or pass them in exclude=")
    values = train[target].unique()
    if len(values) < 2:
        raise ValueError(f"target {target!r} is constant ({values[0] if len(values) else 'no value'}) in the "
                         f"training rows of {where}: there is nothing to learn")
    if len(train) < 2 * cv_folds:
        raise ValueError(f"{where} has {len(train)} training rows: too few for {cv_folds}-fold cross-validation")
    if holdout.empty:
        raise ValueError(f"the holdout of {where} is empty: too few rows, or holdout_fraction is 0")
