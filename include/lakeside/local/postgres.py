"""A local PostgreSQL server for tests and the local modes, the way production has one.

Production runs the ``postgres`` service of ``docker-compose.yaml``: one database per
metadata store (``airflow``, ``mlflow``), each owned by its own login role. :func:`start`
gives the same on one machine without Docker: the Debian binaries (installed with apt when
missing and running as root), a cluster in a directory of its own, listening on
127.0.0.1 only (no Unix socket), password authentication for every role.

PostgreSQL refuses to run as root: as root the server runs as the OS user ``postgres`` (made
by the Debian package; created when missing), so its directory must be reachable by that user
(a fresh directory under /tmp is; pytest's are not).

    server = postgres.start(Path("/tmp/lakeside-pg"))
    airflow_url = server.create_database("airflow")   # postgresql+psycopg2://airflow:...@127.0.0.1:<port>/airflow
    ...
    server.stop()
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lakeside.processes import free_port

SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 120
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    # Metadata of a local server: losing the last commits on a crash is acceptable, fsync waits are not.
    "synchronous_commit": "off",
}


class PostgresError(RuntimeError):
    """The local server could not be installed, initialised, started or stopped."""


@dataclass(frozen=True)
class LocalPostgres:
    """A running local server: its directory (cluster, log, credentials), port and binaries."""

    directory: Path
    port: int
    bin_dir: Path
    os_user: str | None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL of ``database`` as its owner role (same name), made by :meth:`create_database`."""
        password = _credentials(self.directory).get(database)
        if password is None:
            raise PostgresError(f"no role {database!r} was created in {self.directory}")
        return f"{driver}://{database}:{password}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", user: str = SUPERUSER):
        """A psycopg2 connection as ``user`` (the superuser unless told)."""
        import psycopg2

        password = _credentials(self.directory)[user]
        return psycopg2.connect(host=self.host, port=self.port, dbname=database, user=user,
                                password=password, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """Create login role ``name`` and database ``name`` owned by it (kept when they exist);
        returns the database's SQLAlchemy URL."""
        credentials = _credentials(self.directory)
        password = credentials.get(name) or secrets.token_hex(16)
        connection = self.connect()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
                verb = "ALTER" if cursor.fetchone() else "CREATE"
                cursor.execute(f'{verb} ROLE "{name}" LOGIN PASSWORD %s', (password,))
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
        finally:
            connection.close()
        _save_credentials(self.directory, {**credentials, name: password})
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        _run_as(self.os_user, [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                self.directory, f"stopping PostgreSQL; log {self.log}")


def start(directory: Path, port: int | None = None, os_user: str | None = None) -> LocalPostgres:
    """The server of ``directory``: initialised on first use, started unless it runs already.

    ``port`` defaults to a free loopback port (a running server keeps its own). ``os_user``
    defaults to the current user, or ``postgres`` when that is root.
    """
    bin_dir = ensure_binaries()
    os_user = os_user or (SERVER_OS_USER if os.geteuid() == 0 else None)
    if os_user and os.geteuid() == 0:
        _ensure_os_user(os_user)
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    if os_user:
        _hand_over(directory, os_user)
    server = LocalPostgres(directory, port or free_port(), bin_dir, os_user)
    if not (server.data_dir / "PG_VERSION").exists():
        _initialise(server)
    running = _running_port(server)
    if running is not None:
        return LocalPostgres(directory, running, bin_dir, os_user)
    _run_as(os_user, [str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-l", str(server.log),
                      "-o", f"-p {server.port}", "-w", "-t", str(START_TIMEOUT_S), "start"],
            directory, f"starting PostgreSQL on 127.0.0.1:{server.port}; log {server.log}", log=server.log)
    _check_answers(server)
    return server


def ensure_binaries() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; installs Debian's ``postgresql`` when missing."""
    found = find_binaries()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise PostgresError(
            f"PostgreSQL binaries not found (no initdb under {DEBIAN_BIN_DIRS} or on PATH); "
            "install them as root: apt-get install -y postgresql"
        )
    install_binaries()
    found = find_binaries()
    if found is None:
        raise PostgresError(f"apt-get installed postgresql but no initdb is under {DEBIAN_BIN_DIRS}")
    return found


def find_binaries() -> Path | None:
    """The newest Debian PostgreSQL ``bin`` directory, else the one of ``initdb`` on PATH."""
    candidates = [path.parent for path in Path("/").glob(DEBIAN_BIN_DIRS.lstrip("/") + "/initdb")]
    candidates = [c for c in candidates if (c / "pg_ctl").exists()]
    if candidates:
        return max(candidates, key=lambda c: _version_key(c.parent.name))
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def install_binaries() -> None:
    """``apt-get install postgresql``; refreshes the package lists first only if that fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    first = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if first.returncode == 0:
        return
    update = subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, check=False)
    second = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if second.returncode != 0:
        raise PostgresError(
            f"`{' '.join(install)}` failed (exit {second.returncode}, after apt-get update exit "
            f"{update.returncode}):\n{_tail(second.stdout + second.stderr)}"
        )


def _initialise(server: LocalPostgres) -> None:
    password = secrets.token_hex(16)
    password_file = server.directory / "superuser.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    if server.os_user:
        _hand_over(password_file, server.os_user)
    try:
        _run_as(server.os_user, [
            str(server.bin_dir / "initdb"), "-D", str(server.data_dir), "--username", SUPERUSER,
            "--pwfile", str(password_file), "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C",
        ], server.directory, f"initdb in {server.data_dir}")
    finally:
        password_file.unlink(missing_ok=True)
    _save_credentials(server.directory, {SUPERUSER: password})
    with (server.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# lakeside.postgres\n" + "".join(f"{key} = {value}\n" for key, value in SETTINGS.items()))


def _running_port(server: LocalPostgres) -> int | None:
    """The port of the server already running on this data directory, if one does."""
    status = _run_as(server.os_user, [str(server.bin_dir / "pg_ctl"), "-D", str(server.data_dir), "status"],
                     server.directory, "pg_ctl status", check=False)
    if status.returncode != 0:
        return None
    lines = (server.data_dir / "postmaster.pid").read_text().splitlines()
    return int(lines[3])


def _check_answers(server: LocalPostgres) -> None:
    try:
        server.connect().close()
    except Exception as error:  # psycopg2 has several ways to say "no"
        raise PostgresError(f"PostgreSQL started but refuses connections on 127.0.0.1:{server.port} "
                            f"({error}); log {server.log}") from error


def _run_as(os_user: str | None, command: list[str], cwd: Path, what: str, check: bool = True,
            log: Path | None = None) -> subprocess.CompletedProcess:
    """Run a PostgreSQL program, as ``os_user`` when given (the caller is then root)."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C", "LC_ALL": "C"}
    identity = {}
    if os_user:
        account = pwd.getpwnam(os_user)
        identity = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env["HOME"] = str(cwd)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, **identity)
    if check and done.returncode != 0:
        detail = _tail(done.stdout + done.stderr)
        if log is not None and log.exists():
            detail += f"\n--- {log}:\n{_tail(log.read_text(errors='replace'))}"
        raise PostgresError(f"{what}: `{' '.join(command)}` failed (exit {done.returncode})\n{detail}")
    return done


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        name], check=True, capture_output=True)


def _hand_over(path: Path, os_user: str) -> None:
    """Give ``path`` to ``os_user`` and check that user can reach and write it."""
    account = pwd.getpwnam(os_user)
    os.chown(path, account.pw_uid, account.pw_gid)
    if path.is_dir():
        probe = subprocess.run(["test", "-w", str(path), "-a", "-x", str(path)], check=False,
                               user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        if probe.returncode != 0:
            raise PostgresError(f"PostgreSQL runs as OS user {os_user}, which cannot reach {path}: "
                                "use a directory every user can traverse to (e.g. under /tmp)")


def _credentials(directory: Path) -> dict[str, str]:
    path = directory / "credentials.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_credentials(directory: Path, credentials: dict[str, str]) -> None:
    merged = {**_credentials(directory), **credentials}
    path = directory / "credentials.json"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(merged, indent=1) + "\n")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _tail(text: str, lines: int = 30) -> str:
    return "".join(text.splitlines(keepends=True)[-lines:])
