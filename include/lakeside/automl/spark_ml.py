"""The Spark ML families: the same feature roles as :mod:`.features`, as Spark ML stages.

A logged model is one Spark ``PipelineModel`` (features + regressor) taking the raw silver
columns, so it also scores a Spark DataFrame read straight from the Delta table. Its features
mean what the scikit-learn ones mean; they are not bit-for-bit the same (Spark imputes with an
approximate median, adds no missing-value indicators and one-hot encodes every category).

During a search the feature stages are fitted once on the training rows and their output
cached; each trial then fits only the regressor (in every fold too: the fold models see
feature statistics, medians and category lists, of all training rows, which are unsupervised).
"""

from __future__ import annotations

import dataclasses
from itertools import combinations

import numpy as np
import pandas as pd

from lakeside.automl.data import SearchData
from lakeside.automl.families import Call, Family
from lakeside.automl.features import NULL_TEXT, FeatureRoles
from lakeside.automl.training import Evaluation, mean_metrics, regression_metrics

ROW, FOLD = "__row", "__fold"


def feature_stages(roles: FeatureRoles) -> list:
    """Spark ML stages turning the raw columns into a ``features`` vector."""
    from pyspark.ml.feature import Imputer, OneHotEncoder, SQLTransformer, StringIndexer, VectorAssembler

    numeric = _numeric_expressions(roles)
    categories = {f"{c}__category": _category_expression(c) for c in roles.categorical}
    derived = ", ".join(f"{sql} AS `{name}`" for name, sql in {**numeric, **categories}.items())
    stages = [SQLTransformer(statement=f"SELECT *, {derived} FROM __THIS__")]
    imputed = [f"{name}__imputed" for name in numeric]
    if numeric:
        stages.append(Imputer(inputCols=list(numeric), outputCols=imputed, strategy="median"))
    onehot = [f"{name}__onehot" for name in categories]
    if categories:
        indexed = [f"{name}__index" for name in categories]
        stages += [
            StringIndexer(inputCols=list(categories), outputCols=indexed, handleInvalid="keep",
                          stringOrderType="alphabetAsc"),
            OneHotEncoder(inputCols=indexed, outputCols=onehot, handleInvalid="keep"),
        ]
    stages.append(VectorAssembler(inputCols=imputed + onehot, outputCol="features", handleInvalid="keep"))
    return stages


def with_label(call: Call, target: str) -> Call:
    return dataclasses.replace(call, kwargs={**call.kwargs, "labelCol": target})


class SparkTrainer:
    """Evaluates Spark ML families on a search's data (see the module docstring)."""

    def __init__(self, spark, data: SearchData) -> None:
        from pyspark.ml import Pipeline

        self.data = data
        train = data.train[data.feature_columns + [data.target]].assign(**{ROW: np.arange(len(data.train)),
                                                                         FOLD: data.folds})
        holdout = data.holdout[data.feature_columns].assign(**{ROW: np.arange(len(data.holdout))})
        train_frame = spark.createDataFrame(train)
        self.features = Pipeline(stages=feature_stages(data.roles)).fit(train_frame)
        self.train = self.features.transform(train_frame).select(ROW, FOLD, data.target, "features").cache()
        self.holdout = self.features.transform(spark.createDataFrame(holdout)).select(ROW, "features").cache()

    def evaluate(self, family: Family, params: dict, seed: int) -> Evaluation:
        from pyspark.ml import PipelineModel
        from pyspark.sql import functions as F

        call = with_label(family.estimator(params, seed), self.data.target)
        y = self.data.y_train
        per_fold = []
        for _, check_rows in self.data.fold_indices():
            fold = int(self.data.folds[check_rows[0]])
            fold_model = call.build().fit(self.train.filter(F.col(FOLD) != fold))
            predicted = _predict(fold_model, self.train.filter(F.col(FOLD) == fold))
            per_fold.append(regression_metrics(y[check_rows], predicted))
        regressor = call.build().fit(self.train)
        predictions = _predict(regressor, self.holdout)
        model = PipelineModel(stages=[*self.features.stages, regressor])
        return Evaluation(mean_metrics(per_fold), regression_metrics(self.data.y_holdout, predictions),
                          predictions, model)

    def importances(self, model) -> pd.Series:
        """The regressor's own importances of the derived features (not permutation-based)."""
        attributes = self.train.schema["features"].metadata["ml_attr"]["attrs"]
        names = {attr["idx"]: attr["name"] for group in attributes.values() for attr in group}
        values = model.stages[-1].featureImportances.toArray()
        return pd.Series(values, index=[_readable(names.get(i, str(i))) for i in range(len(values))])

    def close(self) -> None:
        self.train.unpersist()
        self.holdout.unpersist()


def _readable(slot: str) -> str:
    """``addr_state__category__onehot_CA`` -> ``addr_state=CA``, ``dti__number__imputed`` -> ``dti``."""
    for suffix in ("__imputed", "__number", "__rank"):
        slot = slot.replace(suffix, "")
    return slot.replace("__category__onehot_", "=").replace("__", " ")


def _predict(model, frame) -> np.ndarray:
    rows = model.transform(frame).select(ROW, "prediction").toPandas().sort_values(ROW)
    return rows["prediction"].to_numpy(dtype="float64")


def _numeric_expressions(roles: FeatureRoles) -> dict[str, str]:
    found = {f"{c}__number": _number_expression(c) for c in roles.numeric}
    months = {c: f"(year({_date_expression(c)}) * 12 + month({_date_expression(c)}) - 1)" for c in roles.date}
    for column in roles.date:
        found[f"{column}__year"] = f"CAST(year({_date_expression(column)}) AS DOUBLE)"
        found[f"{column}__month"] = f"CAST(month({_date_expression(column)}) AS DOUBLE)"
    for later, earlier in combinations(roles.date, 2):
        found[f"{later}__minus__{earlier}__months"] = f"CAST({months[later]} - {months[earlier]} AS DOUBLE)"
    for column, levels in roles.ordinal.items():
        cases = " ".join(f"WHEN {_literal(level)} THEN {float(rank)}" for rank, level in enumerate(levels))
        found[f"{column}__rank"] = f"CAST(CASE {_text(column)} {cases} ELSE NULL END AS DOUBLE)"
    return found


def _number_expression(column: str) -> str:
    """Numbers, numeric text (13.56%, 1,000) and durations (36 months, 10+ years, < 1 year)."""
    text = _text(column)
    duration = f"try_cast(regexp_extract(lower({text}), '^<? *([0-9.]+) *[+]? *(day|week|month|year)s?$', 1) AS DOUBLE)"
    return (f"coalesce(try_cast({_quoted(column)} AS DOUBLE), "
            f"try_cast(regexp_replace({text}, '[,%]', '') AS DOUBLE), "
            f"CASE WHEN {text} LIKE '<%' THEN greatest({duration} - 1.0, 0.0) ELSE {duration} END)")


def _date_expression(column: str) -> str:
    """Dates, timestamps, ISO text and Lending Club's ``Apr-2015``."""
    text = _text(column)
    return (f"coalesce(try_to_date(CAST({_quoted(column)} AS STRING)), try_to_date({text}, 'MMM-yyyy'), "
            f"try_to_date({text}, 'MM/dd/yyyy'))")


def _category_expression(column: str) -> str:
    text = _text(column)
    nulls = ", ".join(_literal(token) for token in sorted(NULL_TEXT))
    return f"CASE WHEN {_quoted(column)} IS NULL OR lower({text}) IN ({nulls}) THEN '(missing)' ELSE {text} END"


def _text(column: str) -> str:
    return f"trim(CAST({_quoted(column)} AS STRING))"


def _quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"
