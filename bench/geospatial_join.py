"""Points in zones: Lakeside's H3 join against the engines users would pick, side by side.

    .venv/bin/python bench/geospatial_join.py --points 1000000 [--resolution 9] [--udf-points 10000]

Same points (generated taxi pickups and dropoffs: realistic densities, GPS glitches at (0, 0)
left out) and the same 262 NTA polygons for every engine; every answer is the first zone by
zone_id whose closed polygon holds the point (the edge rule), checked against Lakeside's:

- **lakeside index**: ``ZoneIndex.locate`` in this process (one core): points -> H3 cells
  (vectorised), cell lookup, exact shapely test in boundary cells only;
- **lakeside on Spark**: the enrichment's ``mapInPandas`` step on ``local[*]`` (join step over a
  cached DataFrame), and the whole job (read Parquet, enrich, write Delta);
- **geopandas.sjoin** (``predicate="intersects"``, STRtree), the points' GeoSeries built apart;
- **DuckDB spatial** (``ST_Intersects`` join, its spatial join operator), in a Python whose duckdb
  matches the ``duckdb-extension-spatial`` wheel (made with uv under ``.cache/`` if missing);
- **per-point UDF**: a plain Spark Python UDF asking a shapely STRtree per point, on
  ``--udf-points`` points, extrapolated.

Apache Sedona is not run: its jars for Spark 4.2 are not on Maven Central for this build.
The index build (H3 cover of the polygons) is timed apart: the zones table stores it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import load_average, log, table, timed, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DUCKDB_ENV = REPO / ".cache" / "bench-duckdb-spatial"


def points(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    from lakeside.datasets import taxi_trips

    trips = taxi_trips.generate((n + 1) // 2 + n // 40, seed=seed)
    lon = np.concatenate([trips["pickup_longitude"], trips["dropoff_longitude"]])
    lat = np.concatenate([trips["pickup_latitude"], trips["dropoff_latitude"]])
    usable = ~((lon == 0) & (lat == 0))
    return lon[usable][:n], lat[usable][:n]


def duckdb_python() -> str:
    python = DUCKDB_ENV / "bin" / "python"
    if not python.exists():
        uv = str(REPO / ".venv" / "bin" / "uv")
        subprocess.run([uv, "venv", "-q", "-p", "3.11", str(DUCKDB_ENV)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "-p", str(python), "duckdb-extension-spatial", "pyarrow", "numpy"],
                       check=True)
    return str(python)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--resolution", type=int, default=9)
    parser.add_argument("--udf-points", type=int, default=10_000)
    parser.add_argument("--skip-spark", action="store_true")
    args = parser.parse_args(argv)

    from lakeside.datasets import taxi_zones
    from lakeside.spatial.index import locate_brute_force
    from lakeside.spatial.zones import index_of, prepare

    work = Path(tempfile.mkdtemp(prefix="bench-geo-"))
    log(f"generating {args.points:,} points")
    lon, lat = points(args.points)
    n = len(lon)
    rows, _ = prepare(taxi_zones.generate("nta"), 7)  # geometry and order; covers below
    geometries = shapely.from_wkb(np.asarray(list(rows["geometry"]), dtype=object))
    results, answers = [], {}

    with timed(f"index build: H3 cover of {len(rows)} zones at r{args.resolution}") as build:
        rows, _ = prepare(taxi_zones.generate("nta"), args.resolution)
        index = index_of(rows)
    log(f"{len(index.cells):,} cells, {index.settled.mean():.1%} settled at once")

    index.locate(lon[:1000], lat[:1000])  # warm: imports, first calls
    with timed("lakeside index (1 process)") as m:
        answers["lakeside"] = index.locate(lon, lat)
    results.append(("lakeside index.locate, 1 process", m, n))

    sample = np.random.default_rng(0).choice(n, min(n, 100_000), replace=False)
    with timed("brute force on a 100k sample (reference)"):
        reference = locate_brute_force(geometries, lon[sample], lat[sample])
    exact = bool(np.array_equal(reference, answers["lakeside"][sample]))
    log(f"lakeside equals brute force on the sample: {exact}")

    import geopandas

    with timed("geopandas: points GeoSeries") as build_points:
        gpoints = geopandas.GeoDataFrame({"point": np.arange(n)}, geometry=geopandas.points_from_xy(lon, lat), crs=4326)
    gzones = geopandas.GeoDataFrame({"position": np.arange(len(geometries))}, geometry=geometries, crs=4326)
    with timed("geopandas.sjoin") as m:
        joined = geopandas.sjoin(gpoints, gzones, how="left", predicate="intersects")
    results.append(("geopandas.sjoin (points built before)", m, n))
    first = joined.groupby("point")["position"].min()
    answers["sjoin"] = first.reindex(np.arange(n)).fillna(-1).to_numpy(dtype=np.int32)

    pd.DataFrame({"point": np.arange(n), "lon": lon, "lat": lat}).to_parquet(work / "points.parquet")
    pd.DataFrame({"position": np.arange(len(geometries)), "wkb": shapely.to_wkb(geometries)}).to_parquet(work / "zones.parquet")
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with timed("DuckDB spatial join (subprocess, 2 threads)") as m:
        subprocess.run([duckdb_python(), str(REPO / "bench" / "_duckdb_spatial.py"), str(work / "points.parquet"),
                        str(work / "zones.parquet"), str(work / "duck.json"), "2"], check=True)
    duck = json.loads((work / "duck.json").read_text())
    m.seconds = duck["seconds"]  # the join alone, as measured inside DuckDB
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    m.cpu_s["python"] = None  # the join's own CPU is not separable; the whole subprocess's below
    m.cpu_s["duckdb process (load + join)"] = (children.ru_utime + children.ru_stime
                                               - children_before.ru_utime - children_before.ru_stime)
    results.append((f"DuckDB {duck['duckdb']} spatial join (ST_Intersects, 2 threads)", m, n))
    duck_answer = np.full(n, -1, dtype=np.int32)
    duck_answer[np.asarray(duck["points"], dtype=np.int64)] = duck["positions"]
    answers["duckdb"] = duck_answer

    if not args.skip_spark:
        results += spark_engines(args, lon, lat, index, rows, geometries, work, answers)

    agree = {name: bool(np.array_equal(a, answers["lakeside"])) for name, a in answers.items() if name != "udf"}
    if "udf" in answers:
        agree["udf"] = bool(np.array_equal(answers["udf"], answers["lakeside"][: len(answers["udf"])]))
    lakeside_rate = n / results[0][1].seconds
    table_rows = [[name, f"{count:,}", m.seconds, count / m.seconds, lakeside_rate / (count / m.seconds),
                   _cpu(m), m.load_before[0] if m.load_before else None] for name, m, count in results]
    table(["engine (join step unless said)", "points", "wall s", "points/s (wall)", "lakeside index x",
           "CPU s", "load 1m"],
                table_rows, title=f"points in {len(rows)} NTA zones, H3 r{args.resolution}, {n:,} points")
    print(f"answers equal to Lakeside's: {agree}; Lakeside equal to brute force on 100k: {exact}")
    write_json("geospatial_join", {
        "args": vars(args), "points": n, "exact_on_sample": exact, "agree": agree,
        "index": {"cells": int(len(index.cells)), "settled_share": float(index.settled.mean()),
                  "build_seconds": build.seconds},
        "geopandas_points_seconds": build_points.seconds,
        "results": [{"engine": name, "points": count, **m.to_dict(), "points_per_s": count / m.seconds}
                    for name, m, count in results],
        "load_average_end": load_average(),
    })
    shutil.rmtree(work, ignore_errors=True)
    return 0 if exact and all(agree.values()) else 1


def _cpu(measure) -> str:
    """The CPU seconds measured for a step, and whose (Spark's Python workers are not counted)."""
    known = {k: v for k, v in measure.cpu_s.items() if v is not None}
    return " + ".join(f"{v:.1f} ({k})" for k, v in known.items()) or "-"


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants alive now (Spark's JVM, its
    Python daemon and the reused Python workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid and child not in tree]
    return sum(cpu.get(pid, 0.0) for pid in tree)


@contextlib.contextmanager
def spark_cpu(measure_name: str, jvm: int):
    """``timed`` plus the CPU seconds of the Spark JVM's process tree."""
    before = tree_cpu_seconds(jvm)
    with timed(measure_name) as m:
        yield m
    m.cpu_s["spark (JVM + Python workers)"] = tree_cpu_seconds(jvm) - before


def spark_engines(args, lon, lat, index, rows, geometries, work, answers):
    from pyspark.sql import functions as F

    from lakeside.geospatial import enrich
    from lakeside.spark import get_spark
    from lakeside.tables import Lake

    os.environ.setdefault("LAKESIDE_SPARK_DRIVER_MEMORY", "4g")
    with timed("Spark session start (not in any rate)"):
        spark = get_spark("bench-geospatial", master="local[*]")
    n = len(lon)
    frame = pd.DataFrame({"point": np.arange(n), "pickup_longitude": lon, "pickup_latitude": lat,
                          "dropoff_longitude": lon, "dropoff_latitude": lat})
    frame.to_parquet(work / "trips.parquet")
    measured = []
    source = spark.read.parquet(str(work / "trips.parquet")).repartition(4).cache()
    source.count()
    zones = rows[["zone_id", "zone", "borough"]]
    enrich.enrich(source.limit(1000), index, zones, "bench").count()  # Python workers up, index shipped
    jvm = int(spark._jvm.java.lang.ProcessHandle.current().pid())
    with spark_cpu("lakeside on Spark: join step (mapInPandas, local[*], both ends)", jvm) as m:
        located = enrich.enrich(source, index, zones, "bench")
        result = located.select("point", "pickup_zone_id").toPandas()
    measured.append(("lakeside on Spark, join step (2 ends per row: x2 points)", m, 2 * n))
    positions = pd.Series(np.arange(len(zones)), index=zones["zone_id"])
    result = result.sort_values("point")
    answers["lakeside_spark"] = result["pickup_zone_id"].map(positions).fillna(-1).to_numpy(dtype=np.int32)

    lake = Lake(work / "lake", backend="embedded", spark=spark)
    with spark_cpu("lakeside on Spark: whole job (read Parquet, enrich, write Delta)", jvm) as m:
        trips = spark.read.parquet(str(work / "trips.parquet"))
        lake.table("silver.bench_enriched").overwrite(enrich.enrich(trips, index, zones, "bench"))
    measured.append(("lakeside whole job: read + enrich + write Delta (x2 points)", m, 2 * n))

    tree_wkb = shapely.to_wkb(geometries)

    @F.udf("int")
    def zone_of(x, y):
        import shapely as sh

        global _TREE
        try:
            tree = _TREE
        except NameError:
            tree = _TREE = sh.STRtree(sh.from_wkb(tree_wkb))
        hits = tree.query(sh.Point(x, y), predicate="intersects")
        return int(hits.min()) if len(hits) else -1

    udf_points = source.filter(F.col("point") < args.udf_points)
    udf_points.select(zone_of("pickup_longitude", "pickup_latitude")).limit(10).collect()  # warm
    with spark_cpu(f"per-point UDF (STRtree per point) on {args.udf_points:,} points", jvm) as m:
        udf_result = udf_points.select("point", zone_of("pickup_longitude", "pickup_latitude").alias("z")).toPandas()
    measured.append((f"per-point Python UDF, {args.udf_points:,} points (extrapolated rate)", m, args.udf_points))
    answers["udf"] = udf_result.sort_values("point")["z"].to_numpy(dtype=np.int32)
    spark.stop()
    return measured


if __name__ == "__main__":
    sys.exit(main())
