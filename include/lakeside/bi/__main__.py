"""``python -m lakeside.bi [--stop] | export | refresh``: see :mod:`lakeside.bi`."""

from __future__ import annotations

import argparse
import json
import sys

from lakeside import bi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.bi", description="Superset over the gold tables.")
    parser.add_argument("command", nargs="?", choices=("start", "export", "refresh"), default="start")
    parser.add_argument("--stop", action="store_true", help="stop Superset")
    args = parser.parse_args(argv)
    from lakeside.bi import server
    from lakeside.bi.bundle import BundleError

    if args.stop:
        server.stop()
        print("Stopped Superset of", bi.home())
        return 0
    try:
        if args.command == "export":
            for path in server.export():
                print("wrote", bi.DASHBOARDS_DIR / path)
            return 0
        if args.command == "refresh":
            from lakeside.bi.refresh import refresh_dashboards

            print(json.dumps(refresh_dashboards(), indent=2))
            return 0
        url = server.start()
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    password = ("$LAKESIDE_BI_ADMIN_PASSWORD" if bi.settings().admin_password
                else f"in {bi.home() / 'admin-password'}")
    print(f"Superset:  {url}/dashboard/list/  (user {bi.ADMIN_USER}, password {password})")
    print(f"Log:       {server.log_file()}")
    print("Stop with: .venv/bin/python -m lakeside.bi --stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
