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


@dataclass(frozen=True)
class Settings:
    home: Path
    table_backend: str
    spark_master: str
    spark_driver_memory: str
    spark_shuffle_partitions: int
    max_rejected_share: float
    generate_missing_landing: bool
    mlflow_tracking_uri: str | None
    mlflow_port: int
    mlflow_backend_store_uri: str | None

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
    share = _env_float("LAKESIDE_MAX_REJECTED_SHARE", 0.05)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"LAKESIDE_MAX_REJECTED_SHARE must be between 0 and 1, got {share}")
    return Settings(
        home=Path(os.environ.get("LAKESIDE_HOME", ".lakeside")).expanduser().absolute(),
        table_backend=backend,
        spark_master=os.environ.get("LAKESIDE_SPARK_MASTER", "local[*]"),
        spark_driver_memory=os.environ.get("LAKESIDE_SPARK_DRIVER_MEMORY", "2g"),
        spark_shuffle_partitions=int(os.environ.get("LAKESIDE_SPARK_SHUFFLE_PARTITIONS", "4")),
        max_rejected_share=share,
        generate_missing_landing=_env_bool("LAKESIDE_GENERATE_MISSING_LANDING", False),
        mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None,
        mlflow_port=int(os.environ.get("LAKESIDE_MLFLOW_PORT", "5000")),
        mlflow_backend_store_uri=os.environ.get("LAKESIDE_MLFLOW_BACKEND_STORE_URI") or None,
    )


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
