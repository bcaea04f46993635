"""Write the class-data-sharing archive that local Spark drivers start from (``make setup``).

    python -m lakeside.local.spark_classes [--source loans] [--force]

A driver JVM loads, verifies and parses some 15,000 classes before a job's first row; mapped
from an archive they cost almost nothing. The archive is what the JVM loaded during one real
job, ``jobs/daily_ingest.py`` on a generated day of ``--source`` in a throwaway
``LAKESIDE_HOME`` on the embedded backend, run under ``-XX:ArchiveClassesAtExit``. It is
written beside the temporary name and renamed into place (:func:`lakeside.config.
spark_class_archive`), so a failed run leaves none; it holds only this JDK's and pyspark's
classes, and a JVM that finds it does not match them starts without it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakeside.config import spark_class_archive
from lakeside.datasets import INGEST_SOURCES
from lakeside.local.cluster import spark_home

REPO = Path(__file__).resolve().parents[3]


def write_archive(archive: Path, source: str) -> None:
    """Run the day's ingest of ``source`` under ``-XX:ArchiveClassesAtExit``, then move the
    archive to ``archive``; raise with the job's output when the job fails."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="lakeside-spark-classes-") as home:
        env = {**os.environ, "LAKESIDE_HOME": home, "LAKESIDE_TABLE_BACKEND": "embedded", "LAKESIDE_INGEST_ENGINE": "spark",
               "LAKESIDE_GENERATE_MISSING_LANDING": "true", "PYSPARK_PYTHON": sys.executable}
        command = [str(spark_home() / "bin" / "spark-submit"), "--master", "local[*]", "--conf", "spark.ui.enabled=false",
                   "--driver-java-options", f'"-XX:ArchiveClassesAtExit={partial}"',
                   str(REPO / "jobs" / "daily_ingest.py"), "--source", source,
                   "--logical-date", "2024-01-01", "--run-id", "spark-classes"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the archive's job failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    partial.replace(archive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.local.spark_classes", description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=INGEST_SOURCES[0], choices=INGEST_SOURCES)
    parser.add_argument("--force", action="store_true", help="write it again even if it exists")
    args = parser.parse_args(argv)
    archive = spark_class_archive()
    if archive is None:
        print("LAKESIDE_SPARK_CLASS_ARCHIVE is empty: no archive to write")
        return 0
    if archive.is_file() and not args.force:
        print(f"{archive} exists")
        return 0
    started = time.monotonic()
    write_archive(archive, args.source)
    print(f"{archive}: {archive.stat().st_size / 2**20:.0f} MiB, written in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
