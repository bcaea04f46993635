"""Superset on loopback, like the other local servers (:mod:`lakeside.processes`: a pid file, a
log, stopped by its pid). Every start checks the dashboards bundle, rewrites ``gold.duckdb``,
upgrades Superset's metadata (``superset db upgrade`` and ``superset init`` when Superset's
version changed), sets the admin password, imports the bundle and waits for ``/health``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lakeside import bi, processes
from lakeside.bi import bundle

START_S = 240.0
REQUIREMENTS = bi.REPO / "requirements-bi.txt"


def ensure_venv() -> Path:
    """``.venv-bi`` from ``requirements-bi.txt`` (hashes required), made now if missing."""
    venv = bi.settings().venv
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text():
        return venv
    if not (venv / "bin" / "python").exists():
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
    uv = Path(sys.executable).parent / "uv"
    installer = [str(uv), "pip", "install", "-p", str(venv / "bin" / "python")] if uv.exists() else \
        [str(venv / "bin" / "python"), "-m", "pip", "install"]
    subprocess.run([*installer, "--quiet", "--require-hashes", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(REQUIREMENTS.read_text())
    return venv


def _base_python() -> str:
    """The interpreter the main venv was made from (Superset's venv is a sibling, not a child)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def delta_extension(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages/duckdb_extension_delta/extensions/v*/delta.duckdb_extension"))
    if not found:
        raise FileNotFoundError(f"{venv}: no duckdb delta extension (package duckdb-extension-delta)")
    return found[-1]


def environment() -> dict[str, str]:
    """Superset's environment: its config, secret key and metadata; the secrets never on a command line."""
    config = bi.settings()
    env = bi.venv_environment()
    env.update({
        "SUPERSET_CONFIG_PATH": str(bi.HERE / "superset_config.py"),
        "SUPERSET_SECRET_KEY": bi.secret_key(),
        "LAKESIDE_BI_HOME": str(bi.home()),
        "FLASK_APP": "superset.app:create_app()",
    })
    if config.metadata_uri:
        env["LAKESIDE_BI_METADATA_URI"] = config.metadata_uri
    return env


def pid_file() -> Path:
    return bi.home() / "superset.pid"


def log_file() -> Path:
    return bi.home() / "superset.log"


def healthy(url: str | None = None) -> bool:
    return processes.answers(f"{url or bi.url()}/health")


def prepare(lake=None) -> None:
    """Everything but serving: bundle checked, catalog written, metadata upgraded, admin, import."""
    checked = bundle.check(bi.DASHBOARDS_DIR)
    venv = ensure_venv()
    bi.write_catalog(lake)
    env = environment()
    superset = str(venv / "bin" / "superset")
    stamp = bi.home() / "superset-initialized"
    version = (REQUIREMENTS.read_text().split("apache-superset==", 1)[1].split()[0])
    marker = f"{version} {env.get('LAKESIDE_BI_METADATA_URI', 'sqlite')}"
    if not stamp.exists() or stamp.read_text() != marker:
        _run([superset, "db", "upgrade"], env, "superset db upgrade")
        _run([superset, "init"], env, "superset init")
        stamp.write_text(marker)
    archive = bundle.build_zip(checked, bi.gold_database(), delta_extension(venv))
    with tempfile.NamedTemporaryFile(suffix=".zip", delete=False) as handle:
        handle.write(archive)
    try:
        _run([str(venv / "bin" / "python"), str(bi.HERE / "superset_setup.py"), handle.name],
             {**env, "LAKESIDE_BI_ADMIN_PASSWORD_VALUE": bi.admin_password()}, "importing the dashboards")
    finally:
        os.unlink(handle.name)


def start(timeout: float = START_S, lake=None) -> str:
    """Superset's URL, serving the freshly imported dashboards (an already healthy one is kept)."""
    url = f"http://127.0.0.1:{bi.settings().port}"
    if processes.running_pid(pid_file()) is not None and healthy(url):
        return url
    processes.stop(pid_file())
    prepare(lake)
    venv = bi.settings().venv
    command = [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{bi.settings().port}", "--workers", "1",
               "--worker-class", "gthread", "--threads", "8", "--timeout", "120", "--limit-request-line", "0",
               "--limit-request-field_size", "0", "superset.app:create_app()"]
    process = processes.start_detached(command, env=environment(), log=log_file(), pid_file=pid_file())
    processes.wait_until(lambda: healthy(url), what="superset", timeout=timeout, log=log_file(), process=process)
    return url


def stop() -> None:
    processes.stop(pid_file())


def export(folder: Path = bi.DASHBOARDS_DIR) -> list[str]:
    """The dashboards as they are in Superset now, written back into ``folder`` as YAML."""
    venv = ensure_venv()
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "export.zip"
        _run([str(venv / "bin" / "superset"), "export-dashboards", "-f", str(archive)], environment(),
             "superset export-dashboards")
        return bundle.write_back(archive, folder)


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    with log_file().open("ab") as log:
        finished = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    if finished.returncode != 0:
        raise RuntimeError(f"{what} failed ({finished.returncode}); see {log_file()}")
