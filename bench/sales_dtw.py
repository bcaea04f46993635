"""DTW distances of N products (52 weeks) to the capacity pattern at a 5% window, side by side:

- Lakeside's job (``jobs/sales_dtw.py``'s ``run``: read the Delta table with Spark, the C kernel
  per partition through ``mapInPandas``, write ``gold.sales_dtw_distances``; JVM start and the
  input table's generation not timed);
- the bare C kernel in one process (``dtaidistance.distance_matrix_fast``, OpenMP threads), on
  the same series, in chunks of 1M products;
- fastdtw (approximate, radius 1, its compiled absolute-difference path) and a pure-Python
  dynamic programme (exact), each on a sample and extrapolated.

    .venv/bin/python bench/sales_dtw.py --products 811 --products 100000 [--products 10000000]

Distances/s and DTW cells/s (cells inside the window per distance); the job's rate against the
bare kernel's (target at 10M: >= 30%). Checks: the job's distances equal the kernel's on a
sample of products; a failed check exits 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))

from _report import log, table, timed, write_json  # noqa: E402

FACTOR = 0.05
WEEKS = 52
SAMPLE = 200
CHUNK = 1_000_000
BATCH = 50_000  # products generated per input batch


def cells_per_distance(weeks: int, shift: int) -> int:
    return sum(min(weeks, i + shift + 1) - max(0, i - shift) for i in range(weeks))


def series_block(start: int, count: int) -> np.ndarray:
    """Products ``start .. start+count-1`` (the generator's shapes, seeded by ``start``)."""
    from lakeside.datasets import weekly_sales

    frame = weekly_sales.generate(count, seed=start)
    return frame[[f"W{w}" for w in range(WEEKS)]].to_numpy(dtype=np.float64)


def write_products(lake, spark, products: int) -> None:
    """``silver.weekly_sales`` with ``products`` rows (codes P1..PN, counts only), made by Spark."""
    import pandas as pd

    batch = BATCH
    starts = spark.range(0, products, batch, max(2, products // 500_000))
    schema = "Product_Code string, " + ", ".join(f"W{w} int" for w in range(WEEKS))

    def make(frames):
        for frame in frames:
            for start in frame["id"]:
                count = int(min(batch, products - start))
                values = series_block(int(start), count).astype("int32")
                columns = {"Product_Code": [f"P{start + i + 1}" for i in range(count)]}
                columns |= {f"W{w}": values[:, w] for w in range(WEEKS)}
                yield pd.DataFrame(columns)

    lake.table("silver.weekly_sales").overwrite(starts.mapInPandas(make, schema))


def bench_job(spark, root: Path, products: int, pattern: np.ndarray) -> dict:
    import sales_dtw as job

    from lakeside.tables import Lake
    from lakeside.usecases.sales_trends import dtw

    lake = Lake(root / f"lake-{products}", backend="embedded", spark=spark)
    with timed(f"input table, {products:,} products (not part of any rate)"):
        write_products(lake, spark, products)
    with timed(f"Lakeside job, {products:,} products") as measure:
        job.run(lake, [FACTOR])
    out = lake.table("gold.sales_dtw_distances").to_arrow()
    ok = out.num_rows == products
    sample_codes = [f"P{i + 1}" for i in range(min(products, SAMPLE))]
    got = dict(zip(out.column("Product_Code").to_pylist(), out.column("distance_0").to_pylist()))
    first_batch = series_block(0, min(BATCH, products))[:len(sample_codes)]  # as write_products drew them
    ok &= bool(np.allclose([got[c] for c in sample_codes], dtw.distances(first_batch, pattern, FACTOR)))
    return {"seconds": measure.seconds, "cpu_s": measure.cpu_s, "ok": ok, "load": measure.load_after}


def bench_kernel(products: int, pattern: np.ndarray) -> dict:
    from lakeside.usecases.sales_trends import dtw

    total = 0.0
    for start in range(0, products, CHUNK):
        block = series_block(start, min(CHUNK, products - start))
        began = time.perf_counter()
        dtw.distances(block, pattern, FACTOR, parallel=True)
        total += time.perf_counter() - began
    log(f"bare C kernel, {products:,} products: {total:.2f}s")
    return {"seconds": total}


def bench_sample(kind: str, pattern: np.ndarray) -> float:
    """Seconds per distance on a sample."""
    from lakeside.usecases.sales_trends import dtw

    block = series_block(0, SAMPLE)
    began = time.perf_counter()
    if kind == "fastdtw":
        from fastdtw import fastdtw

        for row in block:
            fastdtw(row, pattern, radius=1)  # its compiled path: absolute differences
    else:
        for row in block:
            dtw.reference_distance(row, pattern, FACTOR)
    seconds = (time.perf_counter() - began) / SAMPLE
    log(f"{kind}: {1 / seconds:,.0f} distances/s on {SAMPLE} products")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, action="append", help="repeatable; default 811 and 100000")
    args = parser.parse_args(argv)
    sizes = args.products or [811, 100_000]

    from lakeside.datasets import weekly_sales
    from lakeside.spark import get_spark
    from lakeside.usecases.sales_trends import dtw

    pattern = weekly_sales.capacity_pattern()
    cells = cells_per_distance(WEEKS, dtw.max_shift(FACTOR, WEEKS))
    per_distance = {kind: bench_sample(kind, pattern) for kind in ("fastdtw", "pure Python DP")}
    with timed("Spark session start (not part of any rate)"):
        spark = get_spark("bench-sales-dtw")
    rows, results, ok = [], [], True
    with tempfile.TemporaryDirectory(prefix="bench-sales-dtw-") as scratch:
        for products in sizes:
            job = bench_job(spark, Path(scratch), products, pattern)
            kernel = bench_kernel(products, pattern)
            ok &= job["ok"]
            job_rate, kernel_rate = products / job["seconds"], products / kernel["seconds"]
            rows += [
                [products, "Lakeside job (Spark, Delta in/out)", job["seconds"], job_rate, job_rate * cells, "yes",
                 job_rate / kernel_rate],
                [products, "bare C kernel, one process", kernel["seconds"], kernel_rate, kernel_rate * cells, "yes", 1.0],
                *[[products, f"{kind} (sample of {SAMPLE}, extrapolated)", seconds * products, 1 / seconds,
                   cells / seconds if kind != "fastdtw" else None, "no" if kind == "fastdtw" else "yes",
                   (1 / seconds) / kernel_rate] for kind, seconds in per_distance.items()],
            ]
            results.append({"products": products, "job": job, "kernel": kernel, "job_vs_kernel": job_rate / kernel_rate})
    text = table(["products", "method", "seconds", "distances/s", "cells/s", "exact", "vs kernel"], rows,
                 title=f"DTW to the capacity pattern, 52 weeks, window {FACTOR:.0%} ({cells} cells a distance)")
    path = write_json("sales_dtw", {"factor": FACTOR, "cells_per_distance": cells, "results": results,
                                    "per_distance_s": per_distance, "table": text, "checks_ok": ok})
    log(f"wrote {path}; checks {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
