"""The Spark ML families: the same feature roles as :mod:`.features`, as Spark ML stages.

A logged model is one Spark ``PipelineModel`` (features + regressor) taking the raw silver
columns, so it also scores a Spark DataFrame read straight from the Delta table. Its features
mean what the scikit-learn ones mean; they are not bit-for-bit the same (Spark imputes with an
approximate median, adds no missing-value indicators and one-hot encodes every category).

Classifiers learn a class index (``label``, the position in the sorted class list) and the
logged model maps its prediction back to the original label.

During a search the feature stages are fitted once on the training rows and their output
cached; each trial then fits only the estimator (in every fold too: the fold models see
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
from lakeside import metrics
from lakeside.automl.training import Evaluation, TrialStopped, mean_metrics, score
from lakeside.sparksql import quoted, string

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


LABEL, WEIGHT, PREDICTED_INDEX = "label", "__weight", "__prediction_index"


def with_label(call: Call, target: str, task: str = "regression") -> Call:
    """The estimator reading the label column: the target itself (regression) or its class index."""
    kwargs = {**call.kwargs, "labelCol": target if task == "regression" else LABEL}
    if task != "regression":
        kwargs["predictionCol"] = PREDICTED_INDEX
    return dataclasses.replace(call, kwargs=kwargs)


def label_stages(classes: list) -> list:
    """A classifier's predicted class index back to the original label, in ``prediction``."""
    from pyspark.ml.feature import SQLTransformer

    cases = " ".join(f"WHEN {float(index)} THEN {_typed_literal(label)}" for index, label in enumerate(classes))
    return [SQLTransformer(statement=f"SELECT *, CASE {PREDICTED_INDEX} {cases} END AS prediction FROM __THIS__")]


def training_columns(frame: pd.DataFrame, target: str, classes: list, training_labels: pd.Series) -> pd.DataFrame:
    """``frame`` with the class index (``label``) and balanced class weights (``__weight``, from
    the class counts of ``training_labels``) added; unchanged for regression (no ``classes``)."""
    if not classes:
        return frame
    labels = frame[target]
    index = labels.map({label: float(i) for i, label in enumerate(classes)})
    counts = training_labels.value_counts()
    weights = labels.map(len(training_labels) / (len(counts) * counts)).astype("float64")
    return frame.assign(**{LABEL: index, WEIGHT: weights})


def holdout_output(model, frame, classification: bool) -> np.ndarray:
    """Predictions (regression) or class probabilities (classification) of ``frame``'s rows, in
    the order of its ``__row`` column."""
    return _probabilities(model, frame) if classification else _predict(model, frame)


class SparkTrainer:
    """Evaluates Spark ML families on a search's data (see the module docstring).

    The rows each fit uses are boolean columns (``__fit<k>`` per fold, ``__fit_all``), so folds,
    forward-chaining time folds and undersampling are all the same filter.
    """

    def __init__(self, spark, data: SearchData, job_group: str = "lakeside-search") -> None:
        from pyspark.ml import Pipeline

        self.spark = spark
        self.job_group = job_group
        self.stopped = False
        spark.sparkContext.setJobGroup(job_group, "Lakeside model search: preparing the data", interruptOnCancel=True)
        self.data = data
        self.fits = [f"__fit{k}" for k in range(len(data.folds))] + ["__fit_all"]
        checks = np.full(len(data.train), -1)
        fit_flags = {}
        for k, (fit, check) in enumerate(data.fold_indices()):
            checks[check] = k
            fit_flags[self.fits[k]] = np.isin(np.arange(len(data.train)), data.fit_rows(fit))
        fit_flags["__fit_all"] = np.isin(np.arange(len(data.train)), data.fit_rows(np.arange(len(data.train))))
        train = training_columns(data.train[data.feature_columns + [data.target]], data.target, data.classes,
                                 data.train[data.target]).assign(
            **{ROW: np.arange(len(data.train)), FOLD: checks}, **fit_flags)
        holdout = data.holdout[data.feature_columns].assign(**{ROW: np.arange(len(data.holdout))})
        train_frame = spark.createDataFrame(train)
        self.features = Pipeline(stages=feature_stages(data.roles)).fit(train_frame)
        kept = [ROW, FOLD, data.target, "features", *self.fits] + ([LABEL, WEIGHT] if data.is_classification else [])
        self.train = self.features.transform(train_frame).select(*kept).cache()
        self.holdout = self.features.transform(spark.createDataFrame(holdout)).select(ROW, "features").cache()
        self.train_rows = int(fit_flags["__fit_all"].sum())

    def evaluate(self, family: Family, params: dict, seed: int) -> Evaluation:
        from pyspark.ml import PipelineModel
        from pyspark.sql import functions as F

        data = self.data
        self._refuse_if_stopped()
        self.spark.sparkContext.setJobGroup(self.job_group, "Lakeside model search trial", interruptOnCancel=True)
        call = with_label(family.estimator(params, seed, data.task, data.balance), data.target, data.task)
        y = data.y_train
        per_fold = []
        for k, (_, check_rows) in enumerate(data.fold_indices()):
            fold_model = call.build().fit(self.train.filter(F.col(self.fits[k])))
            self._refuse_if_stopped()
            per_fold.append(self._score(fold_model, self.train.filter(F.col(FOLD) == k), y[check_rows])[0])
            self._refuse_if_stopped()
        estimator = call.build().fit(self.train.filter(F.col("__fit_all")))
        self._refuse_if_stopped()
        holdout, predictions, probabilities = self._score(estimator, self.holdout, data.y_holdout)
        tail = label_stages(data.classes) if data.is_classification else []
        model = PipelineModel(stages=[*self.features.stages, estimator, *tail])
        return Evaluation(mean_metrics(per_fold), holdout, predictions, model, probabilities, self.train_rows)

    def _refuse_if_stopped(self) -> None:
        """A cancel only reaches running jobs: a deadline that falls between two of a trial's jobs
        is seen here, before the next one starts."""
        if self.stopped:
            raise TrialStopped("the family's share of the search budget is used up")

    def stop(self) -> None:
        """Cancel the running trial's Spark jobs (the search's deadline) and refuse new trials."""
        self.stopped = True
        self.spark.sparkContext.cancelJobGroup(self.job_group)

    def resume(self) -> None:
        """Accept trials again (the next family gets its own deadline)."""
        self.stopped = False

    def _score(self, model, frame, actual):
        data = self.data
        if not data.is_classification:
            predicted = _predict(model, frame)
            return score(data, actual, predicted=predicted), predicted, None
        probabilities = _probabilities(model, frame)
        labels = metrics.predicted_labels(probabilities, data.classes, positive=data.positive,
                                          threshold=data.threshold)
        return score(data, actual, probabilities=probabilities), labels, probabilities

    def importances(self, model) -> pd.Series:
        """The estimator's own importances of the derived features (not permutation-based)."""
        attributes = self.train.schema["features"].metadata["ml_attr"]["attrs"]
        names = {attr["idx"]: attr["name"] for group in attributes.values() for attr in group}
        estimator = next(stage for stage in reversed(model.stages) if hasattr(stage, "featureImportances"))
        values = estimator.featureImportances.toArray()
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


def _probabilities(model, frame) -> np.ndarray:
    from pyspark.ml.functions import vector_to_array

    rows = model.transform(frame).select(ROW, vector_to_array("probability").alias("p")).toPandas().sort_values(ROW)
    return np.vstack(rows["p"].to_numpy()) if len(rows) else np.zeros((0, 0))


def _numeric_expressions(roles: FeatureRoles) -> dict[str, str]:
    found = {f"{c}__number": _number_expression(c) for c in roles.numeric}
    months = {c: f"(year({_date_expression(c)}) * 12 + month({_date_expression(c)}) - 1)" for c in roles.date}
    for column in roles.date:
        found[f"{column}__year"] = f"CAST(year({_date_expression(column)}) AS DOUBLE)"
        found[f"{column}__month"] = f"CAST(month({_date_expression(column)}) AS DOUBLE)"
    for later, earlier in combinations(roles.date, 2):
        found[f"{later}__minus__{earlier}__months"] = f"CAST({months[later]} - {months[earlier]} AS DOUBLE)"
    for column, levels in roles.ordinal.items():
        cases = " ".join(f"WHEN {string(level)} THEN {float(rank)}" for rank, level in enumerate(levels))
        found[f"{column}__rank"] = f"CAST(CASE {_text(column)} {cases} ELSE NULL END AS DOUBLE)"
    return found


def _number_expression(column: str) -> str:
    """Numbers, booleans and plain numeric text."""
    return f"try_cast({quoted(column)} AS DOUBLE)"


def _date_expression(column: str) -> str:
    """Dates, timestamps and ISO date text."""
    return f"try_to_date(CAST({quoted(column)} AS STRING))"


def _category_expression(column: str) -> str:
    text = _text(column)
    nulls = ", ".join(string(token) for token in sorted(NULL_TEXT))
    return f"CASE WHEN {quoted(column)} IS NULL OR lower({text}) IN ({nulls}) THEN '(missing)' ELSE {text} END"


def _text(column: str) -> str:
    return f"trim(CAST({quoted(column)} AS STRING))"


def _typed_literal(value) -> str:
    """A SQL literal of the label's own type (numbers stay numbers)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return f"CAST({int(value)} AS BIGINT)"
    if isinstance(value, (float, np.floating)):
        return f"CAST({float(value)!r} AS DOUBLE)"
    return string(str(value))

