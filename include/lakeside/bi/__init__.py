"""BI over the gold tables: Apache Superset, in its own venv (``.venv-bi``, from
``requirements-bi.txt``: its pins clash with the main venv), queries ``$LAKESIDE_HOME/bi/gold.duckdb``,
a DuckDB file of one ``delta_scan`` view per declared gold table. Dashboards are code: Superset's
YAML export format in ``dashboards/``, imported on every start.

    python -m lakeside.bi            # start (or find running) Superset on 127.0.0.1:$LAKESIDE_BI_PORT
    python -m lakeside.bi --stop
    python -m lakeside.bi export     # the dashboards as edited in the UI, back into dashboards/
    python -m lakeside.bi refresh    # rewrite gold.duckdb and clear Superset's cache

This module is the main venv's side: paths, secrets, the catalog's specification. Nothing here
imports Superset; what runs inside ``.venv-bi`` is ``catalog.py``, ``superset_config.py`` and
``superset_setup.py``, run by path.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

from lakeside.config import BISettings, bi

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"
REPO = HERE.parents[2]
DATABASE_NAME = "Lakeside gold"
ADMIN_USER = "admin"


def settings() -> BISettings:
    return bi()


def home() -> Path:
    path = settings().home
    path.mkdir(parents=True, exist_ok=True)
    return path


def gold_database() -> Path:
    return home() / "gold.duckdb"


def python() -> Path:
    """The Python of Superset's venv; an error saying how to make it when it is missing."""
    path = settings().venv / "bin" / "python"
    if not path.exists():
        raise FileNotFoundError(f"Superset's venv {settings().venv} is missing: run `make bi-setup` "
                                "(or `make bi`) to create it from requirements-bi.txt")
    return path


def secret(name: str, given: str | None) -> str:
    """``given`` (from the environment), else the one generated once into ``$LAKESIDE_HOME/bi/<name>`` (mode 600)."""
    if given:
        return given
    path = home() / name
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32 if name == "admin-password" else 48))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def admin_password() -> str:
    return secret("admin-password", settings().admin_password)


def secret_key() -> str:
    return secret("secret-key", settings().secret_key)


def url() -> str:
    return (settings().url or f"http://127.0.0.1:{settings().port}").rstrip("/")


def view_specs(lake) -> list[dict]:
    """Every declared gold table: where its Delta table is, its columns, and what is wrong with it."""
    from lakeside import gold
    from lakeside.usecases import all_gold_tables

    views = []
    for owner, table in all_gold_tables():
        stored = lake.table(table.name)
        problems = gold.problems(lake, table)
        views.append({"name": table.name, "location": None if problems else local_path(stored.uri),
                      "columns": [list(c) for c in table.columns], "problems": problems,
                      "built_by": built_by(owner, table)})
    return views


def built_by(owner, table) -> str:
    """The DAG that builds a gold table."""
    if table.after in ("gate", "job"):
        return table.dag_id or getattr(owner, "retrain_dag_id", None) or owner.dag_id
    return f"gold_{owner.name}"


def write_catalog(lake=None, database: Path | None = None) -> dict:
    """Rewrite ``gold.duckdb`` (in Superset's venv, whose duckdb Superset reads it with); the views written."""
    from lakeside.tables import open_lake

    views = view_specs(lake or open_lake())
    spec = {"database": str(database or gold_database()), "views": views}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        subprocess.run([str(python()), str(HERE / "catalog.py"), handle.name], check=True,
                       capture_output=True, text=True, env=venv_environment())
    except subprocess.CalledProcessError as failed:
        raise RuntimeError(f"writing {spec['database']} failed: {failed.stderr.strip()[-2000:]}") from None
    finally:
        os.unlink(handle.name)
    return spec


def venv_environment() -> dict[str, str]:
    """The environment of a process in Superset's venv: none of the main venv's Python settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(settings().venv / "bin"), env.get("PATH", os.defpath)])
    return env


def local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri
