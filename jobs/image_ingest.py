"""Image files of a day into Delta: ``<root>`` (class folders) -> ``silver.<source>`` (binary
with ``image_id`` sha256, label, format, width, height, content) and ``quarantine.<source>``
(unreadable, oversized, or one picture under two labels, with the reason).

    spark-submit --master 'local[*]' jobs/image_ingest.py --source car_images --date 2026-12-01 \\
        [--root $LAKESIDE_HOME/landing/car_images/2026-12-01] [--max-pixels 40000000]

The work is :func:`lakeside.vision.store.ingest` (``binaryFile`` read, judged per partition with
``mapInPandas``, silver merged on ``image_id``, the day's quarantine partition replaced).
"""

from __future__ import annotations

import argparse
import json
import sys

from lakeside.spark import get_spark
from lakeside.tables import open_lake


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from lakeside.vision.images import MAX_PIXELS
    from lakeside.vision.store import MAX_BYTES

    parser = argparse.ArgumentParser(prog="image_ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--root", default=None, help="default: $LAKESIDE_HOME/landing/<source>/<date>")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from lakeside.config import settings
    from lakeside.vision.store import ingest

    args = parse_args(argv)
    root = args.root or str(settings().landing_root / args.source / args.date)
    spark = get_spark("image_ingest")
    report = ingest(spark, open_lake(spark), args.source, root, args.date, max_bytes=args.max_bytes,
                    max_pixels=args.max_pixels)
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
