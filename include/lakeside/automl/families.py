"""The model families: each one's Optuna search space and its estimator as a :class:`Call`.

An estimator is kept as data (the class's import path and literal keyword arguments), so the
search builds it and the glass-box notebook writes it out from the same description: the
notebook's estimator cell is the constructor call the search ran.

Importing this module is cheap (the estimators' libraries load when a Call is built), so DAG
files list the families at parse time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Call:
    """A constructor call: ``target`` is ``"package.module.Class"``; values may be Calls."""

    target: str
    kwargs: dict[str, Any]

    @property
    def class_name(self) -> str:
        return self.target.rsplit(".", 1)[1]

    def build(self):
        module, name = self.target.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
        return cls(**{k: v.build() if isinstance(v, Call) else v for k, v in self.kwargs.items()})

    def code(self, indent: int = 0) -> str:
        """Python source for the call, one keyword per line."""
        if not self.kwargs:
            return f"{self.class_name}()"
        pad = " " * (indent + 4)
        lines = [f"{pad}{k}={v.code(indent + 4) if isinstance(v, Call) else repr(v)}," for k, v in self.kwargs.items()]
        return f"{self.class_name}(\n" + "\n".join(lines) + f"\n{' ' * indent})"

    def imports(self) -> list[str]:
        module, name = self.target.rsplit(".", 1)
        nested = [line for v in self.kwargs.values() if isinstance(v, Call) for line in v.imports()]
        return sorted({f"from {module} import {name}", *nested})


@dataclass(frozen=True)
class Family:
    """``suggest`` draws hyperparameters; ``regressor`` / ``classifier`` turn them (and the seed)
    into a Call; a family without one does not take that kind of task.

    ``scale``: the family needs standardised features. ``engine``: ``sklearn`` families are a
    scikit-learn Pipeline (features + estimator); ``spark`` ones a Spark ML Pipeline.
    ``balanced_weights``: how the family's classifier is told to weight classes (the keyword and
    its value), or None when it cannot.
    """

    name: str
    suggest: Callable[[optuna.Trial], dict[str, Any]]
    regressor: Callable[[dict[str, Any], int], Call] | None
    classifier: Callable[[dict[str, Any], int], Call] | None
    scale: bool
    engine: str = "sklearn"
    description: str = ""
    binary_only: bool = False
    balanced_weights: tuple[str, Any] | None = None
    max_train_rows: int | None = None
    """Fits use at most this many rows (a seeded sample the notebook repeats): a fit whose cost
    grows faster than the rows (kNN, SVR, deep forests) still fits in a search's budget."""

    def supports(self, task: str) -> bool:
        if task == "regression":
            return self.regressor is not None
        if task in ("binary", "multiclass"):
            return self.classifier is not None and not (self.binary_only and task == "multiclass")
        return False

    def estimator(self, params: dict[str, Any], seed: int, task: str = "regression",
                  balance: str = "none") -> Call:
        if not self.supports(task):
            raise ValueError(f"family {self.name} does not take {task} tasks")
        if task == "regression":
            return self.regressor(params, seed)
        call = self.classifier(params, seed)
        if balance == "class_weight" and self.balanced_weights is not None:
            keyword, value = self.balanced_weights
            call = Call(call.target, {**call.kwargs, keyword: value})
        return call


def _linear(trial: optuna.Trial) -> dict[str, Any]:
    kind = trial.suggest_categorical("kind", ["ridge", "elastic_net"])
    if kind == "ridge":
        return {"kind": kind, "alpha": trial.suggest_float("ridge_alpha", 1e-3, 100.0, log=True)}
    return {"kind": kind, "alpha": trial.suggest_float("elastic_net_alpha", 1e-4, 1.0, log=True),
            "l1_ratio": trial.suggest_float("l1_ratio", 0.05, 1.0)}


def _linear_call(params: dict[str, Any], seed: int) -> Call:
    if params["kind"] == "ridge":
        return Call("sklearn.linear_model.Ridge", {"alpha": params["alpha"]})
    return Call("sklearn.linear_model.ElasticNet", {
        "alpha": params["alpha"], "l1_ratio": params["l1_ratio"], "max_iter": 10_000, "random_state": seed,
    })


def _knn(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 2, 50, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
        "p": trial.suggest_categorical("p", [1, 2]),
    }


def _knn_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.neighbors.KNeighborsRegressor", {**params, "n_jobs": 1})


def _random_forest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, log=True),
        "max_depth": trial.suggest_int("max_depth", 3, 20),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
        "max_features": trial.suggest_float("max_features", 0.2, 1.0),
    }


def _random_forest_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.ensemble.RandomForestRegressor", {**params, "random_state": seed, "n_jobs": 1})


def _hist_gradient_boosting(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "max_iter": trial.suggest_int("max_iter", 50, 500, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 60, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
    }


def _hist_gradient_boosting_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.ensemble.HistGradientBoostingRegressor",
                {**params, "early_stopping": False, "random_state": seed})


def _lightgbm(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 500, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 64, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 60, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-6, 10.0, log=True),
    }


def _lightgbm_call(params: dict[str, Any], seed: int) -> Call:
    return Call("lightgbm.LGBMRegressor", {
        **params, "subsample_freq": 1, "random_state": seed, "n_jobs": 1,
        "deterministic": True, "force_col_wise": True, "verbose": -1,
    })


def _svr(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "C": trial.suggest_float("C", 0.1, 100.0, log=True),
        "epsilon": trial.suggest_float("epsilon", 0.01, 0.5, log=True),
        "gamma": trial.suggest_float("gamma", 1e-3, 1.0, log=True),
    }


def _svr_call(params: dict[str, Any], seed: int) -> Call:
    """SVR on a standardised target, so ``C`` and ``epsilon`` mean the same for any target scale."""
    return Call("sklearn.compose.TransformedTargetRegressor", {
        "regressor": Call("sklearn.svm.SVR", {"kernel": "rbf", **params}),
        "transformer": Call("sklearn.preprocessing.StandardScaler", {}),
    })


def _logistic(trial: optuna.Trial) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-3, 100.0, log=True)}


def _logistic_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.linear_model.LogisticRegression", {**params, "max_iter": 2_000, "random_state": seed})


def _knn_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.neighbors.KNeighborsClassifier", {**params, "n_jobs": 1})


def _random_forest_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.ensemble.RandomForestClassifier", {**params, "random_state": seed, "n_jobs": 1})


def _hist_gradient_boosting_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("sklearn.ensemble.HistGradientBoostingClassifier",
                {**params, "early_stopping": False, "random_state": seed})


def _lightgbm_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("lightgbm.LGBMClassifier", {
        **params, "subsample_freq": 1, "random_state": seed, "n_jobs": 1,
        "deterministic": True, "force_col_wise": True, "verbose": -1,
    })


def _spark_gbt(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "maxIter": trial.suggest_int("maxIter", 5, 40, log=True),
        "maxDepth": trial.suggest_int("maxDepth", 2, 5),
        "stepSize": trial.suggest_float("stepSize", 0.03, 0.3, log=True),
        "minInstancesPerNode": trial.suggest_int("minInstancesPerNode", 1, 20, log=True),
    }


def _spark_gbt_call(params: dict[str, Any], seed: int) -> Call:
    """No row subsampling: the fit then does not depend on how Spark partitions the rows, so
    the notebook reproduces it on any session."""
    return Call("pyspark.ml.regression.GBTRegressor", {
        **params, "subsamplingRate": 1.0, "maxBins": 32, "seed": seed,
        "featuresCol": "features", "labelCol": "label",
    })


def _spark_gbt_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("pyspark.ml.classification.GBTClassifier", {
        **params, "subsamplingRate": 1.0, "maxBins": 32, "seed": seed,
        "featuresCol": "features", "labelCol": "label",
    })


def _spark_decision_tree(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "maxDepth": trial.suggest_int("maxDepth", 2, 15),
        "maxBins": trial.suggest_categorical("maxBins", [10, 20, 32]),
        "minInstancesPerNode": trial.suggest_int("minInstancesPerNode", 1, 20, log=True),
    }


def _spark_decision_tree_call(params: dict[str, Any], seed: int) -> Call:
    return Call("pyspark.ml.regression.DecisionTreeRegressor",
                {**params, "seed": seed, "featuresCol": "features", "labelCol": "label"})


def _spark_decision_tree_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("pyspark.ml.classification.DecisionTreeClassifier",
                {**params, "seed": seed, "featuresCol": "features", "labelCol": "label"})


def _spark_random_forest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "numTrees": trial.suggest_int("numTrees", 10, 100, log=True),
        "maxDepth": trial.suggest_int("maxDepth", 3, 10),
        "minInstancesPerNode": trial.suggest_int("minInstancesPerNode", 1, 20, log=True),
        "featureSubsetStrategy": trial.suggest_categorical("featureSubsetStrategy", ["onethird", "sqrt", "0.5"]),
    }


def _spark_random_forest_call(params: dict[str, Any], seed: int) -> Call:
    """Trees differ by their random feature subsets, not by bootstrap samples: Spark draws
    those per partition, which would tie the fit to the session's partitioning."""
    return Call("pyspark.ml.regression.RandomForestRegressor", {
        **params, "bootstrap": False, "subsamplingRate": 1.0, "maxBins": 32, "seed": seed,
        "featuresCol": "features", "labelCol": "label",
    })


def _spark_random_forest_classifier_call(params: dict[str, Any], seed: int) -> Call:
    return Call("pyspark.ml.classification.RandomForestClassifier", {
        **params, "bootstrap": False, "subsamplingRate": 1.0, "maxBins": 32, "seed": seed,
        "featuresCol": "features", "labelCol": "label",
    })


_SPARK_WEIGHTS = ("weightCol", "__weight")

FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("linear", _linear, _linear_call, None, scale=True, description="Ridge or ElasticNet (scikit-learn)"),
    Family("logistic", _logistic, None, _logistic_call, scale=True,
           description="logistic regression (scikit-learn)", balanced_weights=("class_weight", "balanced")),
    Family("knn", _knn, _knn_call, _knn_classifier_call, scale=True, description="k nearest neighbours (scikit-learn)",
           max_train_rows=20_000),
    Family("random_forest", _random_forest, _random_forest_call, _random_forest_classifier_call, scale=False,
           description="random forest (scikit-learn)", balanced_weights=("class_weight", "balanced"),
           max_train_rows=50_000),
    Family("hist_gradient_boosting", _hist_gradient_boosting, _hist_gradient_boosting_call,
           _hist_gradient_boosting_classifier_call, scale=False,
           description="histogram gradient boosting (scikit-learn)", balanced_weights=("class_weight", "balanced")),
    Family("lightgbm", _lightgbm, _lightgbm_call, _lightgbm_classifier_call, scale=False,
           description="gradient boosting (LightGBM)", balanced_weights=("class_weight", "balanced")),
    Family("svr", _svr, _svr_call, None, scale=True, description="RBF support vector regression (scikit-learn)",
           max_train_rows=10_000),
    Family("spark_gbt", _spark_gbt, _spark_gbt_call, _spark_gbt_classifier_call, scale=False, engine="spark",
           description="gradient-boosted trees (Spark ML)", binary_only=True, balanced_weights=_SPARK_WEIGHTS),
    Family("spark_random_forest", _spark_random_forest, _spark_random_forest_call,
           _spark_random_forest_classifier_call, scale=False, engine="spark",
           description="random forest (Spark ML)", balanced_weights=_SPARK_WEIGHTS),
    Family("spark_decision_tree", _spark_decision_tree, _spark_decision_tree_call,
           _spark_decision_tree_classifier_call, scale=False, engine="spark",
           description="decision tree (Spark ML)", balanced_weights=_SPARK_WEIGHTS),
)}


def families_for(task: str) -> list[str]:
    """The names of every family that takes ``task``, in search order."""
    return [name for name, family in FAMILIES.items() if family.supports(task)]


def resolve(families: list[str] | tuple[str, ...] | None, task: str = "regression") -> list[Family]:
    """The families asked for, in search order; every family taking ``task`` for ``None``."""
    names = families_for(task) if families is None else list(dict.fromkeys(families))
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"unknown model families {unknown or names}: choose from {', '.join(FAMILIES)}")
    unfit = [name for name in names if not FAMILIES[name].supports(task)]
    if unfit:
        raise ValueError(f"model families {unfit} do not take {task} tasks; those that do: "
                         f"{', '.join(families_for(task))}")
    return [FAMILIES[name] for name in names]
