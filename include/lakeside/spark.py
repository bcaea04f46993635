"""The SparkSession factory: local by default, a cluster by configuration.

``LAKESIDE_SPARK_MASTER`` picks the master (``local[*]``, ``spark://host:7077``, ``yarn``,
``k8s://...``). Under ``spark-submit`` the submitted configuration wins and nothing here
overrides it. The Delta Lake connector is added when ``LAKESIDE_DELTA_PACKAGES`` (Maven
coordinates, needs a reachable repository) is set or :func:`lakeside.config.delta_jars` finds
jars (``LAKESIDE_DELTA_JARS``, else those ``make setup`` fetched).
"""

from __future__ import annotations

import os
import sys

from lakeside.config import delta_jars, settings, spark_class_archive

DELTA_SESSION_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def session_conf(app_name: str = "lakeside", quick_start: bool | None = None) -> dict[str, str]:
    """The configuration a Lakeside session gets (small defaults for a 2-core machine);
    ``quick_start`` overrides ``LAKESIDE_SPARK_QUICK_START``."""
    config = settings()
    conf = {
        "spark.app.name": app_name,
        "spark.sql.shuffle.partitions": str(config.spark_shuffle_partitions),
        "spark.default.parallelism": str(max(2, config.spark_shuffle_partitions)),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Compressing cached columns doubled the CPU of caching a day's ingest (1M rows: 11 s
        # of CPU more); on few cores CPU is scarcer than memory, and caches spill to disk.
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        "spark.ui.enabled": os.environ.get("LAKESIDE_SPARK_UI", "false"),
        "spark.ui.showConsoleProgress": "false",
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "spark.pyspark.driver.python": sys.executable,
    }
    java_options = driver_java_options(quick_start)
    if java_options:
        conf["spark.driver.extraJavaOptions"] = java_options
    conf.update(delta_conf())
    return conf


def driver_java_options(quick_start: bool | None = None) -> str:
    """The driver JVM starts from the class archive of Spark's classes when there is one (a
    local job on small data finishes ~20% sooner), and with ``LAKESIDE_SPARK_QUICK_START``
    compiles with C1 only (~15% more)."""
    options = []
    archive = spark_class_archive()
    if archive is not None and archive.is_file():
        options.append(f'"-XX:SharedArchiveFile={archive}"')
    if settings().spark_quick_start if quick_start is None else quick_start:
        options.append("-XX:TieredStopAtLevel=1")
    return " ".join(options)


def delta_conf() -> dict[str, str]:
    packages = os.environ.get("LAKESIDE_DELTA_PACKAGES", "").strip()
    jars = delta_jars()
    if not (packages or jars):
        return {}
    conf = dict(DELTA_SESSION_CONF)
    # Delta rebuilds a table's state in 50 partitions by default: 50 tasks per snapshot, which
    # dominates small tables on a few cores. Same knob as the session's shuffle partitions.
    conf["spark.databricks.delta.snapshotPartitions"] = str(settings().spark_shuffle_partitions)
    if packages:
        conf["spark.jars.packages"] = packages
    if jars:
        conf["spark.jars"] = ",".join(jars)
    return conf


def get_spark(app_name: str = "lakeside", master: str | None = None, quick_start: bool | None = None):
    """The active session, or a new one configured for Lakeside (see :func:`session_conf`)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if not _under_spark_submit():
        config = settings()
        builder = builder.master(master or config.spark_master).config(
            "spark.driver.memory", config.spark_driver_memory
        )
        for key, value in session_conf(app_name, quick_start).items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not _under_spark_submit() and "PYSPARK_PYTHON" not in os.environ:
        # PySpark picks the workers' Python from that variable alone (spark.pyspark.python only
        # reaches it through spark-submit); UDFs read it from the context when they are made.
        spark.sparkContext.pythonExec = session_conf(app_name)["spark.pyspark.python"]
    spark.sparkContext.setLogLevel(os.environ.get("LAKESIDE_SPARK_LOG_LEVEL", "WARN"))
    return spark


def _under_spark_submit() -> bool:
    """spark-submit starts Python with a running JVM gateway and its own configuration."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
