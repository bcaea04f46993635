#!/usr/bin/env bash
# Creates Lakeside's two metadata databases, each owned by its own login role:
#   airflow (Airflow's metadata), mlflow (MLflow's tracking and model registry) and superset
#   (Superset's metadata, profile "bi").
# The postgres image runs this once, on the first start with an empty data volume; changing the
# passwords in .env afterwards needs `ALTER ROLE ... PASSWORD ...` (or a new volume).
# psql quotes the passwords itself (:'var'), so any character is safe here; the services put
# them in connection URLs, so keep them URL-safe (e.g. `openssl rand -hex 24`).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=airflow_password="${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}" \
    --set=mlflow_password="${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}" \
    --set=superset_password="${SUPERSET_DB_PASSWORD:?SUPERSET_DB_PASSWORD is not set}" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE ROLE superset LOGIN PASSWORD :'superset_password';
CREATE DATABASE superset OWNER superset;
SQL
