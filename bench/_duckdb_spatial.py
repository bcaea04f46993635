"""DuckDB's spatial join of points in zones (run by ``geospatial_join.py`` under a Python whose
duckdb matches the ``duckdb-extension-spatial`` wheel, which installs offline).

    python bench/_duckdb_spatial.py points.parquet zones.parquet result.json [threads]

Points: ``lon``, ``lat``, ``point``; zones: ``position``, ``wkb``. Writes the seconds of the
join (``ST_Intersects``; DuckDB plans its spatial join operator) and, per point, the first zone
by position (the edge rule).
"""

import json
import sys
import time
from pathlib import Path


def main(points: str, zones: str, out: str, threads: int = 2) -> None:
    import duckdb
    import duckdb_extension_spatial

    extension = next(Path(duckdb_extension_spatial.__file__).parent.rglob("spatial.duckdb_extension"))
    con = duckdb.connect(config={"threads": threads, "allow_unsigned_extensions": True})
    con.execute(f"LOAD '{extension}'")
    con.execute(f"CREATE TABLE pts AS SELECT point, lon, lat FROM read_parquet('{points}')")
    con.execute(f"CREATE TABLE zones AS SELECT position, ST_GeomFromWKB(wkb) AS geom FROM read_parquet('{zones}')")
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE hits AS SELECT p.point, min(z.position) AS position FROM pts p JOIN zones z "
        "ON ST_Intersects(z.geom, ST_Point(p.lon, p.lat)) GROUP BY p.point"
    )
    seconds = time.perf_counter() - started
    plan = con.execute("EXPLAIN SELECT p.point FROM pts p JOIN zones z ON ST_Intersects(z.geom, ST_Point(p.lon, p.lat))").fetchall()
    hits = con.execute("SELECT point, position FROM hits ORDER BY point").fetchnumpy()
    Path(out).write_text(json.dumps({
        "seconds": seconds, "duckdb": duckdb.__version__,
        "spatial_join_operator": "SPATIAL_JOIN" in str(plan),
        "points": hits["point"].tolist(), "positions": hits["position"].tolist(),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2)
