"""The single-node baseline of ``ingest_throughput.py``: the same file, the same rules, DuckDB.

Reads the CSV with DuckDB's parallel reader (every cell text, malformed lines kept aside as
rejects), types each column by its kind and applies the spec's rules (missing value, unreadable
value, allowed values, range, pattern, then the duplicate-key rule ordered by record number) in
SQL generated from the ``SourceSpec``, and writes silver and quarantine as Delta tables with
delta-rs. No bronze, no merge: a lower bound for what the Spark job does.

Where DuckDB's casts differ from Spark's (e.g. ``'1.5'`` as an integer) the baseline follows
DuckDB: it is a cost reference, not a second implementation of ingest.
"""

from __future__ import annotations

from pathlib import Path

NULL_TOKENS = ("", "n/a", "N/A", "NULL", "null")


def ingest(csv_path: str, spec, out_dir: Path, threads: int = 2) -> dict[str, int]:
    import duckdb
    from deltalake import write_deltalake

    con = duckdb.connect(config={"threads": threads})
    header = [c.name for c in spec.columns]
    types = {name: "VARCHAR" for name in header}
    con.execute(
        "CREATE TABLE raw AS SELECT *, row_number() OVER () AS _row FROM read_csv(?, header = true, "
        "columns = ?, store_rejects = true, quote = '\"', escape = '\"', strict_mode = true)",
        [csv_path, types],
    )
    rejected = con.execute("SELECT count(*) FROM reject_errors").fetchone()[0]
    typed = ", ".join(f"{_typed(c)} AS {_q('t_' + c.name)}" for c in spec.columns)
    errors = ", ".join(e for c in spec.columns for e in _errors(c))
    keys = ", ".join(_q("t_" + k) for k in spec.key)
    con.execute(f"""
        CREATE TABLE judged AS
        WITH typed AS (SELECT *, {typed} FROM raw),
        checked AS (SELECT *, list_filter([{errors}], lambda e: e IS NOT NULL) AS _errors FROM typed),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY len(_errors) > 0, _row) AS _rank,
                   first(_row) OVER (PARTITION BY {keys} ORDER BY len(_errors) > 0, _row) AS _first
            FROM checked)
        SELECT * EXCLUDE (_errors, _rank, _first),
               CASE WHEN len(_errors) = 0 AND _rank > 1
                    THEN ['duplicate key ({", ".join(spec.key)}): row ' || _first || ' already has it']
                    ELSE _errors END AS _errors
        FROM ranked
    """)
    silver = con.sql(
        "SELECT " + ", ".join(f"{_q('t_' + n)} AS {_q(n)}" for n in header) + ", _row FROM judged WHERE len(_errors) = 0"
    ).to_arrow_table()
    quarantine = con.sql(
        "SELECT " + ", ".join(_q(n) for n in header) + ", array_to_string(_errors, '; ') AS _reason, _row "
        "FROM judged WHERE len(_errors) > 0"
    ).to_arrow_table()
    write_deltalake(str(out_dir / "silver"), silver, mode="overwrite")
    write_deltalake(str(out_dir / "quarantine"), quarantine, mode="overwrite")
    con.close()
    return {"rows_in": silver.num_rows + quarantine.num_rows + rejected, "silver": silver.num_rows,
            "quarantine": quarantine.num_rows + rejected, "malformed": rejected}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(column) -> str:
    tokens = ", ".join(f"'{t}'" for t in NULL_TOKENS)
    return f"(CASE WHEN trim({_q(column.name)}) IN ({tokens}) THEN NULL ELSE trim({_q(column.name)}) END)"


def _typed(column) -> str:
    text = _text(column)
    kind = column.kind
    if kind == "string":
        return text
    if kind in ("int", "long"):
        return f"TRY_CAST({text} AS {'INTEGER' if kind == 'int' else 'BIGINT'})"
    if kind in ("double", "percent"):
        number = f"TRY_CAST({f'regexp_replace({text}, {chr(39)}%${chr(39)}, {chr(39)}{chr(39)})' if kind == 'percent' else text} AS DOUBLE)"
        return f"(CASE WHEN isnan({number}) OR isinf({number}) THEN NULL ELSE {number} END)"
    if kind == "date":
        return f"TRY_CAST({text} AS DATE)"
    if kind == "timestamp":
        return f"TRY_CAST({text} AS TIMESTAMP)"
    if kind == "month_year":
        return f"CAST(try_strptime({text}, '%b-%Y') AS DATE)"
    if kind == "emp_length":
        years = f"regexp_extract({text}, '^(\\d+)\\+?\\s*(years?)?$', 1)"
        return (f"(CASE WHEN regexp_matches({text}, '^<\\s*1\\s*years?$') THEN 0 "
                f"WHEN {years} <> '' THEN TRY_CAST({years} AS INTEGER) END)")
    raise ValueError(kind)


def _errors(column) -> list[str]:
    name, text, value = column.name, _text(column), _q("t_" + column.name)
    shown = f"coalesce({text}, '')"
    out = []
    if column.required:
        out.append(f"CASE WHEN {text} IS NULL THEN '`{name}`: missing value' END")
    out.append(f"CASE WHEN {text} IS NOT NULL AND {value} IS NULL "
               f"THEN '`{name}`: cannot read ''' || {shown} || ''' as {column.kind}' END")
    if column.allowed:
        allowed = ", ".join("'" + a.replace("'", "''") + "'" for a in column.allowed)
        out.append(f"CASE WHEN {value} IS NOT NULL AND {value} NOT IN ({allowed}) "
                   f"THEN '`{name}`: ''' || {shown} || ''' is not one of {', '.join(column.allowed)}' END")
    if column.min is not None or column.max is not None:
        low = f"{value} < {column.min}" if column.min is not None else "false"
        high = f"{value} > {column.max}" if column.max is not None else "false"
        out.append(f"CASE WHEN {value} IS NOT NULL AND ({low} OR {high}) "
                   f"THEN '`{name}`: ' || {shown} || ' is out of range [{column.min}, {column.max}]' END")
    if column.pattern:
        pattern = column.pattern.replace("'", "''")
        out.append(f"CASE WHEN {value} IS NOT NULL AND NOT regexp_matches(CAST({value} AS VARCHAR), '{pattern}') "
                   f"THEN '`{name}`: ''' || {shown} || ''' does not match {pattern}' END")
    return out
