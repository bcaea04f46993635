"""A fitted Spark ML decision tree as NumPy arrays: predictions without a JVM, and the decision
path (the conditions that fired) per row.

Spark saves a ``PipelineModel`` as Parquet and JSON (``stages/<i>_<Stage>_<uid>/{metadata,data}``):
the string indexers' labels, the assembler's input columns and the tree's nodes (``id``,
``prediction``, ``impurityStats``, ``leftChild``, ``rightChild``, ``split`` with
``featureIndex``, ``leftCategoriesOrThreshold`` and ``numCategories``). :func:`from_saved_pipeline`
reads that format with pyarrow (no Spark) into split arrays; :class:`TreeArrays` walks all rows
at once, one NumPy step per tree level. A continuous split sends ``value <= threshold`` left,
a categorical split sends the listed category indexes left, as Spark does; a leaf's
probabilities are its class counts normalised, Spark's ``probability``.

:class:`TreePyfunc` is the MLflow pyfunc that serves it: it answers one probability column per
class (``"0"``, ``"1"``: what the gate scores), and with ``params={"decision_path": True}`` also
``prediction`` and ``decision_path`` (a list of conditions per row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

TREE_FILE = "tree.json"
_INDEXER = "org.apache.spark.ml.feature.StringIndexerModel"
_ASSEMBLER = "org.apache.spark.ml.feature.VectorAssembler"
_TREE = "org.apache.spark.ml.classification.DecisionTreeClassificationModel"


class UnknownCategoryError(ValueError):
    """A value of a string-indexed column that the tree never saw."""


@dataclass
class TreeArrays:
    """A decision tree as arrays indexed by node position (the root is 0)."""

    features: list[str]
    """Input column per feature index (a string-indexed column under its input name)."""
    categories: dict[str, list[str]]
    """Labels of each string-indexed column, in index order."""
    feature: np.ndarray  # int, -1 for a leaf
    threshold: np.ndarray  # float, continuous splits
    left_categories: list[list[int]]  # categorical splits: the indexes that go left
    left: np.ndarray
    right: np.ndarray
    counts: np.ndarray  # nodes x classes
    prediction: np.ndarray

    @property
    def depth(self) -> int:
        depth = np.zeros(len(self.feature), dtype=int)
        for node in range(len(self.feature)):
            if self.feature[node] >= 0:
                depth[self.left[node]] = depth[self.right[node]] = depth[node] + 1
        return int(depth.max()) if len(depth) else 0

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix of ``frame`` (string columns as their index); unknown categories refused."""
        columns = []
        for name in self.features:
            if name in self.categories:
                labels = self.categories[name]
                index = pd.Categorical(frame[name], categories=labels).codes
                unknown = np.flatnonzero(index < 0)
                if len(unknown):
                    row = int(unknown[0])
                    raise UnknownCategoryError(f"row {row}: {name} {frame[name].iloc[row]!r} is not one of {labels}")
                columns.append(index.astype("float64"))
            else:
                columns.append(frame[name].to_numpy(dtype="float64"))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def leaves(self, x: np.ndarray, paths: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The leaf of every row, and (``paths``) the nodes visited (rows x depth+1, -1 padded)."""
        n = len(x)
        node = np.zeros(n, dtype=np.int64)
        visited = np.full((n, self.depth + 1), -1, dtype=np.int64) if paths else None
        rows = np.arange(n)
        level = 0
        while True:
            if paths:
                visited[rows, level] = node[rows]
            active = rows[self.feature[node[rows]] >= 0]
            if not len(active):
                return node, visited
            at = node[active]
            value = x[active, self.feature[at]]
            table = self._categories_left()
            category = np.clip(value, 0, table.shape[1] - 2).astype(np.int64)
            go_left = np.where(table[at, -1], table[at, category], value <= self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            rows, level = active, level + 1

    def _categories_left(self) -> np.ndarray:
        """nodes x (categories + 1) booleans: column c is True when category c goes left; the last
        column marks categorical splits."""
        if getattr(self, "_table", None) is None:
            width = max([max(c) + 1 for c in self.left_categories if c]
                        + [len(labels) for labels in self.categories.values()] + [1])
            table = np.zeros((len(self.feature), width + 1), dtype=bool)
            for node, categories in enumerate(self.left_categories):
                if categories:
                    table[node, categories] = True
                    table[node, -1] = True
            self._table = table
        return self._table

    def probabilities(self, leaves: np.ndarray) -> np.ndarray:
        counts = self.counts[leaves]
        return counts / counts.sum(axis=1, keepdims=True)

    def condition(self, node: int, went_left: bool) -> str:
        name = self.features[self.feature[node]]
        if self.left_categories[node]:
            labels = sorted(self.categories[name][i] for i in self.left_categories[node])
            return f"{name} {'in' if went_left else 'not in'} {{{', '.join(labels)}}}"
        return f"{name} {'<=' if went_left else '>'} {self.threshold[node]:.6g}"

    def decision_paths(self, visited: np.ndarray) -> list[list[str]]:
        """Per row, the conditions that fired from the root to its leaf, then the leaf's answer."""
        texts = []
        for path in visited:
            nodes = path[path >= 0]
            steps = [self.condition(a, self.left[a] == b) for a, b in zip(nodes[:-1], nodes[1:])]
            leaf = nodes[-1]
            p = self.counts[leaf] / self.counts[leaf].sum()
            steps.append(f"predict {int(self.prediction[leaf])} (p={p[int(self.prediction[leaf])]:.3f}, "
                         f"{int(self.counts[leaf].sum())} training rows)")
            texts.append(steps)
        return texts

    def to_text(self) -> str:
        """The tree as indented text with column names (Spark's ``toDebugString`` with names)."""
        lines: list[str] = []

        def walk(node: int, indent: int) -> None:
            pad = " " * indent
            if self.feature[node] < 0:
                lines.append(f"{pad}Predict: {int(self.prediction[node])} (counts {self.counts[node].tolist()})")
                return
            for child, went_left in ((self.left[node], True), (self.right[node], False)):
                lines.append(f"{pad}{'If' if went_left else 'Else'} ({self.condition(node, went_left)})")
                walk(int(child), indent + 1)

        walk(0, 0)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "categories": self.categories, "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "left_categories": self.left_categories,
                "left": self.left.tolist(), "right": self.right.tolist(), "counts": self.counts.tolist(),
                "prediction": self.prediction.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TreeArrays":
        return cls(list(data["features"]), {k: list(v) for k, v in data["categories"].items()},
                   np.array(data["feature"], dtype=np.int64), np.array(data["threshold"], dtype="float64"),
                   [list(c) for c in data["left_categories"]], np.array(data["left"], dtype=np.int64),
                   np.array(data["right"], dtype=np.int64), np.array(data["counts"], dtype="float64"),
                   np.array(data["prediction"], dtype="float64"))


def from_saved_pipeline(path: str | Path) -> TreeArrays:
    """The tree of a saved ``PipelineModel`` made of StringIndexer(s), a VectorAssembler and a
    DecisionTreeClassificationModel (read with pyarrow; no Spark)."""
    import pyarrow.parquet as pq

    stages = sorted(Path(path, "stages").iterdir(), key=lambda p: int(p.name.split("_", 1)[0]))
    indexed: dict[str, tuple[str, list[str]]] = {}
    assembled: list[str] | None = None
    nodes = None
    for stage in stages:
        meta = json.loads(next(Path(stage, "metadata").glob("part-*")).read_text().splitlines()[0])
        params = meta.get("paramMap", {})
        if meta["class"] == _INDEXER:
            labels = pq.read_table(Path(stage, "data")).column("labelsArray")[0].as_py()[0]
            indexed[params["outputCol"]] = (params["inputCol"], list(labels))
        elif meta["class"] == _ASSEMBLER:
            assembled = list(params["inputCols"])
        elif meta["class"] == _TREE:
            nodes = pq.read_table(Path(stage, "data")).to_pylist()
        else:
            raise ValueError(f"{stage.name}: cannot export a {meta['class']} stage (StringIndexer, "
                             "VectorAssembler and DecisionTreeClassificationModel only)")
    if assembled is None or nodes is None:
        raise ValueError(f"{path}: expected a VectorAssembler and a DecisionTreeClassificationModel")
    features = [indexed[c][0] if c in indexed else c for c in assembled]
    categories = {indexed[c][0]: indexed[c][1] for c in assembled if c in indexed}
    return _arrays(nodes, features, categories)


def _arrays(nodes: list[dict], features: list[str], categories: dict[str, list[str]]) -> TreeArrays:
    position = {node["id"]: i for i, node in enumerate(sorted(nodes, key=lambda n: n["id"]))}
    ordered = sorted(nodes, key=lambda n: n["id"])
    root = next(n["id"] for n in ordered if n["id"] not in {c for m in ordered for c in (m["leftChild"], m["rightChild"])})
    if position[root] != 0:  # the root first
        ordered.insert(0, ordered.pop(position[root]))
        position = {node["id"]: i for i, node in enumerate(ordered)}
    leaf = [n["leftChild"] < 0 for n in ordered]
    split = [n["split"] for n in ordered]
    return TreeArrays(
        features=features,
        categories=categories,
        feature=np.array([-1 if is_leaf else s["featureIndex"] for s, is_leaf in zip(split, leaf)], dtype=np.int64),
        threshold=np.array([s["leftCategoriesOrThreshold"][0] if not is_leaf and s["numCategories"] < 0 else np.inf
                            for s, is_leaf in zip(split, leaf)], dtype="float64"),
        left_categories=[[int(c) for c in s["leftCategoriesOrThreshold"]] if not is_leaf and s["numCategories"] >= 0
                         else [] for s, is_leaf in zip(split, leaf)],
        left=np.array([-1 if is_leaf else position[n["leftChild"]] for n, is_leaf in zip(ordered, leaf)], dtype=np.int64),
        right=np.array([-1 if is_leaf else position[n["rightChild"]] for n, is_leaf in zip(ordered, leaf)], dtype=np.int64),
        counts=np.array([n["impurityStats"] for n in ordered], dtype="float64"),
        prediction=np.array([n["prediction"] for n in ordered], dtype="float64"),
    )


class TreePyfunc(mlflow.pyfunc.PythonModel):
    """The exported tree as an MLflow pyfunc; ``prepare`` turns the request's columns into the
    tree's inputs (``module:function``, e.g. derived features), read at load time."""

    def __init__(self, prepare: str | None = None) -> None:
        self.prepare = prepare
        self.tree: TreeArrays | None = None

    def load_context(self, context) -> None:
        self.tree = TreeArrays.from_dict(json.loads(Path(context.artifacts["tree"]).read_text()))

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        if self.prepare:
            from lakeside.usecases import resolve_function

            frame = resolve_function(self.prepare)(frame)
        try:
            return answer(self.tree, frame, decision_path=bool((params or {}).get("decision_path", False)))
        except UnknownCategoryError as error:  # a caller's mistake: served as a 4xx naming the row
            from mlflow.exceptions import MlflowException

            raise MlflowException.invalid_parameter_value(str(error)) from error


def answer(tree: TreeArrays, frame: pd.DataFrame, decision_path: bool = False) -> pd.DataFrame:
    """Class probabilities per row (columns "0", "1", ...), with the prediction and the decision
    path when asked."""
    leaves, visited = tree.leaves(tree.matrix(frame), paths=decision_path)
    probabilities = tree.probabilities(leaves)
    out = pd.DataFrame(probabilities, columns=[str(c) for c in range(probabilities.shape[1])])
    if decision_path:
        out["prediction"] = tree.prediction[leaves].astype(int)
        out["decision_path"] = tree.decision_paths(visited)
    return out
