"""Use cases as units: one declaration per use case, read by the generic retrain path, the DAG
factory, the demo and deploy.

    from lakeside import usecases
    loans = usecases.get("loans")        # lakeside.usecases.loans.USE_CASE
    loans.model_name, loans.task, loans.split, loans.trainer

A declaration says what to train on (``table``, ``key``, ``sources``, ``reference_tables``),
what to predict (``task``, ``target``, ``exclude``), how to hold rows out (``split``), how to
train (``trainer``: the model search with its ``search`` settings, or a custom function
``"package.module:function"``), how to judge (``metric``; the gate file ``gate``), what to
register (``model_name``), how to serve (``service``) and when (``schedule``). Adding a use case
is a module here defining ``USE_CASE``, its name in :data:`NAMES`, and its gate file.

This package imports nothing heavy: DAG files read declarations at parse time.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lakeside.metrics import CLASSIFICATION, DIRECTIONS, TASK_METRICS, TASKS

NAMES = ("loans", "iris", "fraud", "sales_trends", "demand_forecast", "energy_lstm", "cars", "pathology")
PIPELINES = ("geospatial",)
"""Use cases that make tables, not a model: ``lakeside.usecases.<name>.PIPELINE``."""
SPLITS = ("hash", "stratified", "time")
SERVICES = ("tabular", "pyfunc", "image")
BALANCING = ("none", "class_weight", "undersample")
SEARCH = "search"
GOLD_TYPES = ("string", "date", "timestamp", "integer", "long", "double", "boolean")
GOLD_TRIGGERS = ("ingest", "gate", "job")

_declared: dict[str, "UseCase"] = {}


@dataclass(frozen=True)
class Split:
    """How a snapshot's rows are held out for the gate.

    - ``hash``: rows whose key hashes below ``holdout_fraction`` (stable across table versions);
    - ``stratified``: per class of the target, the ``holdout_fraction`` of its rows with the
      lowest key hashes (the same class shares in train and holdout);
    - ``time``: the last ``holdout_periods`` periods (``period``, a pandas frequency) of
      ``time_column`` are the holdout; training sees nothing from the cutoff on.
    """

    kind: str = "hash"
    holdout_fraction: float = 0.2
    time_column: str | None = None
    holdout_periods: int = 0
    period: str = "D"

    def __post_init__(self) -> None:
        if self.kind not in SPLITS:
            raise ValueError(f"split kind must be one of {SPLITS}, got {self.kind!r}")
        if self.kind == "time":
            if not self.time_column or self.holdout_periods < 1:
                raise ValueError("a time split needs time_column and holdout_periods >= 1")
        elif not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be between 0 and 1, got {self.holdout_fraction}")


@dataclass(frozen=True)
class Search:
    """The model search's settings for a use case (``trainer="search"``)."""

    families: tuple[str, ...] | None = None
    """Allowed families (None: every family that supports the task)."""
    time_budget_s: float = 300.0
    cv_folds: int = 5
    balance: str = "none"
    """Classification only: ``class_weight`` (balanced weights) or ``undersample`` (keep every
    row of the rarest class, sample the others down to its size, seeded)."""
    max_trials_per_family: int | None = None

    def __post_init__(self) -> None:
        if self.balance not in BALANCING:
            raise ValueError(f"balance must be one of {BALANCING}, got {self.balance!r}")
        if self.time_budget_s <= 0 or self.cv_folds < 2:
            raise ValueError("time_budget_s must be > 0 and cv_folds >= 2")


@dataclass(frozen=True)
class Backfill:
    """A source's history ingested in one run (DAG ``backfill``) under the logical date ``date``
    (the history's last day); ``generator`` are options of the source's generated history
    (``history_raw(seed, **generator)`` of its dataset module: a subset of it, say)."""

    source: str
    date: str
    generator: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Demo:
    """What ``make demo`` runs for this use case: ``backfills`` first, ingest ``dates`` (of its
    sources), then retrain with ``search_budget_s`` over ``families`` (None: the use case's own);
    ``tables`` its trainer writes, shown at the end; ``summary`` names a function
    ``(use_case) -> str`` adding lines."""

    dates: tuple[str, ...] = ()
    search_budget_s: int = 30
    families: tuple[str, ...] | None = None
    summary: str | None = None
    backfills: tuple[Backfill, ...] = ()
    tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoldTable:
    """A curated table for people (dashboards), rebuilt by ``builder`` after each ``after`` event.

    - ``after="ingest"``: the builder ``(lake, table, day) -> dict`` runs when a source's silver
      table was updated for ``day`` and replaces the partitions that day touched;
    - ``after="gate"``: the builder ``(lake, table, use_case) -> dict`` runs after each gate decision;
    - ``after="job"``: a DAG of the unit writes it (a trainer or Spark job that computes it with
      the rest of its work) and publishes its asset: ``dag_id``, by default the unit's own DAG;
      there is no ``builder``.

    ``columns`` is the contract the dashboards rely on: ``(name, type)`` pairs, types from
    :data:`GOLD_TYPES`; a table whose columns differ is shown as empty, the column named.
    """

    name: str
    description: str
    columns: tuple[tuple[str, str], ...]
    builder: str = ""
    after: str = "ingest"
    partition_by: tuple[str, ...] = ()
    dag_id: str = ""

    def __post_init__(self) -> None:
        layer, _, table = self.name.partition(".")
        if layer != "gold" or not table:
            raise ValueError(f"gold table {self.name!r}: the name must be 'gold.<table>'")
        if self.after not in GOLD_TRIGGERS:
            raise ValueError(f"gold table {self.name!r}: after must be one of {GOLD_TRIGGERS}, got {self.after!r}")
        if self.after == "job" and self.builder:
            raise ValueError(f"gold table {self.name!r}: a table its DAG's job writes has no builder")
        if self.after != "job" and self.dag_id:
            raise ValueError(f"gold table {self.name!r}: dag_id names the DAG of a table a job writes (after='job')")
        if self.after != "job" and ":" not in self.builder:
            raise ValueError(f"gold table {self.name!r}: builder must be 'package.module:function'")
        unknown = [f"{c} {t}" for c, t in self.columns if t not in GOLD_TYPES]
        if not self.columns or unknown:
            raise ValueError(f"gold table {self.name!r}: columns need types from {GOLD_TYPES}; wrong: {unknown}")
        missing = set(self.partition_by) - set(self.column_names)
        if missing:
            raise ValueError(f"gold table {self.name!r}: partition columns {sorted(missing)} are not columns")

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def table_name(self) -> str:
        return self.name.partition(".")[2]


@dataclass(frozen=True)
class UseCase:
    name: str
    description: str
    task: str
    model_name: str
    table: str
    """The table a retrain pins (``layer.name``)."""
    key: tuple[str, ...]
    target: str | None = None
    sources: tuple[str, ...] = ()
    """Ingested sources whose ``silver.<source>`` assets trigger a retrain."""
    reference_tables: Mapping[str, str] = field(default_factory=dict)
    """``layer.name`` -> ``"module:function"`` returning the table's rows (refreshed before a retrain)."""
    exclude: tuple[str, ...] = ()
    """Columns never used as features (known only after the outcome: leakage)."""
    ordinals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Categorical columns with a known order, lowest first."""
    positive_label: Any = None
    """Binary: the positive class (default: the last of the sorted classes)."""
    threshold: float = 0.5
    split: Split = field(default_factory=Split)
    trainer: str = SEARCH
    search: Search = field(default_factory=Search)
    evaluator: str | None = None
    """``"module:function"`` ``(use_case, model_uri, snapshot) -> metrics`` for tasks without built-in metrics."""
    metric: str = "rmse"
    gate: str | None = None
    """The gate's thresholds file (``gates/<gate>.json``); default: the model name."""
    service: str = "tabular"
    schedule: str | None = "0 3 * * 1"
    """Cron (UTC) of the retrain; it also runs when a source's silver table changes."""
    dag_id: str | None = None
    custom_dag: bool = False
    """The use case's DAG is a file of its own in ``dags/`` (a pipeline the generated retrain does
    not describe); no retrain DAG is generated for it."""
    demo: Demo | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    """Settings of a custom trainer."""
    batch_inference: bool = False
    """The champion also scores each day's new rows of ``table`` into ``predictions.<model>``
    (DAG ``batch_inference``, run when the table's silver asset changes)."""
    gold: tuple[GoldTable, ...] = ()
    """Curated tables for dashboards, rebuilt after each ingest of its sources or each gate."""

    def __post_init__(self) -> None:
        where = f"use case {self.name!r}"
        if self.task not in TASKS:
            raise ValueError(f"{where}: task must be one of {TASKS}, got {self.task!r}")
        if self.service not in SERVICES:
            raise ValueError(f"{where}: service must be one of {SERVICES}, got {self.service!r}")
        if self.metric not in DIRECTIONS:
            raise ValueError(f"{where}: unknown metric {self.metric!r}; known: {', '.join(sorted(DIRECTIONS))}")
        if self.task in TASK_METRICS and self.metric not in TASK_METRICS[self.task]:
            raise ValueError(f"{where}: metric {self.metric!r} is not a {self.task} metric {TASK_METRICS[self.task]}")
        if len(self.table.split(".")) != 2 or not self.key:
            raise ValueError(f"{where}: table must be 'layer.name' and key must name its key columns")
        if self.trainer == SEARCH:
            if self.task not in TASK_METRICS or not self.target:
                raise ValueError(f"{where}: the model search needs a regression or classification task and a target")
        elif ":" not in self.trainer:
            raise ValueError(f"{where}: trainer must be 'search' or 'package.module:function'")
        if self.split.kind == "stratified" and self.task not in CLASSIFICATION:
            raise ValueError(f"{where}: a stratified split needs a classification task")
        if self.batch_inference and (not self.table.startswith("silver.") or self.service != "tabular"):
            raise ValueError(f"{where}: batch_inference scores a silver table with a tabular model")

    @property
    def silver_source(self) -> str:
        """The source whose silver table is the use case's table (``silver.<source>``)."""
        return self.table.split(".", 1)[1]

    @property
    def retrain_dag_id(self) -> str:
        return self.dag_id or f"retrain_{self.name}"

    @property
    def gate_name(self) -> str:
        return self.gate or self.model_name

    @property
    def lower_is_better(self) -> bool:
        return DIRECTIONS[self.metric] == "min"

    @property
    def uses_search(self) -> bool:
        return self.trainer == SEARCH


@dataclass(frozen=True)
class Pipeline:
    """A use case whose product is tables (and maps), not a model: its own DAG ``dag_id`` runs
    when a source's silver table changes, for the day that changed. ``make demo`` runs it for
    ``demo.dates`` after their ingest and shows ``tables`` and ``files``."""

    name: str
    description: str
    dag_id: str
    sources: tuple[str, ...]
    tables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """Glob patterns, under the lake's root, of the files it writes for people (maps, reports)."""
    demo: Demo | None = None
    gold: tuple[GoldTable, ...] = ()

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError(f"pipeline {self.name!r}: it needs the sources whose updates it follows")
        if self.demo is not None and not self.demo.dates:
            raise ValueError(f"pipeline {self.name!r}: its demo needs dates")


def pipeline(name: str) -> Pipeline:
    """The declaration of the pipeline ``name`` (``lakeside.usecases.<name>.PIPELINE``)."""
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}: one of {', '.join(PIPELINES)}")
    return importlib.import_module(f"lakeside.usecases.{name}").PIPELINE


def all_pipelines() -> list[Pipeline]:
    return [pipeline(name) for name in PIPELINES]


def all_gold_tables() -> list[tuple[UseCase | Pipeline, GoldTable]]:
    """Every declared gold table with the use case or pipeline that owns it."""
    return [(owner, table) for owner in [*all_use_cases(), *all_pipelines()] for table in owner.gold]


def gold_table(name: str) -> tuple[UseCase | Pipeline, GoldTable]:
    """The owner and declaration of the gold table ``name``."""
    for owner, table in all_gold_tables():
        if table.name == name:
            return owner, table
    raise ValueError(f"no use case or pipeline declares the gold table {name!r}")


def declare(use_case: UseCase) -> UseCase:
    """Make a use case known by name in this process (a test's toy use case, a notebook's)."""
    _declared[use_case.name] = use_case
    return use_case


def get(name: str | UseCase) -> UseCase:
    """The declaration of ``name`` (a declared one, else ``lakeside.usecases.<name>.USE_CASE``)."""
    if isinstance(name, UseCase):
        return name
    if name in _declared:
        return _declared[name]
    if name not in NAMES:
        raise ValueError(f"unknown use case {name!r}: one of {', '.join(NAMES)}")
    return importlib.import_module(f"lakeside.usecases.{name}").USE_CASE


def all_use_cases() -> list[UseCase]:
    return [get(name) for name in NAMES]


def resolve_function(path: str):
    """``"package.module:function"`` -> the function."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
