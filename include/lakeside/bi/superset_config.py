"""Superset's configuration for Lakeside (``SUPERSET_CONFIG_PATH``; runs inside ``.venv-bi``).

Everything comes from the environment ``lakeside.bi.server`` (or compose) gives Superset:
``SUPERSET_SECRET_KEY``, ``LAKESIDE_BI_HOME`` (metadata, cache), ``LAKESIDE_BI_METADATA_URI``.
Login is required for every page and API call: there is no public role.
"""

import os
from pathlib import Path

_home = Path(os.environ.get("LAKESIDE_BI_HOME", "."))

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ.get("LAKESIDE_BI_METADATA_URI") or f"sqlite:///{_home / 'superset.db'}"

# Anonymous visitors get the role "Public", which `superset init` leaves without any permission
# (PUBLIC_ROLE_LIKE unset): every page sends them to the login, every API call answers 401.
AUTH_ROLE_PUBLIC = "Public"
PUBLIC_ROLE_LIKE = None
FAB_ADD_SECURITY_API = True

# One cache on disk for every worker, so the refresh DAG's invalidation reaches them all.
_cache = {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(_home / "cache"), "CACHE_DEFAULT_TIMEOUT": 24 * 3600}
CACHE_CONFIG = {**_cache, "CACHE_KEY_PREFIX": "lakeside_"}
DATA_CACHE_CONFIG = {**_cache, "CACHE_KEY_PREFIX": "lakeside_data_"}
FILTER_STATE_CACHE_CONFIG = {**_cache, "CACHE_KEY_PREFIX": "lakeside_filter_"}
EXPLORE_FORM_DATA_CACHE_CONFIG = {**_cache, "CACHE_KEY_PREFIX": "lakeside_explore_"}
# Cached results are listed per dataset, so /api/v1/cachekey/invalidate can find and drop them.
STORE_CACHE_KEYS_IN_METADATA_DB = True

# The gold catalog is read only; nothing is uploaded to it.
PREVENT_UNSAFE_DB_CONNECTIONS = True
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000
SUPERSET_WEBSERVER_TIMEOUT = 120
TALISMAN_ENABLED = True
WTF_CSRF_ENABLED = True
THUMBNAIL_SELENIUM_USER = None
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ALERT_REPORTS": False}
LOG_LEVEL = "INFO"
