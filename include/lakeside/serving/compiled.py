"""Compiled tabular models: a fitted scikit-learn ``Pipeline([("features", ColumnTransformer),
("model", estimator)])`` answered without scikit-learn's per-call overhead.

The compiled form has two halves:

- **feed preparation** in vectorised NumPy, rebuilt from the fitted ``ColumnTransformer`` when the
  model is loaded: each block's custom parsers (any transformer this module does not know) run
  as fitted; ``SimpleImputer``, ``StandardScaler`` and ``OneHotEncoder`` become array operations
  on their fitted statistics (the same arithmetic, so the same doubles);
- **the estimator as an ONNX graph** on double inputs, run by onnxruntime: linear, logistic and
  k-nearest-neighbour models through skl2onnx; tree ensembles (scikit-learn forests, histogram
  gradient boosting, LightGBM) and RBF support vector regression written here as
  ``ai.onnx.ml`` ``TreeEnsemble`` (opset 5) and plain ONNX operators, because skl2onnx's tree
  and SVM converters only work in single precision with this onnxruntime.

The graph takes ``features`` (double, rows x prepared columns) and answers ``scores``: the
prediction (regression) or the class probabilities (classification; the predicted class is the
most probable one, as scikit-learn's ``predict`` of these estimators). It is kept only if it
reproduces the pipeline on every row given to :func:`compile_pipeline` (max abs difference
``<= TOLERANCE``, identical classes); otherwise the result says why not, and the model is
served by its pyfunc.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TOLERANCE = 1e-6
RUNTIME_TAG = "lakeside.compiled"
REASON_TAG = "lakeside.compiled_reason"
MAX_DIFF_TAG = "lakeside.compiled_max_abs_diff"
ARTIFACT_DIR = "compiled"
ONNX_FILE = "model.onnx"
VERIFICATION_FILE = "verification.json"
INPUT = "features"
OUTPUT = "scores"
ONNX_OPSET = 18
ML_OPSET = 5


class NotCompilable(ValueError):
    """The pipeline (or a part of it) has no compiled form here; the message says why."""


# --- feed preparation ------------------------------------------------------------------------

class FeedPreparation:
    """The fitted ``ColumnTransformer`` as array operations: a frame of raw columns -> the
    double matrix the estimator was fitted on."""

    def __init__(self, preprocessor) -> None:
        from sklearn.compose import ColumnTransformer

        if not isinstance(preprocessor, ColumnTransformer) or not hasattr(preprocessor, "transformers_"):
            raise NotCompilable(f"the features step is a {type(preprocessor).__name__}, not a fitted ColumnTransformer")
        self.blocks: list[tuple[list, list]] = []
        for name, transformer, columns in preprocessor.transformers_:
            if transformer == "drop" or (isinstance(columns, (list, tuple, np.ndarray)) and len(columns) == 0):
                continue
            if isinstance(transformer, str):
                raise NotCompilable(f"feature block {name!r} is {transformer!r}")
            steps = [step for _, step in transformer.steps] if hasattr(transformer, "steps") else [transformer]
            first = _lakeside_parser(steps[0]) or _on_selection(_array_step(steps[0]))
            self.blocks.append((list(columns), [first, *(_array_step(step) for step in steps[1:])]))

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for columns, (first, *rest) in self.blocks:
            values = first(frame, columns)
            for step in rest:
                values = step(values)
            parts.append(np.asarray(values, dtype="float64"))
        return np.ascontiguousarray(np.hstack(parts), dtype="float64")


def _on_selection(step):
    return lambda frame, columns: step(frame[columns])


# Lakeside's own parsers (lakeside.automl.features) without a DataFrame per call: the same
# conversions column by column, on arrays where the column's type allows, else the module's
# own functions on the column. Requests of up to this many rows take the per-value Python
# path for text; larger ones pandas' vectorised string methods (as the parsers do).
_PER_VALUE_ROWS = 64


def _lakeside_parser(step):
    cls = type(step)
    if cls.__module__ != "lakeside.automl.features":
        return None
    from lakeside.automl import features

    name = cls.__name__
    if name == "NumberParser":
        return lambda frame, columns: np.column_stack([_numbers(frame[c], features) for c in columns])
    if name == "CategoryText":
        return lambda frame, columns: np.column_stack([_category_text(frame[c], features) for c in columns])
    if name == "OrdinalRanks":
        levels = step.levels or {}
        return lambda frame, columns: np.column_stack(
            [features._ranks(frame[c], levels[c]) for c in columns]).astype("float64")
    if name == "DateParts":
        return lambda frame, columns: _date_parts([_month_index(frame[c], features) for c in columns])
    return None


def _numbers(values: pd.Series, features) -> np.ndarray:
    if values.dtype.kind in "fiu" and not isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        return values.to_numpy(dtype="float64")
    return features.to_number(values)


def _category_text(values: pd.Series, features) -> np.ndarray:
    raw = values.to_numpy()
    if raw.dtype != object or len(raw) > _PER_VALUE_ROWS:
        return features._category_text(values)
    out = np.empty(len(raw), dtype=object)
    for i, value in enumerate(raw):
        if isinstance(value, str):
            text = value.strip()
            out[i] = "(missing)" if text.lower() in features.NULL_TEXT else text
        elif value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[i] = "(missing)"
        else:  # anything else is formatted as pandas does: the module's own function
            return features._category_text(values)
    return out


def _month_index(values: pd.Series, features) -> np.ndarray:
    """``year * 12 + month - 1`` of each date (NaN when missing)."""
    if values.dtype.kind == "M" and getattr(values.dtype, "tz", None) is None:
        months = values.to_numpy().astype("datetime64[M]")
        out = months.astype("int64").astype("float64") + 1970 * 12
        out[np.isnat(months)] = np.nan
        return out
    return features._month_index(values)


def _date_parts(months: list[np.ndarray]) -> np.ndarray:
    from itertools import combinations

    parts = []
    for month in months:
        parts += [np.floor(month / 12), np.mod(month, 12) + 1]
    parts += [a - b for a, b in combinations(months, 2)]
    return np.column_stack(parts).astype("float64")


def _array_step(step):
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if isinstance(step, SimpleImputer):
        return _imputer(step)
    if isinstance(step, StandardScaler):
        return _scaler(step)
    if isinstance(step, OneHotEncoder):
        return _one_hot(step)
    if not hasattr(step, "transform"):
        raise NotCompilable(f"feature step {type(step).__name__} cannot transform")
    return step.transform


def _imputer(imputer):
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise NotCompilable(f"SimpleImputer with missing_values={missing!r} (only NaN is compiled)")
    statistics = np.asarray(imputer.statistics_, dtype="float64")
    keep = np.ones(len(statistics), bool) if imputer.keep_empty_features else ~np.isnan(statistics)
    indicator = getattr(imputer, "indicator_", None)
    flagged = None if indicator is None else np.asarray(indicator.features_)
    if indicator is not None and indicator.features != "missing-only":
        raise NotCompilable("SimpleImputer with a missing indicator over all features")

    def impute(values):
        values = np.asarray(values, dtype="float64")
        absent = np.isnan(values)
        filled = np.where(absent, statistics, values)[:, keep]
        if flagged is None:
            return filled
        return np.hstack([filled, absent[:, flagged].astype("float64")])
    return impute


def _scaler(scaler):
    mean = None if scaler.mean_ is None or not scaler.with_mean else np.asarray(scaler.mean_, dtype="float64")
    scale = None if scaler.scale_ is None or not scaler.with_std else np.asarray(scaler.scale_, dtype="float64")

    def standardise(values):
        values = np.array(values, dtype="float64")
        if mean is not None:
            values -= mean
        if scale is not None:
            values /= scale
        return values
    return standardise


def _one_hot(encoder):
    """One column per frequent category (in ``categories_`` order), then one for the infrequent
    ones when there are any; an unknown value counts as infrequent there, else as nothing."""
    if encoder.drop is not None:
        raise NotCompilable("OneHotEncoder with drop")
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise NotCompilable(f"OneHotEncoder with handle_unknown={encoder.handle_unknown!r}")
    infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(encoder.categories_)
    columns = []
    width = 0
    for categories, rare in zip(encoder.categories_, infrequent):
        rare_set = set() if rare is None else set(rare.tolist())
        frequent = [c for c in categories.tolist() if c not in rare_set]
        position = {c: i for i, c in enumerate(frequent)}
        code = np.array([position.get(c, len(frequent)) for c in categories.tolist()], dtype="int64")
        has_rare = bool(rare_set)
        lookup = {c: int(k) for c, k in zip(categories.tolist(), code)}
        columns.append((pd.Index(categories), lookup, code, len(frequent) + has_rare, has_rare))
        width += len(frequent) + has_rare

    def encode(values):
        values = np.asarray(values, dtype=object)
        out = np.zeros((len(values), width), dtype="float64")
        rows = np.arange(len(values))
        start = 0
        for j, (index, lookup, code, size, has_rare) in enumerate(columns):
            unknown = size - 1 if has_rare else -1
            if len(values) <= _PER_VALUE_ROWS:
                slot = np.array([lookup.get(v, unknown) for v in values[:, j]], dtype="int64")
            else:
                found = index.get_indexer(values[:, j])
                slot = np.where(found >= 0, code[np.maximum(found, 0)], unknown)
            hit = slot >= 0
            out[rows[hit], start + slot[hit]] = 1.0
            start += size
        return out
    return encode


# --- the estimator as ONNX -------------------------------------------------------------------

@dataclass(frozen=True)
class Graph:
    """An estimator's ONNX graph and what its ``scores`` are."""

    model: Any
    classification: bool


def estimator_graph(estimator, n_features: int) -> Graph:
    """The ONNX graph of a fitted estimator taking ``n_features`` doubles; NotCompilable says why not."""
    name = type(estimator).__name__
    module = type(estimator).__module__
    if name == "TransformedTargetRegressor":
        return _transformed_target(estimator, n_features)
    if name in ("RandomForestRegressor", "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier",
                "DecisionTreeRegressor", "DecisionTreeClassifier"):
        return _sklearn_forest(estimator, n_features)
    if name in ("HistGradientBoostingRegressor", "HistGradientBoostingClassifier"):
        return _hist_gradient_boosting(estimator, n_features)
    if module.startswith("lightgbm"):
        return _lightgbm(estimator, n_features)
    if name == "SVR":
        return _svr(estimator, n_features)
    return _skl2onnx(estimator, n_features)


def _skl2onnx(estimator, n_features: int) -> Graph:
    from onnx import helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    classification = hasattr(estimator, "classes_")
    options = {id(estimator): {"zipmap": False}} if classification else None
    try:
        converted = convert_sklearn(estimator, initial_types=[(INPUT, DoubleTensorType([None, n_features]))],
                                    options=options, target_opset={"": ONNX_OPSET, "ai.onnx.ml": 3})
    except Exception as error:  # noqa: BLE001 - skl2onnx raises many kinds; all mean "no converter"
        raise NotCompilable(f"skl2onnx cannot convert {type(estimator).__name__}: {error}"[:500]) from None
    graph = converted.graph
    produced = graph.output[1 if classification else 0].name
    graph.node.append(helper.make_node("Identity", [produced], [OUTPUT]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, 11, None))
    return Graph(converted, classification)


def _transformed_target(estimator, n_features: int) -> Graph:
    from sklearn.preprocessing import StandardScaler

    transformer = estimator.transformer_
    if not isinstance(transformer, StandardScaler) or getattr(estimator, "_training_dim", 1) != 1:
        raise NotCompilable(f"TransformedTargetRegressor with a {type(transformer).__name__} target transformer")
    inner = estimator_graph(estimator.regressor_, n_features)
    scale = 1.0 if transformer.scale_ is None else float(transformer.scale_[0])
    mean = 0.0 if transformer.mean_ is None else float(transformer.mean_[0])
    return Graph(_append_affine(inner.model, scale, mean), False)


def _append_affine(model, scale: float, offset: float):
    """``scores * scale + offset`` (a StandardScaler's inverse: the same two operations)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == OUTPUT:
                node.output[i] = "unscaled"
    graph.initializer.extend([numpy_helper.from_array(np.array(scale), "target_scale"),
                              numpy_helper.from_array(np.array(offset), "target_offset")])
    graph.node.extend([helper.make_node("Mul", ["unscaled", "target_scale"], ["rescaled"]),
                       helper.make_node("Add", ["rescaled", "target_offset"], [OUTPUT])])
    return model


@dataclass
class _Trees:
    """Binary trees for ``TreeEnsemble``: per tree, per node: feature, threshold (``x <= t``
    goes left), left and right child (-1: the node is a leaf), and per leaf its value per target."""

    n_targets: int
    trees: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def add(self, feature, threshold, left, right, values) -> None:
        self.trees.append((np.asarray(feature, "int64"), np.asarray(threshold, "float64"), np.asarray(left, "int64"),
                           np.asarray(right, "int64"), np.asarray(values, "float64").reshape(len(left), -1)))


def _tree_ensemble(trees: _Trees, n_features: int, *, round_to_float32: bool = False, divide: float = 1.0,
                   base: np.ndarray | None = None, link: str = "identity", classification: bool = False):
    """The sum of the trees' leaf values per target (``/ divide``, ``+ base``), then ``link``
    (``identity``, ``sigmoid``: two columns ``1-p, p``, ``softmax``)."""
    from onnx import TensorProto, helper, numpy_helper

    feature_ids, splits, modes, true_ids, true_leaf, false_ids, false_leaf, roots = [], [], [], [], [], [], [], []
    leaf_targets, leaf_weights = [], []
    for feature, threshold, left, right, values in trees.trees:
        for target in range(trees.n_targets):
            node_base, leaf_of = len(feature_ids), {}
            inner = [i for i in range(len(left)) if left[i] >= 0]
            leaves = [i for i in range(len(left)) if left[i] < 0]
            for i in leaves:
                leaf_of[i] = len(leaf_targets)
                leaf_targets.append(target)
                leaf_weights.append(values[i, target])
            if not inner:  # a tree of one leaf: a split whose both branches reach it
                feature_ids.append(0), splits.append(0.0), modes.append(0)
                true_ids.append(leaf_of[0]), true_leaf.append(1), false_ids.append(leaf_of[0]), false_leaf.append(1)
                roots.append(node_base)
                continue
            node_of = {node: node_base + k for k, node in enumerate(inner)}
            roots.append(node_of[0])
            for node in inner:
                feature_ids.append(int(feature[node]))
                splits.append(float(threshold[node]))
                modes.append(0)  # BRANCH_LEQ
                for child, ids, is_leaf in ((left[node], true_ids, true_leaf), (right[node], false_ids, false_leaf)):
                    if left[child] < 0:
                        ids.append(leaf_of[int(child)]), is_leaf.append(1)
                    else:
                        ids.append(node_of[int(child)]), is_leaf.append(0)
    nodes = []
    source = INPUT
    if round_to_float32:
        nodes += [helper.make_node("Cast", [INPUT], ["as_float32"], to=TensorProto.FLOAT),
                  helper.make_node("Cast", ["as_float32"], ["float32_values"], to=TensorProto.DOUBLE)]
        source = "float32_values"
    nodes.append(helper.make_node(
        "TreeEnsemble", [source], ["tree_sums"], domain="ai.onnx.ml", aggregate_function=1, post_transform=0,
        n_targets=trees.n_targets, tree_roots=roots, nodes_featureids=feature_ids,
        nodes_splits=numpy_helper.from_array(np.array(splits, "float64")),
        nodes_modes=numpy_helper.from_array(np.array(modes, "uint8")),
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leaf, nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leaf, leaf_targetids=leaf_targets,
        leaf_weights=numpy_helper.from_array(np.array(leaf_weights, "float64"))))
    initializers, current = [], "tree_sums"
    if divide != 1.0:
        initializers.append(numpy_helper.from_array(np.array(divide, "float64"), "divisor"))
        nodes.append(helper.make_node("Div", [current, "divisor"], ["averaged"]))
        current = "averaged"
    if base is not None:
        initializers.append(numpy_helper.from_array(np.asarray(base, "float64").reshape(1, -1), "base"))
        nodes.append(helper.make_node("Add", [current, "base"], ["raw"]))
        current = "raw"
    if link == "sigmoid":
        initializers.append(numpy_helper.from_array(np.array(1.0), "one"))
        nodes += [helper.make_node("Sigmoid", [current], ["positive"]),
                  helper.make_node("Sub", ["one", "positive"], ["negative"]),
                  helper.make_node("Concat", ["negative", "positive"], [OUTPUT], axis=1)]
    elif link == "softmax":
        nodes.append(helper.make_node("Softmax", [current], [OUTPUT], axis=1))
    else:
        nodes.append(helper.make_node("Identity", [current], [OUTPUT]))
    return Graph(_model(nodes, initializers, n_features), classification)


def _model(nodes, initializers, n_features: int):
    from onnx import TensorProto, checker, helper

    graph = helper.make_graph(nodes, "lakeside_compiled",
                              [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [None, n_features])],
                              [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None, None])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                                    helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                              producer_name="lakeside")
    model.ir_version = 9
    checker.check_model(model)
    return model


def _sklearn_forest(estimator, n_features: int) -> Graph:
    """scikit-learn trees compare the input rounded to float32 with double thresholds; a forest
    averages its trees' values (classifiers: each tree's class shares)."""
    members = getattr(estimator, "estimators_", None) or [estimator]
    classification = hasattr(estimator, "classes_")
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise NotCompilable("a multi-output tree model")
    n_targets = len(estimator.classes_) if classification else 1
    trees = _Trees(n_targets)
    for member in members:
        tree = member.tree_
        values = tree.value[:, 0, :]
        if classification:
            total = values.sum(axis=1, keepdims=True)
            total[total == 0.0] = 1.0
            values = values / total
        trees.add(tree.feature, tree.threshold, tree.children_left, tree.children_right, values)
    return _tree_ensemble(trees, n_features, round_to_float32=True, divide=float(len(members)),
                          classification=classification)


def _hist_gradient_boosting(estimator, n_features: int) -> Graph:
    """Not compiled: scikit-learn keeps HistGradientBoosting's trees and baseline in private
    attributes only (``_predictors``, ``_baseline_prediction``), and Lakeside uses no library's
    private API; such a model is served by its pyfunc."""
    raise NotCompilable("HistGradientBoosting keeps its trees in private attributes only; served by its pyfunc")


def _lightgbm(estimator, n_features: int) -> Graph:
    """The booster's dumped trees (thresholds and leaf values as doubles)."""
    dump = estimator.booster_.dump_model()
    objective = str(dump.get("objective", "")).split()[0]
    classification = hasattr(estimator, "classes_")
    links = {"regression": "identity", "regression_l1": "identity", "huber": "identity", "fair": "identity",
             "quantile": "identity", "binary": "sigmoid", "multiclass": "softmax"}
    if objective not in links or (objective == "binary" and "sigmoid:1" not in dump["objective"].replace(" ", "")):
        raise NotCompilable(f"LightGBM objective {dump.get('objective')!r}")
    n_targets = int(dump.get("num_tree_per_iteration", 1))
    trees = _Trees(n_targets)
    for number, info in enumerate(dump["tree_info"]):
        feature, threshold, left, right, values = [], [], [], [], []

        def visit(node) -> int:
            index = len(feature)
            feature.append(0), threshold.append(0.0), left.append(-1), right.append(-1)
            values.append([0.0] * n_targets)
            if "leaf_value" in node:
                values[index][number % n_targets] = float(node["leaf_value"])
                return index
            if node.get("decision_type") != "<=" or node.get("missing_type") not in ("None", "NaN"):
                raise NotCompilable(f"LightGBM split {node.get('decision_type')} with missing type "
                                    f"{node.get('missing_type')}")
            feature[index], threshold[index] = int(node["split_feature"]), float(node["threshold"])
            left[index] = visit(node["left_child"])
            right[index] = visit(node["right_child"])
            return index

        visit(info["tree_structure"])
        trees.add(feature, threshold, left, right, values)
    return _tree_ensemble(trees, n_features, link=links[objective], classification=classification)


def _svr(estimator, n_features: int) -> Graph:
    """RBF kernel regression: ``exp(-gamma * |x - sv|^2) @ dual_coef + intercept``."""
    from onnx import helper, numpy_helper

    if estimator.kernel != "rbf" or isinstance(estimator.gamma, str):
        raise NotCompilable(f"SVR with kernel {estimator.kernel!r} and gamma {estimator.gamma!r} (an RBF kernel "
                            "with a numeric gamma is compiled)")
    vectors = np.asarray(estimator.support_vectors_, "float64")
    initializers = [
        numpy_helper.from_array(vectors.T.copy(), "support_t"),
        numpy_helper.from_array((vectors ** 2).sum(axis=1).reshape(1, -1), "support_sq"),
        numpy_helper.from_array(np.asarray(estimator.dual_coef_, "float64").reshape(-1, 1), "dual"),
        numpy_helper.from_array(np.asarray(estimator.intercept_, "float64").reshape(1, 1), "intercept"),
        numpy_helper.from_array(np.array(-float(estimator.gamma)), "neg_gamma"),
        numpy_helper.from_array(np.array(-2.0), "minus_two"),
        numpy_helper.from_array(np.array([1], "int64"), "axis_one"),
    ]
    nodes = [
        helper.make_node("Mul", [INPUT, INPUT], ["x_sq"]),
        helper.make_node("ReduceSum", ["x_sq", "axis_one"], ["x_norm"], keepdims=1),
        helper.make_node("MatMul", [INPUT, "support_t"], ["cross"]),
        helper.make_node("Mul", ["cross", "minus_two"], ["cross2"]),
        helper.make_node("Add", ["cross2", "x_norm"], ["partial"]),
        helper.make_node("Add", ["partial", "support_sq"], ["distance"]),
        helper.make_node("Relu", ["distance"], ["distance_pos"]),
        helper.make_node("Mul", ["distance_pos", "neg_gamma"], ["exponent"]),
        helper.make_node("Exp", ["exponent"], ["kernel"]),
        helper.make_node("MatMul", ["kernel", "dual"], ["weighted"]),
        helper.make_node("Add", ["weighted", "intercept"], [OUTPUT]),
    ]
    return Graph(_model(nodes, initializers, n_features), False)


# --- the compiled model ----------------------------------------------------------------------

class CompiledModel:
    """Feed preparation + the estimator's ONNX graph in onnxruntime (one thread each way: the
    server has few cores and answers many small requests)."""

    def __init__(self, pipeline, onnx_bytes: bytes, session=None) -> None:
        self.feed = FeedPreparation(_features_step(pipeline))
        estimator = _model_step(pipeline)
        self.classes = np.asarray(estimator.classes_) if hasattr(estimator, "classes_") else None
        self.onnx_bytes = onnx_bytes
        self.session = session if session is not None else new_session(onnx_bytes)

    @property
    def classification(self) -> bool:
        return self.classes is not None

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions (regression) or class probabilities (classification), as doubles."""
        scores = self.session.run([OUTPUT], {INPUT: self.feed(frame)})[0]
        return scores if self.classification else scores.reshape(-1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """What the pipeline's ``predict`` answers: values, or the most probable class."""
        scores = self.scores(frame)
        return self.classes[np.argmax(scores, axis=1)] if self.classification else scores


def new_session(onnx_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def _features_step(pipeline):
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2:
        raise NotCompilable(f"a {type(pipeline).__name__}, not a Pipeline of features and an estimator")
    return steps[0][1]


def _model_step(pipeline):
    _features_step(pipeline)
    return pipeline.steps[1][1]


@dataclass
class Compilation:
    """What :func:`compile_pipeline` found: the ONNX model when it passed, else why not."""

    runtime: str
    """``onnx`` (verified) or ``none``."""
    reason: str
    rows_checked: int = 0
    max_abs_diff: float | None = None
    classes_identical: bool | None = None
    estimator: str = ""
    onnx_bytes: bytes | None = None

    def verification(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "onnx_bytes"} | {"tolerance": TOLERANCE}


def compile_pipeline(pipeline, holdout: pd.DataFrame) -> Compilation:
    """Build the compiled form of ``pipeline`` and check it on every row of ``holdout`` (the
    model's input columns); ``runtime`` is ``onnx`` only when it reproduces the pipeline."""
    try:
        estimator = _model_step(pipeline)
        name = type(estimator).__name__
        feed = FeedPreparation(_features_step(pipeline))
        if holdout.empty:
            raise NotCompilable("no rows to verify the compiled form on")
        prepared = feed(holdout.head(1))
        graph = estimator_graph(estimator, prepared.shape[1])
    except NotCompilable as error:
        return Compilation("none", str(error), estimator=_name_of(pipeline))
    except Exception as error:  # noqa: BLE001 - a converter's own failure: served by the pyfunc
        return Compilation("none", f"no ONNX graph: {type(error).__name__}: {error}"[:500],
                           estimator=_name_of(pipeline))
    onnx_bytes = graph.model.SerializeToString()
    try:
        compiled = CompiledModel(pipeline, onnx_bytes)
        outcome = _verify(pipeline, compiled, holdout)
    except Exception as error:  # noqa: BLE001 - a graph onnxruntime refuses, a feed that fails: not compiled
        return Compilation("none", f"the compiled form failed on the holdout: {type(error).__name__}: {error}"[:500],
                           len(holdout), estimator=name)
    diff, same_classes = outcome
    passed = bool(np.isfinite(diff) and diff <= TOLERANCE and same_classes is not False)
    if passed:
        reason = f"reproduces the pipeline on {len(holdout)} rows (max abs difference {diff:.3g})"
    else:
        what = "classes differ" if same_classes is False else f"max abs difference {diff:.3g} > {TOLERANCE:g}"
        reason = f"does not reproduce the pipeline on {len(holdout)} rows: {what}"
    return Compilation("onnx" if passed else "none", reason, len(holdout), float(diff), same_classes, name,
                       onnx_bytes if passed else None)


def _verify(pipeline, compiled: CompiledModel, holdout: pd.DataFrame) -> tuple[float, bool | None]:
    scores = compiled.scores(holdout)
    if not compiled.classification:
        expected = np.asarray(pipeline.predict(holdout), dtype="float64").reshape(-1)
        return _max_diff(scores, expected), None
    expected = np.asarray(pipeline.predict_proba(holdout), dtype="float64")
    classes = compiled.predict(holdout)
    same = bool(np.array_equal(classes, np.asarray(pipeline.predict(holdout))))
    return _max_diff(scores, expected), same


def _max_diff(found: np.ndarray, expected: np.ndarray) -> float:
    if found.shape != expected.shape:
        return math.inf
    both_nan = np.isnan(found) & np.isnan(expected)
    diff = np.where(both_nan, 0.0, np.abs(found - expected))
    return float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0


def _name_of(pipeline) -> str:
    steps = getattr(pipeline, "steps", None)
    return type(steps[-1][1]).__name__ if steps else type(pipeline).__name__


def describe(compilation: Compilation) -> str:
    return json.dumps(compilation.verification(), indent=2, sort_keys=True)


# --- registration: build, verify, log beside the version -------------------------------------

def compile_version(name: str, version: str, holdout: pd.DataFrame) -> Compilation:
    """Compile registered ``version`` of ``name`` and verify it on every row of ``holdout``
    (the snapshot's holdout rows); log ``compiled/verification.json`` (and, when it passed,
    ``compiled/model.onnx``) in the version's run and tag the version (:data:`RUNTIME_TAG`,
    :data:`REASON_TAG`, :data:`MAX_DIFF_TAG`). Models other than scikit-learn pipelines are
    tagged ``none`` with the reason."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    uri = f"models:/{name}/{version}"
    info = mlflow.models.get_model_info(uri)
    if "sklearn" not in info.flavors:
        result = Compilation("none", f"not a scikit-learn model (flavors: {', '.join(sorted(info.flavors))})")
    else:
        signature = info.signature
        columns = [str(c) for c in signature.inputs.input_names()] if signature is not None else []
        missing = [c for c in columns if c not in holdout.columns]
        if not columns or missing:
            result = Compilation("none", f"the holdout lacks the model's input columns {missing or '(no signature)'}")
        else:
            result = compile_pipeline(mlflow.sklearn.load_model(uri), holdout[columns].reset_index(drop=True))
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        _log_beside(client, run_id, result)
    client.set_model_version_tag(name, version, RUNTIME_TAG, result.runtime)
    client.set_model_version_tag(name, version, REASON_TAG, result.reason[:5000])
    if result.max_abs_diff is not None:
        client.set_model_version_tag(name, version, MAX_DIFF_TAG, repr(result.max_abs_diff))
    return result


def _log_beside(client, run_id: str, result: Compilation) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="lakeside-compiled-") as folder:
        (Path(folder) / VERIFICATION_FILE).write_text(describe(result))
        if result.onnx_bytes is not None:
            (Path(folder) / ONNX_FILE).write_bytes(result.onnx_bytes)
        client.log_artifacts(run_id, folder, ARTIFACT_DIR)


def download_onnx(name: str, version: str) -> bytes | None:
    """The verified ONNX graph of a registered version (None when it has none)."""
    from pathlib import Path

    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    found = MlflowClient().get_model_version(name, version)
    if (found.tags or {}).get(RUNTIME_TAG) != "onnx" or not found.run_id:
        return None
    path = download_artifacts(run_id=found.run_id, artifact_path=f"{ARTIFACT_DIR}/{ONNX_FILE}")
    return Path(path).read_bytes()
