"""Gold tables: the curated tables dashboards read, declared by their use case
(``UseCase.gold`` / ``Pipeline.gold``) and rebuilt after each ingest of its sources or each gate,
or written by the unit's own job (``after="job"``: nothing here rebuilds those).

    refresh(name, after="ingest", day="2024-01-02")   # a use case's gold tables that follow its ingest
    refresh(name, after="gate")                        # ... and those that follow its gate
    problems(lake, declaration)                        # why a table cannot be shown (or [])

Also the generic builder :func:`model_performance`: every gated version of a use case's model
with its gate metrics, read from the MLflow registry.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from lakeside import usecases
from lakeside.usecases import GoldTable, Pipeline, UseCase

log = logging.getLogger(__name__)

MODEL_PERFORMANCE_COLUMNS = (
    ("model", "string"), ("version", "long"), ("alias", "string"), ("snapshot_version", "long"),
    ("evaluated_at", "timestamp"), ("metric", "string"), ("value", "double"), ("promoted", "boolean"),
)
_GATE_TAGS_NOT_METRICS = {"decision", "reason", "at", "target", "snapshot_table", "snapshot_version",
                          "holdout_rows", "thresholds", "champion_version"}


def owner(name: str) -> UseCase | Pipeline:
    """The use case or pipeline ``name``."""
    if name in usecases.PIPELINES:
        return usecases.pipeline(name)
    return usecases.get(name)


def refresh(name: str, *, after: str, day: str | dt.date | None = None, lake=None) -> dict[str, Any]:
    """Rebuild the gold tables of use case ``name`` that follow ``after`` (``ingest`` needs ``day``)."""
    from lakeside.tables import open_lake

    declared = [table for table in owner(name).gold if table.after == after]
    if after == "ingest" and declared and day is None:
        raise ValueError(f"gold tables of {name!r} built after an ingest need the ingested day")
    lake = lake or open_lake()
    results = {}
    for table in declared:
        builder = usecases.resolve_function(table.builder)
        argument = str(day)[:10] if after == "ingest" else owner(name)
        results[table.name] = builder(lake, table, argument)
        log.info("gold %s: %s", table.name, results[table.name])
    return results


def schema(table: GoldTable):
    """The Arrow schema of a gold table's declaration."""
    import pyarrow as pa

    types = {"string": pa.string(), "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC"),
             "integer": pa.int32(), "long": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}
    return pa.schema([(column, types[kind]) for column, kind in table.columns])


def conform(frame, table: GoldTable):
    """``frame`` (pandas) as an Arrow table of exactly the declared columns and types."""
    import pyarrow as pa

    missing = [c for c in table.column_names if c not in frame.columns]
    if missing:
        raise ValueError(f"{table.name}: the builder's frame lacks the declared columns {missing}")
    return pa.Table.from_pandas(frame[table.column_names], schema=schema(table), preserve_index=False)


def problems(lake, table: GoldTable) -> list[str]:
    """Why ``table`` cannot be shown as declared: missing, or columns absent or of another type."""
    stored = lake.table(table.name)
    if not stored.exists():
        return [f"{table.name} does not exist yet"]
    found = {field.name: field.type for field in stored.fields()}
    expected = {field.name: field.type for field in _declared_fields(table)}
    issues = [f"{table.name}: column {c} is missing" for c in expected if c not in found]
    issues += [f"{table.name}: column {c} is {found[c]}, declared {expected[c]}"
               for c in expected if c in found and found[c] != expected[c]]
    issues += [f"{table.name}: column {c} is not declared" for c in found if c not in expected]
    return issues


def _declared_fields(table: GoldTable):
    from lakeside.tables._schema import fields_of_arrow
    from lakeside.tables._data import delta_schema

    return fields_of_arrow(delta_schema(schema(table)))


def model_performance(lake, table: GoldTable, use_case: UseCase) -> dict[str, Any]:
    """Replace the rows of ``use_case``'s model in ``table`` with every gated version's metrics."""
    from lakeside.retrain import _use_tracking_server, model_name

    _use_tracking_server()
    name = model_name(use_case)
    rows = model_performance_rows(name)
    data = conform(rows, table)
    target = lake.table(table.name)
    if target.exists():
        target.replace_where(f"model = '{name}'", data, partition_by=list(table.partition_by) or None,
                             metadata={"model": name})
    else:
        target.overwrite(data, partition_by=list(table.partition_by) or None, metadata={"model": name})
    return {"model": name, "rows": data.num_rows, "version": target.version()}


def model_performance_rows(name: str):
    """One row per (gated version of model ``name``, gate metric), from the registry's tags."""
    import pandas as pd
    from mlflow import MlflowClient

    client = MlflowClient()
    aliases: dict[str, list[str]] = {}
    for alias, number in (client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(str(number), []).append(alias)
    rows = []
    for version in client.search_model_versions(f"name = '{name}'"):
        tags = version.tags or {}
        if "gate.decision" not in tags:
            continue
        metrics = {key[5:]: value for key, value in tags.items()
                   if key.startswith("gate.") and not key.startswith("gate.champion_")
                   and key[5:] not in _GATE_TAGS_NOT_METRICS}
        for metric, value in sorted(metrics.items()):
            rows.append({
                "model": name, "version": int(version.version), "alias": ",".join(sorted(aliases.get(str(version.version), []))),
                "snapshot_version": int(tags.get("gate.snapshot_version", tags.get("snapshot_version", -1))),
                "evaluated_at": pd.Timestamp(tags["gate.at"]).tz_convert("UTC"),
                "metric": metric, "value": float(value), "promoted": tags["gate.decision"] == "promoted",
            })
    columns = [c for c, _ in MODEL_PERFORMANCE_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["version", "metric"], ignore_index=True)
