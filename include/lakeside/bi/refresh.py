"""After a gold table changes: check every gold table against its declaration, rewrite
``gold.duckdb`` (written beside, renamed over), and clear Superset's cache of the datasets over its
REST API, so the next dashboard load queries the new data. A Superset that does not answer is
not an error (it reads the new catalog when it starts): the result carries a warning.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from lakeside import bi
from lakeside.bi import catalog

log = logging.getLogger(__name__)
TIMEOUT_S = 10


def refresh_dashboards(lake=None, url: str | None = None) -> dict[str, Any]:
    spec = bi.write_catalog(lake)
    problems = {v["name"]: v["problems"] for v in spec["views"] if v["problems"]}
    for name, found in problems.items():
        log.warning("gold table %s shown empty: %s", name, "; ".join(found))
    result: dict[str, Any] = {"catalog": spec["database"], "views": [v["name"] for v in spec["views"]],
                              "problems": problems, "cleared": [], "warning": None}
    try:
        result["cleared"] = clear_cache([catalog.view_name(v["name"]) for v in spec["views"]] + ["main.gold_status"], url)
    except (requests.ConnectionError, requests.Timeout) as error:
        result["warning"] = f"Superset at {url or bi.url()} does not answer ({type(error).__name__}); its cache was not cleared"
        log.warning(result["warning"])
    return result


def session(url: str | None = None) -> tuple[requests.Session, str]:
    """A logged-in REST session (JWT plus CSRF token) as the admin."""
    base = (url or bi.url()).rstrip("/")
    http = requests.Session()
    login = http.post(f"{base}/api/v1/security/login", timeout=TIMEOUT_S, json={
        "username": bi.ADMIN_USER, "password": bi.admin_password(), "provider": "db", "refresh": False})
    login.raise_for_status()
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    csrf = http.get(f"{base}/api/v1/security/csrf_token/", timeout=TIMEOUT_S)
    csrf.raise_for_status()
    http.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": base})
    return http, base


def clear_cache(tables: list[str], url: str | None = None) -> list[str]:
    """Invalidate Superset's cached query results of ``tables`` (``schema.table``) in the gold database."""
    http, base = session(url)
    datasources = [{"datasource_name": name.partition(".")[2], "schema": name.partition(".")[0],
                    "database_name": bi.DATABASE_NAME, "datasource_type": "table"} for name in tables]
    answer = http.post(f"{base}/api/v1/cachekey/invalidate", json={"datasources": datasources}, timeout=TIMEOUT_S)
    if answer.status_code != 201:
        raise RuntimeError(f"Superset refused the cache invalidation: {answer.status_code} {answer.text[:300]}")
    return tables
