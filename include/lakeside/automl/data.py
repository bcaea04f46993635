"""A search's data: the snapshot's rows in a fixed order, checked, split and folded.

The rows are sorted by the table's key before anything else, so the training order (and with
it every seeded fit) does not depend on the order delta-rs happens to read the files in. The
glass-box notebooks repeat these steps as plain code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from lakeside import snapshot as snapshots
from lakeside.automl.features import FeatureRoles, infer_roles, is_empty_column
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
    folds: np.ndarray
    """The cross-validation fold of each training row (0 .. cv_folds - 1)."""

    @property
    def X_train(self) -> pd.DataFrame:
        return self.train[self.feature_columns]

    @property
    def y_train(self) -> np.ndarray:
        return self.train[self.target].astype("float64").to_numpy()

    @property
    def X_holdout(self) -> pd.DataFrame:
        return self.holdout[self.feature_columns]

    @property
    def y_holdout(self) -> np.ndarray:
        return self.holdout[self.target].astype("float64").to_numpy()

    def fold_indices(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(fit rows, validation rows) of each fold, as positions in ``train``."""
        return [(np.flatnonzero(self.folds != k), np.flatnonzero(self.folds == k))
                for k in range(int(self.folds.max()) + 1)]


def prepare(snapshot: Snapshot, target: str, exclude: Iterable[str] = (), cv_folds: int = 5,
            seed: int = 0, frame: pd.DataFrame | None = None) -> SearchData:
    """Load (unless ``frame`` is given), check, split and fold the snapshot's rows.

    Raises ValueError naming the problem: an empty table, a missing, non-numeric or constant
    target, feature columns holding only nulls, or too few rows for the folds.
    """
    where = f"{snapshot.table} version {snapshot.version}"
    frame = snapshots.load(snapshot) if frame is None else frame
    if frame.empty:
        raise ValueError(f"{where} is empty: there is nothing to train on")
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} is not in {where}; its columns are: {', '.join(frame.columns)}")
    frame = canonical_rows(frame, snapshot, target, where)
    features = feature_columns(frame.columns, target, snapshot.key, exclude)
    if not features:
        raise ValueError(f"{where} has no feature columns left besides the target, the key and {sorted(exclude)}")
    train, holdout = snapshots.split(frame, snapshot)
    _check_trainable(train, holdout, target, features, cv_folds, where)
    folds = np.empty(len(train), dtype=int)
    for number, (_, rows) in enumerate(KFold(cv_folds, shuffle=True, random_state=seed).split(train)):
        folds[rows] = number
    return SearchData(snapshot, target, features, infer_roles(train[features]), train, holdout, folds)


def canonical_rows(frame: pd.DataFrame, snapshot: Snapshot, target: str, where: str = "the table") -> pd.DataFrame:
    """Rows sorted by the key, rows without a target dropped, the target numeric."""
    if not (pd.api.types.is_numeric_dtype(frame[target]) and not pd.api.types.is_bool_dtype(frame[target])):
        raise ValueError(f"target column {target!r} of {where} is {frame[target].dtype}, not numeric: "
                         "a regression search needs a numeric target")
    frame = frame.sort_values(list(snapshot.key), kind="mergesort").reset_index(drop=True)
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
