"""Fetch the Delta Lake Spark connector for the installed pyspark and delta-spark, with Maven.

    python docker/fetch_delta_jars.py [DEST]      # default DEST: <checkout>/.cache/delta-jars

The coordinate follows the installed packages: ``io.delta:delta-spark_<pyspark major.minor>_2.13:
<delta-spark version>`` (what delta-spark's ``configure_spark_with_delta_pip`` asks for; the
Docker image bakes the same, tests/test_compose.py checks both).
``mvn dependency:copy-dependencies`` on a generated one-dependency pom computes the connector's
runtime jars; the ones pyspark already ships (same artifact, any version) are left out, so
Spark's own versions win. DEST is replaced atomically and records the coordinate in
``COORDINATE``: a second run with the same coordinate does nothing. Exits 1 (DEST untouched)
when Maven cannot resolve the connector, e.g. offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = CHECKOUT / ".cache" / "delta-jars"
MARKER = "COORDINATE"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakeside</groupId>
  <artifactId>delta-jars</artifactId>
  <version>0</version>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def delta_coordinate() -> str:
    """The connector built for the installed pyspark, at the installed delta-spark's version."""
    spark_minor = ".".join(version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def pyspark_artifacts() -> set[str]:
    import pyspark

    return {artifact_id(jar.name) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}


def artifact_id(jar_name: str) -> str:
    """``jackson-core-2.21.2.jar`` -> ``jackson-core``; ``zstd-jni-1.5.7-3.jar`` -> ``zstd-jni``."""
    return re.sub(r"-\d[^-]*(-\d+)?\.jar$", "", jar_name)


def copy_dependencies(coordinate: str, into: Path) -> None:
    group, artifact, version = coordinate.split(":")
    with tempfile.TemporaryDirectory(prefix="lakeside-delta-pom-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(POM.format(group=group, artifact=artifact, version=version))
        subprocess.run(
            ["mvn", "--batch-mode", "--quiet", "-Dstyle.color=never", "--file", str(pom), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={into}"],
            check=True,
        )


def fetch(dest: Path) -> list[Path]:
    coordinate = delta_coordinate()
    marker = dest / MARKER
    if marker.is_file() and marker.read_text().strip() == coordinate:
        return sorted(dest.glob("*.jar"))
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn is not on PATH")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        copy_dependencies(coordinate, staging)
        shipped = pyspark_artifacts()
        for jar in staging.glob("*.jar"):
            if artifact_id(jar.name) in shipped:
                jar.unlink()
        (staging / MARKER).write_text(coordinate + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(dest.glob("*.jar"))


def main(argv: list[str]) -> int:
    dest = Path(argv[0]).absolute() if argv else DEFAULT_DEST
    try:
        jars = fetch(dest)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"fetch_delta_jars: could not fetch the Delta Lake Spark connector ({error}); "
              "the spark-delta backend stays unavailable here", file=sys.stderr)
        return 1
    print(f"fetch_delta_jars: {len(jars)} jars in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
