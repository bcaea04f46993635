"""The dashboards as code: Superset's YAML export format under ``lakeside/bi/dashboards/``
(``metadata.yaml``, ``databases/``, ``datasets/<database>/``, ``charts/``, ``dashboards/``).

:func:`check` reads every file and refuses, naming the file and key, what Superset would refuse
or show broken: a key missing, a chart on an unknown dataset, a dashboard placing an unknown
chart, a gold dataset whose columns differ from its table's declaration, a chart using a column
its dataset lacks. :func:`build_zip` makes the importable bundle, the database pointed at this
machine's ``gold.duckdb``; :func:`write_back` turns a Superset export into these files again.
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakeside.bi import catalog

ROOT = "lakeside_dashboards"
GOLD_URI_PLACEHOLDER = "duckdb:///LAKESIDE_GOLD_DUCKDB"
REQUIRED = {
    "databases": ("database_name", "sqlalchemy_uri", "uuid", "version"),
    "datasets": ("table_name", "schema", "uuid", "version", "database_uuid", "columns"),
    "charts": ("slice_name", "viz_type", "uuid", "version", "dataset_uuid", "params"),
    "dashboards": ("dashboard_title", "uuid", "version", "position"),
}
COLUMN_PARAMS = ("groupby", "all_columns", "columns")


class BundleError(ValueError):
    """A dashboards file Superset would refuse, or whose charts would break; names the file and key."""


@dataclass
class Bundle:
    folder: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Path relative to ``folder`` -> parsed YAML."""

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {path: data for path, data in self.files.items() if path.startswith(f"{kind}/")}


def load(folder: Path) -> Bundle:
    """Parse every YAML file of the bundle; a parse error names the file and line."""
    bundle = Bundle(folder)
    for path in sorted(folder.rglob("*.yaml")):
        relative = path.relative_to(folder).as_posix()
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise BundleError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise BundleError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
        bundle.files[relative] = data
    if "metadata.yaml" not in bundle.files:
        raise BundleError(f"{folder}: metadata.yaml is missing")
    return bundle


def check(folder: Path, gold_tables: list | None = None) -> Bundle:
    """Load and check the bundle against the gold declarations (every declared one by default)."""
    from lakeside.usecases import all_gold_tables

    bundle = load(folder)
    declared = {t.name: t for _, t in all_gold_tables()} if gold_tables is None else {t.name: t for t in gold_tables}
    for kind, keys in REQUIRED.items():
        for path, data in bundle.of_kind(kind).items():
            for key in keys:
                if data.get(key) in (None, ""):
                    raise BundleError(f"{folder / path}: key {key!r} is missing")
    databases = {d["uuid"] for d in bundle.of_kind("databases").values()}
    datasets = {}
    for path, data in bundle.of_kind("datasets").items():
        if data["database_uuid"] not in databases:
            raise BundleError(f"{folder / path}: key 'database_uuid' names no database of the bundle")
        _check_gold_columns(folder / path, data, declared)
        datasets[data["uuid"]] = data
    charts = {}
    for path, data in bundle.of_kind("charts").items():
        dataset = datasets.get(data["dataset_uuid"])
        if dataset is None:
            raise BundleError(f"{folder / path}: key 'dataset_uuid' names no dataset of the bundle")
        _check_chart_columns(folder / path, data, dataset)
        charts[data["uuid"]] = data
    for path, data in bundle.of_kind("dashboards").items():
        for key, item in data["position"].items():
            if isinstance(item, dict) and item.get("type") == "CHART":
                if item.get("meta", {}).get("uuid") not in charts:
                    raise BundleError(f"{folder / path}: key 'position.{key}.meta.uuid' names no chart of the bundle")
                if not isinstance(item["meta"].get("chartId"), int):
                    raise BundleError(f"{folder / path}: key 'position.{key}.meta.chartId' is missing (any number: "
                                      "the import maps charts by uuid, but refuses a placement without one)")
    return bundle


def _check_gold_columns(path: Path, dataset: dict, declared: dict) -> None:
    if dataset["schema"] != "main" or dataset["table_name"] in catalog.CATALOG_VIEWS:
        return
    name = f"gold.{dataset['table_name']}"
    table = declared.get(name)
    if table is None:
        raise BundleError(f"{path}: key 'table_name': {name} is not a declared gold table")
    found = {c.get("column_name"): str(c.get("type") or "").upper() for c in dataset["columns"]}
    for column, kind in table.columns:
        if column not in found:
            raise BundleError(f"{path}: key 'columns' lacks {column!r}, declared by {name}")
        expected = catalog.DUCKDB_TYPES[kind]
        if found[column] and not found[column].startswith(expected if expected != "TIMESTAMPTZ" else "TIMESTAMP"):
            raise BundleError(f"{path}: key 'columns': {column} is {found[column]}, {name} declares {kind} ({expected})")
    extra = set(found) - set(table.column_names)
    if extra:
        raise BundleError(f"{path}: key 'columns' has {sorted(extra)}, which {name} does not declare")


def _check_chart_columns(path: Path, chart: dict, dataset: dict) -> None:
    columns = {c["column_name"] for c in dataset["columns"]}
    params = chart["params"]
    used = [c for key in COLUMN_PARAMS for c in params.get(key) or [] if isinstance(c, str)]
    if isinstance(params.get("x_axis"), str):
        used.append(params["x_axis"])
    unknown = [c for c in used if c not in columns]
    if unknown:
        raise BundleError(f"{path}: key 'params' uses {unknown}, not columns of dataset "
                          f"{dataset['schema']}.{dataset['table_name']}")


def build_zip(bundle: Bundle, gold_database: Path, delta_extension: Path) -> bytes:
    """The bundle as Superset imports it, its DuckDB database pointed at ``gold_database``
    (read only, the delta extension loaded from ``delta_extension``, nothing downloaded)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in bundle.files.items():
            if path.startswith("databases/"):
                data = _pointed(data, gold_database, delta_extension)
            archive.writestr(f"{ROOT}/{path}", yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return buffer.getvalue()


def _pointed(database: dict, gold_database: Path, delta_extension: Path) -> dict:
    pointed = {**database, "sqlalchemy_uri": f"duckdb:///{gold_database}"}
    extra = dict(pointed.get("extra") or {})
    engine = dict(extra.get("engine_params") or {})
    connect_args = dict(engine.get("connect_args") or {})
    connect_args.update({
        "read_only": True,
        "preload_extensions": [catalog.quote_literal(str(delta_extension))],
        "config": {"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    })
    engine["connect_args"] = connect_args
    extra["engine_params"] = engine
    pointed["extra"] = extra
    return pointed


def write_back(export_zip: Path, folder: Path) -> list[str]:
    """Replace ``folder``'s files with a Superset export's (the database's machine paths put back
    to placeholders); returns the files written."""
    written = []
    staging = folder.with_name(folder.name + ".export")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(export_zip) as archive:
        for name in archive.namelist():
            if not name.endswith(".yaml"):
                continue
            relative = _stable_name(name.split("/", 1)[1])
            data = yaml.safe_load(archive.read(name))
            if relative.startswith("databases/"):
                data = _unpointed(data)
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))
            written.append(relative)
    check(staging)
    shutil.rmtree(folder)
    staging.rename(folder)
    return sorted(written)


def _stable_name(relative: str) -> str:
    """``charts/Loans_7.yaml`` -> ``charts/Loans.yaml``: Superset's export appends this machine's ids."""
    return re.sub(r"_\d+\.yaml$", ".yaml", relative) if "/" in relative else relative


def _unpointed(database: dict) -> dict:
    plain = {**database, "sqlalchemy_uri": GOLD_URI_PLACEHOLDER}
    extra = dict(plain.get("extra") or {})
    connect_args = dict((extra.get("engine_params") or {}).get("connect_args") or {})
    connect_args.pop("preload_extensions", None)
    connect_args.pop("config", None)
    extra["engine_params"] = {**(extra.get("engine_params") or {}), "connect_args": connect_args}
    plain["extra"] = extra
    return plain
