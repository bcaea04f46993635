"""Write ``gold.duckdb``: one view per gold table over its Delta table (``delta_scan``), and the
view ``main.gold_status`` naming every table that cannot be shown and why.

Runs in Superset's venv (``.venv-bi``: duckdb 1.5.5 and the ``delta`` extension from the
``duckdb-extension-delta`` wheel, loaded by path: nothing is downloaded), so it imports only the
standard library and duckdb:

    .venv-bi/bin/python -m lakeside.bi.catalog spec.json

``spec.json``: ``{"database": path, "views": [{"name": "gold.t", "location": path or null,
"columns": [[name, type], ...], "problems": [...], "built_by": dag id}]}``. A view with
problems (a missing table, other columns) is empty but typed as declared, so its charts show
"No data" and the rest of the dashboard keeps its numbers. The file is written beside the old
one and renamed over it: a reader sees the old catalog or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CATALOG_VIEWS = ("gold_status",)
DUCKDB_TYPES = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMPTZ", "integer": "INTEGER",
                "long": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN"}


def delta_extension() -> Path:
    """The delta extension shipped in the ``duckdb-extension-delta`` wheel for this duckdb."""
    import duckdb
    import duckdb_extension_delta

    path = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if not path.exists():
        raise FileNotFoundError(f"no delta extension for duckdb {duckdb.__version__} at {path}: "
                                "install duckdb-extension-delta of the same version as duckdb")
    return path


def connect(database: str | Path, read_only: bool = False):
    """A connection with the delta extension loaded and extension downloads switched off."""
    import duckdb

    connection = duckdb.connect(str(database), read_only=read_only,
                                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    connection.execute("SET enable_progress_bar = false")
    connection.execute(f"LOAD {quote_literal(str(delta_extension()))}")
    return connection


def view_name(gold_table: str) -> str:
    """``gold.t`` -> ``main.t``: the file's catalog is already named ``gold`` (from ``gold.duckdb``),
    and a schema of the same name would make every ``gold.t`` ambiguous."""
    return f"main.{gold_table.partition('.')[2]}"


def view_sql(view: dict) -> str:
    schema, _, table = view_name(view["name"]).partition(".")
    typed = ", ".join(f"CAST({quote_name(c)} AS {DUCKDB_TYPES[t]}) AS {quote_name(c)}" for c, t in view["columns"])
    if view.get("problems") or not view.get("location"):
        empty = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[t]}) AS {quote_name(c)}" for c, t in view["columns"])
        body = f"SELECT {empty} WHERE false"
    else:
        body = f"SELECT {typed} FROM delta_scan({quote_literal(view['location'])})"
    return f"CREATE OR REPLACE VIEW {quote_name(schema)}.{quote_name(table)} AS {body}"


def create_view(connection, view: dict) -> None:
    """The view over the Delta table; an empty typed one, its problem recorded, when it cannot be read."""
    import duckdb

    try:
        connection.execute(view_sql(view))
        connection.execute(f"SELECT * FROM {view_name(view['name'])} LIMIT 0")
    except duckdb.Error as error:
        view["problems"] = [f"{view['name']} cannot be read: {str(error).splitlines()[0]}"]
        connection.execute(view_sql(view))


def status_sql(views: list[dict]) -> str:
    rows = []
    for view in views:
        problems = view.get("problems") or []
        message = ("; ".join(problems) + f" (built by the DAG {view['built_by']})") if problems else "ok"
        rows.append(f"({quote_literal(view['name'])}, {quote_literal(view['built_by'])}, "
                    f"{'false' if problems else 'true'}, {quote_literal(message)})")
    values = ", ".join(rows) or "(NULL, NULL, NULL, NULL)"
    return ("CREATE OR REPLACE VIEW main.gold_status AS SELECT * FROM (VALUES " + values +
            ") AS status(table_name, built_by, ok, message)" + ("" if rows else " WHERE false"))


def write(spec: dict) -> Path:
    database = Path(spec["database"])
    database.parent.mkdir(parents=True, exist_ok=True)
    staging = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    try:
        connection = connect(staging)
        try:
            for view in spec["views"]:
                create_view(connection, view)
            connection.execute(status_sql(spec["views"]))
            connection.execute("CHECKPOINT")
        finally:
            connection.close()
        os.replace(staging, database)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return database


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m lakeside.bi.catalog spec.json", file=sys.stderr)
        return 2
    print(write(json.loads(Path(args[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
