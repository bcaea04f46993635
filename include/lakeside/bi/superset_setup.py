"""Inside ``.venv-bi``, after ``superset db upgrade`` and ``superset init``: the admin user (its
password from ``LAKESIDE_BI_ADMIN_PASSWORD_VALUE``, set again on every start), the ``business``
role (Gamma's read-only rights on dashboards and charts, no SQL Lab, access to the bundle's
datasets only) and the dashboards bundle, imported over what was there.

    .venv-bi/bin/python superset_setup.py bundle.zip
"""

from __future__ import annotations

import os
import sys
from zipfile import ZipFile

ADMIN = "admin"
BUSINESS = "business"


def main(bundle_path: str) -> int:
    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.connectors.sqla.models import SqlaTable
        from superset.extensions import db

        admin = ensure_admin(security_manager, os.environ["LAKESIDE_BI_ADMIN_PASSWORD_VALUE"])
        g.user = admin
        with ZipFile(bundle_path) as archive:
            contents = get_contents_from_bundle(archive)
        ImportDashboardsCommand(contents, overwrite=True).run()
        db.session.commit()
        datasets = [t for t in db.session.query(SqlaTable).all() if t.database.database_name == "Lakeside gold"]
        ensure_business_role(security_manager, datasets)
        db.session.commit()
        print(f"imported {sum(1 for name in contents if name.startswith('dashboards/'))} dashboards, "
              f"{len(datasets)} datasets")
    return 0


def ensure_admin(security_manager, password: str):
    from werkzeug.security import generate_password_hash

    user = security_manager.find_user(username=ADMIN)
    if user is None:
        user = security_manager.add_user(ADMIN, "Lakeside", "Admin", "admin@lakeside.local",
                                         security_manager.find_role("Admin"), password=password)
        if not user:
            raise RuntimeError("could not create the Superset admin user")
    else:
        user.password = generate_password_hash(password)
        security_manager.update_user(user)
    return user


def ensure_business_role(security_manager, datasets) -> None:
    security_manager.copy_role("Gamma", BUSINESS, merge=False)
    role = security_manager.find_role(BUSINESS)
    for dataset in datasets:
        view = security_manager.find_permission_view_menu("datasource_access", dataset.perm)
        if view is None:
            security_manager.add_permission_view_menu("datasource_access", dataset.perm)
            view = security_manager.find_permission_view_menu("datasource_access", dataset.perm)
        security_manager.add_permission_role(role, view)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
