"""Settings from the environment, in one place.

Every value has a default that works on one machine with nothing running (the embedded
default). Production overrides them through environment variables, which Airflow passes
on to tasks and to spark-submitted jobs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TABLE_BACKENDS = ("auto", "embedded", "spark-delta")
INGEST_ENGINES = ("auto", "spark", "duckdb")


@dataclass(frozen=True)
class Settings:
    home: Path
    table_backend: str
    spark_master: str
    spark_driver_memory: str
    spark_shuffle_partitions: int
    spark_quick_start: bool
    """``LAKESIDE_SPARK_QUICK_START``: drivers compile with C1 only, so jobs of seconds on small
    data (the demo, the tests) finish sooner; jobs on real volumes run slower with it."""
    max_rejected_share: float
    generate_missing_landing: bool
    mlflow_tracking_uri: str | None
    mlflow_port: int
    mlflow_backend_store_uri: str | None
    gates_dir: str | None = None
    """A folder of gate threshold files overriding the packaged ``lakeside/gates/``."""
    model_prefix: str = ""
    """Prepended to every use case's registered model name (a namespace in a shared registry)."""
    ingest_engine: str = "auto"
    """``LAKESIDE_INGEST_ENGINE``: what runs the ingest jobs: ``spark``, ``duckdb`` (one machine,
    no JVM) or ``auto``: DuckDB where the lake is the embedded backend, Spark where it is
    ``spark-delta`` (see :func:`lakeside.ingest.engine`)."""
    ingest_memory: str = "2GB"
    """``LAKESIDE_INGEST_MEMORY``: what the DuckDB engine may hold of a day's judged records
    before it spills them to disk (a DuckDB ``memory_limit``)."""

    @property
    def lake_root(self) -> Path:
        """Where the Delta tables live: `<lake_root>/<layer>/<name>`."""
        return self.home / "lake"

    @property
    def landing_root(self) -> Path:
        """Where raw files arrive: `<landing_root>/<source>/<YYYY-MM-DD>/`."""
        return self.home / "landing"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def mlflow_home(self) -> Path:
        """The embedded MLflow server's SQLite store and artifacts."""
        return self.home / "mlflow"

    def mlflow_store_uri(self, mlflow_home: Path | None = None) -> str:
        """The embedded server's backend store: ``LAKESIDE_MLFLOW_BACKEND_STORE_URI``, else
        the SQLite file ``mlflow.db`` in its home."""
        return self.mlflow_backend_store_uri or f"sqlite:///{(mlflow_home or self.mlflow_home) / 'mlflow.db'}"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def settings() -> Settings:
    """Read the settings now (not cached: tests and tasks may change the environment)."""
    backend = os.environ.get("LAKESIDE_TABLE_BACKEND", "auto")
    if backend not in TABLE_BACKENDS:
        raise ValueError(f"LAKESIDE_TABLE_BACKEND must be one of {TABLE_BACKENDS}, got {backend!r}")
    engine = os.environ.get("LAKESIDE_INGEST_ENGINE", "") or "auto"
    if engine not in INGEST_ENGINES:
        raise ValueError(f"LAKESIDE_INGEST_ENGINE must be one of {INGEST_ENGINES}, got {engine!r}")
    share = _env_float("LAKESIDE_MAX_REJECTED_SHARE", 0.05)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"LAKESIDE_MAX_REJECTED_SHARE must be between 0 and 1, got {share}")
    return Settings(
        home=Path(os.environ.get("LAKESIDE_HOME", ".lakeside")).expanduser().absolute(),
        table_backend=backend,
        spark_master=os.environ.get("LAKESIDE_SPARK_MASTER", "local[*]"),
        spark_driver_memory=os.environ.get("LAKESIDE_SPARK_DRIVER_MEMORY", "2g"),
        spark_shuffle_partitions=int(os.environ.get("LAKESIDE_SPARK_SHUFFLE_PARTITIONS", "4")),
        spark_quick_start=_env_bool("LAKESIDE_SPARK_QUICK_START", False),
        max_rejected_share=share,
        generate_missing_landing=_env_bool("LAKESIDE_GENERATE_MISSING_LANDING", False),
        mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None,
        mlflow_port=int(os.environ.get("LAKESIDE_MLFLOW_PORT", "5000")),
        mlflow_backend_store_uri=os.environ.get("LAKESIDE_MLFLOW_BACKEND_STORE_URI") or None,
        gates_dir=os.environ.get("LAKESIDE_GATES_DIR") or None,
        model_prefix=os.environ.get("LAKESIDE_MODEL_PREFIX", ""),
        ingest_engine=engine,
        ingest_memory=os.environ.get("LAKESIDE_INGEST_MEMORY", "") or "2GB",
    )


# --- Serving and deploy ------------------------------------------------------------------
# Read by lakeside.serving (the services in `bentoml serve`, and deploy in Airflow tasks and
# the CLI). No registered model is a default: LAKESIDE_SERVE_MODEL unset means none.

DEPLOY_TARGETS = ("local", "bento")
SERVE_API_KEY_ENV = "LAKESIDE_SERVE_API_KEY"
SERVE_API_KEY_FILE_ENV = "LAKESIDE_SERVE_API_KEY_FILE"


@dataclass(frozen=True)
class ServingSettings:
    model: str | None
    """``LAKESIDE_SERVE_MODEL``: the default model (the one ``deploy`` serves without ``--model``,
    on ``port``); None when unset."""
    alias: str
    model_tag: str | None
    """``LAKESIDE_SERVE_MODEL_TAG``: a BentoML store tag to start from (set inside Bentos)."""
    watch_s: float
    max_rows: int
    max_batch_rows: int
    max_body_bytes: int
    host: str
    port: int
    deploy_target: str
    bentoml_home: Path
    api_key: str | None
    api_key_file: Path | None
    inference_log: bool
    """``LAKESIDE_SERVE_INFERENCE_LOG``: record every request in ``inference.<model>`` (default true)."""
    inference_queue: int
    inference_flush_s: float
    inference_flush_records: int
    inference_max_field_bytes: int
    inference_spill_dir: Path
    """Where a full inference queue spills (``$LAKESIDE_HOME/serving/inference``)."""
    predict_in: str = "thread"
    """``LAKESIDE_SERVE_PREDICT_IN``: ``thread`` (default) predicts in a thread of the server's
    process; ``process`` in a process of its own, off the event loop's interpreter lock
    (:mod:`lakeside.serving.worker`)."""
    unknown_columns: str = "strict"
    """``LAKESIDE_SERVE_UNKNOWN_COLUMNS``: ``strict`` (default) answers 422 for a column the
    model does not take; ``lenient`` drops it and names it in the answer. Each endpoint is its
    own server, so the policy is per endpoint: set it in the environment of the one deploy."""
    runtime: str = "auto"
    """``LAKESIDE_SERVE_RUNTIME``: ``auto`` (a version's verified compiled form in onnxruntime when it
    has one, else its pyfunc) or ``pyfunc`` (always the pyfunc)."""
    split: str | None = None
    """``LAKESIDE_SERVE_SPLIT``: traffic weights per alias, e.g. ``champion=90,challenger=10``; wins over
    the registered model's tag ``lakeside.traffic_split``. Unset (and no tag): the alias alone."""
    shadow_share: float = 0.0
    """``LAKESIDE_SERVE_SHADOW_SHARE``: share of requests (0..1) the shadow alias also scores, off the
    request path (default 0: no shadow)."""
    shadow_alias: str = "challenger"
    """``LAKESIDE_SERVE_SHADOW_ALIAS``: which alias shadows (default ``challenger``)."""
    shadow_timeout_s: float = 5.0
    """``LAKESIDE_SERVE_SHADOW_TIMEOUT_S``: a shadow prediction taking longer is recorded as timed out."""
    shadow_queue: int = 1000
    """``LAKESIDE_SERVE_SHADOW_QUEUE``: shadow requests waiting at most; past it they are dropped and counted."""
    shadow_flush_s: float = 10.0
    """``LAKESIDE_SERVE_SHADOW_FLUSH_S``: how often shadow records are appended to the shadow table (each
    append costs the server CPU; nobody reads them live)."""
    access_log: bool = True
    """``LAKESIDE_SERVE_ACCESS_LOG``: an access line per request (default true): request id, client,
    method, path, types and lengths in and out, status and time. Off, a server answers more
    small requests on the same cores (bench/serving_throughput.py measures
    both); requests are still counted in ``/metrics`` and recorded in the inference table."""


def _env_number(name: str, default: float, kind: type = float):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        return kind(float(raw)) if kind is int else kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def alert_webhook_url() -> str | None:
    """``LAKESIDE_ALERT_WEBHOOK_URL``: where monitoring alerts are posted (JSON); None: nowhere."""
    return os.environ.get("LAKESIDE_ALERT_WEBHOOK_URL") or None


def monitoring_spark_rows() -> int:
    """``LAKESIDE_MONITORING_SPARK_ROWS``: from this many recent rows (served plus batch) on, a
    model's profiles and drift are computed by Spark instead of pandas (default 1,000,000)."""
    return _env_number("LAKESIDE_MONITORING_SPARK_ROWS", 1_000_000, int)


def serving() -> ServingSettings:
    """The serving and deploy settings from the environment (read when called)."""
    env = os.environ.get
    target = env("LAKESIDE_DEPLOY_TARGET") or "local"
    if target not in DEPLOY_TARGETS:
        raise ValueError(f"LAKESIDE_DEPLOY_TARGET must be one of {DEPLOY_TARGETS}, got {target!r}")
    home = Path(env("LAKESIDE_HOME", ".lakeside")).expanduser().absolute()
    api_key, api_key_file = serving_api_key()
    return ServingSettings(
        model=env("LAKESIDE_SERVE_MODEL") or None,
        alias=env("LAKESIDE_SERVE_ALIAS") or "champion",
        model_tag=env("LAKESIDE_SERVE_MODEL_TAG") or None,
        watch_s=_env_number("LAKESIDE_SERVE_WATCH_S", 15),
        max_rows=_env_number("LAKESIDE_SERVE_MAX_ROWS", 10_000, int),
        max_batch_rows=_env_number("LAKESIDE_SERVE_MAX_BATCH_ROWS", 1024, int),
        max_body_bytes=int(_env_number("LAKESIDE_SERVE_MAX_BODY_MB", 32) * 1024 * 1024),
        host=env("LAKESIDE_SERVE_HOST") or "127.0.0.1",
        port=_env_number("LAKESIDE_SERVE_PORT", 3000, int),
        deploy_target=target,
        bentoml_home=Path(env("BENTOML_HOME") or home / "bentoml").expanduser().absolute(),
        api_key=api_key,
        api_key_file=api_key_file,
        inference_log=_env_bool("LAKESIDE_SERVE_INFERENCE_LOG", True),
        inference_queue=_env_number("LAKESIDE_SERVE_INFERENCE_QUEUE", 10_000, int),
        inference_flush_s=_env_number("LAKESIDE_SERVE_INFERENCE_FLUSH_S", 2.0),
        inference_flush_records=_env_number("LAKESIDE_SERVE_INFERENCE_FLUSH_RECORDS", 1_000, int),
        inference_max_field_bytes=int(_env_number("LAKESIDE_SERVE_INFERENCE_MAX_FIELD_MB", 1) * 1024 * 1024),
        inference_spill_dir=home / "serving" / "inference",
        unknown_columns=_choice("LAKESIDE_SERVE_UNKNOWN_COLUMNS", ("strict", "lenient"), "strict"),
        predict_in=_choice("LAKESIDE_SERVE_PREDICT_IN", ("thread", "process"), "thread"),
        runtime=_choice("LAKESIDE_SERVE_RUNTIME", ("auto", "pyfunc"), "auto"),
        split=env("LAKESIDE_SERVE_SPLIT") or None,
        shadow_share=_share("LAKESIDE_SERVE_SHADOW_SHARE"),
        shadow_alias=env("LAKESIDE_SERVE_SHADOW_ALIAS") or "challenger",
        shadow_timeout_s=_env_number("LAKESIDE_SERVE_SHADOW_TIMEOUT_S", 5.0),
        shadow_queue=_env_number("LAKESIDE_SERVE_SHADOW_QUEUE", 1000, int),
        shadow_flush_s=_env_number("LAKESIDE_SERVE_SHADOW_FLUSH_S", 10.0),
        access_log=_env_bool("LAKESIDE_SERVE_ACCESS_LOG", True),
    )


def serving_api_key() -> tuple[str | None, Path | None]:
    """(``LAKESIDE_SERVE_API_KEY``, ``LAKESIDE_SERVE_API_KEY_FILE``) alone: what a server checks on
    every request, read without building all of :func:`serving` (36 µs a request at 1 ms each)."""
    key_file = os.environ.get(SERVE_API_KEY_FILE_ENV)
    return os.environ.get(SERVE_API_KEY_ENV) or None, Path(key_file) if key_file else None


def registry_replay() -> str:
    """``LAKESIDE_REGISTRY_REPLAY``: ``bento`` (default) replays a version's logged request
    against its built Bento before an alias moves to it; ``off`` skips that (tests of the
    registry's bookkeeping only)."""
    return _choice("LAKESIDE_REGISTRY_REPLAY", ("bento", "off"), "bento")


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _share(name: str) -> float:
    share = _env_number(name, 0.0)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {share}")
    return share


# --- The Delta Lake Spark connector's jars ---------------------------------------------------

DELTA_JARS_FOLDER = Path(__file__).resolve().parents[2] / ".cache" / "delta-jars"
"""Where ``make setup`` puts the connector in a checkout (``docker/fetch_delta_jars.py``)."""


def delta_jars() -> list[str]:
    """The jars that give Spark sessions the Delta Lake connector (spark-delta backend).

    ``LAKESIDE_DELTA_JARS``: comma-separated jar files or folders of jars (the Docker image sets
    it). Unset: the jars ``make setup`` fetched into the checkout's ``.cache/delta-jars``, if any.
    Set but empty: none. The paths are absolute, so spark-submitted jobs get the same list.
    """
    raw = os.environ.get("LAKESIDE_DELTA_JARS")
    entries = [DELTA_JARS_FOLDER] if raw is None else [Path(p.strip()) for p in raw.split(",") if p.strip()]
    jars: list[str] = []
    for entry in entries:
        if entry.is_dir():
            jars += sorted(str(jar.absolute()) for jar in entry.glob("*.jar"))
        elif raw is not None:
            jars.append(str(entry.absolute()))
    return jars


SPARK_CLASS_ARCHIVES = Path(__file__).resolve().parents[2] / ".cache" / "spark-classes"
"""Where ``make setup`` writes the class-data-sharing archive of Spark's driver classes."""


def spark_class_archive() -> Path | None:
    """The class-data-sharing archive Spark drivers start from: ``LAKESIDE_SPARK_CLASS_ARCHIVE``
    (empty: none), else the one ``make setup`` writes for the installed pyspark
    (:mod:`lakeside.local.spark_classes`). It may not exist yet."""
    from importlib.metadata import version

    raw = os.environ.get("LAKESIDE_SPARK_CLASS_ARCHIVE")
    if raw is not None:
        return Path(raw).expanduser().absolute() if raw.strip() else None
    return SPARK_CLASS_ARCHIVES / f"spark-{version('pyspark')}.jsa"


def demo_parallel_runs() -> int:
    """``LAKESIDE_DEMO_PARALLEL_RUNS``: how many Airflow processes share out ``make demo``'s DAG
    runs, each run once the runs it needs are done (default 2; 1 runs them one after the other)."""
    runs = _env_number("LAKESIDE_DEMO_PARALLEL_RUNS", 2, int)
    if runs < 1:
        raise ValueError(f"LAKESIDE_DEMO_PARALLEL_RUNS must be at least 1, got {runs}")
    return runs


def ingest_sources() -> tuple[str, ...]:
    """The sources ``daily_ingest`` lands and ingests: ``LAKESIDE_INGEST_SOURCES`` (comma-separated,
    a subset of :data:`lakeside.datasets.INGEST_SOURCES`), default all of them. ``make demo`` sets
    it to the sources its use cases read. An unknown name is refused."""
    from lakeside.datasets import INGEST_SOURCES

    raw = os.environ.get("LAKESIDE_INGEST_SOURCES", "").strip()
    if not raw:
        return tuple(INGEST_SOURCES)
    chosen = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in chosen if name not in INGEST_SOURCES]
    if unknown:
        raise ValueError(f"LAKESIDE_INGEST_SOURCES names {unknown}, which are not daily sources; "
                         f"choose from {list(INGEST_SOURCES)}")
    return chosen


def evidently_venv() -> Path:
    """``LAKESIDE_EVIDENTLY_VENV``: the venv of Evidently's HTML reports (default
    ``.venv-evidently`` beside the checkout; its pins, pandas<3 and plotly<6, clash with ours)."""
    venv = os.environ.get("LAKESIDE_EVIDENTLY_VENV") or str(Path(__file__).resolve().parents[2] / ".venv-evidently")
    return Path(venv).expanduser().absolute()


# --- BI (Superset over the gold tables) --------------------------------------------------------

@dataclass(frozen=True)
class BISettings:
    home: Path
    """``$LAKESIDE_HOME/bi``: gold.duckdb, Superset's metadata, secrets, logs."""
    port: int
    venv: Path
    """``LAKESIDE_BI_VENV``: Superset's own venv (default ``.venv-bi`` beside the checkout)."""
    admin_password: str | None
    secret_key: str | None
    metadata_uri: str | None
    """``LAKESIDE_BI_METADATA_URI``: Superset's metadata database (default SQLite under ``home``)."""
    url: str | None
    """``LAKESIDE_BI_URL``: a Superset that runs elsewhere (compose); default the local one."""


def bi() -> BISettings:
    """The BI settings from the environment (read when called)."""
    env = os.environ.get
    home = Path(env("LAKESIDE_HOME", ".lakeside")).expanduser().absolute() / "bi"
    venv = env("LAKESIDE_BI_VENV") or str(Path(__file__).resolve().parents[2] / ".venv-bi")
    return BISettings(
        home=home,
        port=_env_number("LAKESIDE_BI_PORT", 8088, int),
        venv=Path(venv).expanduser().absolute(),
        admin_password=env("LAKESIDE_BI_ADMIN_PASSWORD") or None,
        secret_key=env("LAKESIDE_BI_SECRET_KEY") or None,
        metadata_uri=env("LAKESIDE_BI_METADATA_URI") or None,
        url=env("LAKESIDE_BI_URL") or None,
    )
