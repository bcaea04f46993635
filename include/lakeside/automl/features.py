"""Feature engineering shared by every scikit-learn family: one ``ColumnTransformer``.

Each input column gets a *role*, inferred once from the training rows and then fixed (a
glass-box notebook writes the roles out as a literal, so it builds the very same pipeline):

- ``numeric``: numbers and booleans (and, in requests, text holding a plain number);
- ``date``: dates, timestamps and ISO date text (``"2015-04-01"``) -> year and month, plus the
  months between every pair of date columns (e.g. the months between an issue date and the
  first credit line); date columns are ordered latest first (by their training median) and
  each pair is taken earlier-listed minus later-listed;
- ``ordinal``: categories with a known order, declared by the use case -> their rank;
- ``categorical``: everything else, one-hot (at most ``MAX_CATEGORIES`` levels per column).

Columns are taken with the types silver gives them: ingest has already parsed the sources'
text formats, so nothing here knows any source's conventions.

Numeric outputs are median-imputed (with missing-value indicators) and, for the families that
need it, standardised. Unknown categories at prediction time are ignored, so the fitted
pipeline also takes raw text columns and rows with values it never saw.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROLES = ("numeric", "date", "ordinal", "categorical")
MAX_CATEGORIES = 64
NULL_TEXT = frozenset({"", "n/a", "na", "nan", "none", "null"})
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m")

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class FeatureRoles:
    """Which columns play which role; its ``repr`` is Python code that rebuilds it."""

    numeric: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    ordinal: dict[str, tuple[str, ...]] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()


def infer_roles(frame: pd.DataFrame, ordinals=None) -> FeatureRoles:
    """The role of every column of ``frame`` (the feature columns of the training rows);
    ``ordinals`` maps categorical columns to their levels, lowest first."""
    ordinals = dict(ordinals or {})
    found: dict[str, list[str]] = {role: [] for role in ROLES if role != "ordinal"}
    ordinal: dict[str, tuple[str, ...]] = {}
    for column in frame.columns:
        role = column_role(frame[column])
        levels = ordinals.get(column)
        if role == "categorical" and levels and set(_present_text(frame[column])) <= set(levels):
            ordinal[column] = tuple(levels)
        else:
            found[role].append(column)
    found["date"].sort(key=lambda column: -_median_month(frame[column]))
    return FeatureRoles(**{role: tuple(columns) for role, columns in found.items()}, ordinal=ordinal)


def column_role(values: pd.Series) -> str:
    """``numeric``, ``date`` or ``categorical`` (ordinal needs a known order)."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    present = values.dropna()
    if len(present) and present.map(lambda v: isinstance(v, (dt.date, pd.Timestamp))).all():
        return "date"
    text = _present_text(values)
    if not len(text):
        return "categorical"
    if _parse_date_text(text).notna().all():
        return "date"
    return "categorical"


def build_preprocessor(roles: FeatureRoles, scale: bool) -> ColumnTransformer:
    """The ``ColumnTransformer`` for ``roles``; ``scale`` standardises the numeric outputs."""
    def numeric(*steps) -> Pipeline:
        tail = [("scale", StandardScaler())] if scale else []
        return Pipeline([*steps, ("impute", SimpleImputer(strategy="median", add_indicator=True)), *tail])

    blocks = [
        ("numeric", numeric(("parse", NumberParser())), list(roles.numeric)),
        ("date", numeric(("parse", DateParts())), list(roles.date)),
        ("ordinal", numeric(("parse", OrdinalRanks(roles.ordinal))), list(roles.ordinal)),
        ("categorical", Pipeline([
            ("text", CategoryText()),
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES,
                                     sparse_output=False)),
        ]), list(roles.categorical)),
    ]
    return ColumnTransformer([block for block in blocks if block[2]], remainder="drop",
                             sparse_threshold=0.0, verbose_feature_names_out=False)


class _Stateless(TransformerMixin, BaseEstimator):
    """A column-wise conversion: nothing to learn but the input's column names."""

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(list(pd.DataFrame(X).columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X):
        frame = pd.DataFrame(X)
        return np.column_stack([self._convert(frame[c]) for c in frame.columns]).astype("float64")

    def get_feature_names_out(self, input_features=None):
        return np.asarray(list(self.feature_names_in_), dtype=object)

    def _convert(self, values: pd.Series) -> np.ndarray:
        raise NotImplementedError


class NumberParser(_Stateless):
    """Numbers as float (numeric text parsed, see :func:`to_number`)."""

    def _convert(self, values: pd.Series) -> np.ndarray:
        return to_number(values)


class OrdinalRanks(_Stateless):
    """The rank of each value in its column's order; unknown values NaN (then imputed)."""

    def __init__(self, levels: dict[str, tuple[str, ...]] | None = None):
        self.levels = levels

    def transform(self, X):
        frame = pd.DataFrame(X)
        ranks = [_ranks(frame[c], (self.levels or {})[c]) for c in frame.columns]
        return np.column_stack(ranks).astype("float64")


class CategoryText(_Stateless):
    """Categories as stripped text, missing ones as ``"(missing)"`` (one-hot needs strings)."""

    def transform(self, X):
        frame = pd.DataFrame(X)
        return np.column_stack([_category_text(frame[c]) for c in frame.columns]).astype(object)


class DateParts(_Stateless):
    """Year and month of each date column, and the months between each pair of them
    (first-listed minus later-listed: :func:`infer_roles` lists the latest dates first)."""

    def transform(self, X):
        frame = pd.DataFrame(X)
        months = {c: _month_index(frame[c]) for c in frame.columns}
        parts = []
        for column in frame.columns:
            parts += [np.floor(months[column] / 12), np.mod(months[column], 12) + 1]
        parts += [months[a] - months[b] for a, b in combinations(frame.columns, 2)]
        return np.column_stack(parts).astype("float64")

    def get_feature_names_out(self, input_features=None):
        names = [f"{c}_{part}" for c in self.feature_names_in_ for part in ("year", "month")]
        pairs = combinations(self.feature_names_in_, 2)
        return np.asarray(names + [f"{a}_minus_{b}_months" for a, b in pairs], dtype=object)


def to_number(values: pd.Series) -> np.ndarray:
    """Floats from numbers, booleans or plain numeric text (``"12.5"``); anything else NaN."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    return np.array([_text_number(v) for v in values], dtype="float64")


def to_dates(values: pd.Series) -> pd.Series:
    """Timestamps from dates, timestamps or ISO date text (``"2015-04-01"``); the rest NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_convert(None) if values.dt.tz is not None else values
    is_text = values.map(lambda v: isinstance(v, str))
    parsed = pd.to_datetime(values.where(~is_text), errors="coerce")
    if is_text.any():
        parsed = parsed.where(~is_text, _parse_date_text(values.where(is_text).astype("string").str.strip()))
    return parsed


def _median_month(values: pd.Series) -> float:
    months = _month_index(values)
    return float(np.nanmedian(months)) if np.isfinite(months).any() else 0.0


def _month_index(values: pd.Series) -> np.ndarray:
    dates = to_dates(values)
    return (dates.dt.year * 12 + dates.dt.month - 1).astype("float64").to_numpy(na_value=np.nan)


def _parse_date_text(text: pd.Series) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in DATE_FORMATS:
        missing = parsed.isna()
        if not missing.any():
            break
        parsed[missing] = pd.to_datetime(text[missing], format=fmt, errors="coerce")
    return parsed


def _present_text(values: pd.Series) -> pd.Series:
    text = values.dropna().astype(str).str.strip()
    return text[~text.str.lower().isin(NULL_TEXT)]


def _text_number(value) -> float:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    return float(text) if _NUMBER.fullmatch(text) else np.nan


def _ranks(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    rank = {level: float(i) for i, level in enumerate(levels)}
    return np.array([rank.get(str(v).strip(), np.nan) if pd.notna(v) else np.nan for v in values])


def _category_text(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip()
    missing = text.isna() | text.str.lower().isin(NULL_TEXT)
    return text.mask(missing, "(missing)").astype(object).to_numpy()


def is_empty_column(values: pd.Series) -> bool:
    """Only nulls, or only text that means null (``""``, ``"n/a"``)."""
    if values.isna().all():
        return True
    return not pd.api.types.is_numeric_dtype(values) and _present_text(values).empty
