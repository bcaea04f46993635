"""The compose one-shot ``superset-init`` (in the image of ``docker/superset/Dockerfile``):
refuses the change-me values of ``.env``, then ``superset db upgrade``, ``superset init``, the
admin, the ``business`` role and the dashboards bundle, pointed at the lake's gold.duckdb.

    python -m lakeside.bi.compose_init
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REQUIRED = ("SUPERSET_ADMIN_PASSWORD", "SUPERSET_SECRET_KEY", "SUPERSET_DB_PASSWORD")


def refused(env: dict[str, str]) -> list[str]:
    """The required settings left empty or at their change-me placeholder."""
    return [name for name in REQUIRED if not env.get(name) or env[name].startswith("change-me")]


def main() -> int:
    bad = refused(dict(os.environ))
    if bad:
        print(f"superset-init: set {', '.join(bad)} in .env (not a change-me value)", file=sys.stderr)
        return 1
    from lakeside.bi import bundle, catalog, superset_setup

    for step in (["db", "upgrade"], ["init"]):
        subprocess.run(["superset", *step], check=True)
    gold = Path(os.environ.get("LAKESIDE_HOME", "/data/lakeside")) / "bi" / "gold.duckdb"
    archive = bundle.build_zip(bundle.load(bundle_folder()), gold, catalog.delta_extension())
    with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
        handle.write(archive)
        handle.flush()
        os.environ["LAKESIDE_BI_ADMIN_PASSWORD_VALUE"] = os.environ["SUPERSET_ADMIN_PASSWORD"]
        return superset_setup.main(handle.name)


def bundle_folder() -> Path:
    return Path(__file__).resolve().parent / "dashboards"


if __name__ == "__main__":
    sys.exit(main())
