"""Import a registered model version into the BentoML store and build its Bento.

    BENTOML_HOME=... MLFLOW_TRACKING_URI=... python -m lakeside.serving.build \\
        --model M --version 3 --alias champion --kind tabular

:func:`lakeside.serving.deploy.deploy` runs this in a child process whose environment carries
``BENTOML_HOME`` (from :func:`lakeside.config.serving`): BentoML reads its home when it is
first imported, and the calling process (an Airflow task, the CLI) neither imports BentoML nor
changes its own environment. Prints the Bento tag as JSON on the last line.

The Bento ``lakeside-<model>:v<version>`` holds the model (and its verified compiled form, if any), Lakeside's code and the model's own
pip requirements; its service class is the one for the model's kind
(:data:`lakeside.serving.models.SERVICES`); its environment names the model and its store tag,
so ``bentoml serve``/``containerize`` of it needs nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from lakeside.serving.models import SERVICES, ModelRef, import_version

log = logging.getLogger(__name__)

INCLUDE = ["lakeside/**/*.py", "lakeside/**/*.json", "lakeside/py.typed"]
BUILD_CONTEXT = Path(__file__).resolve().parents[2]


def bento_tag(ref: ModelRef) -> str:
    return f"lakeside-{ref.store_tag}"


def build(ref: ModelRef, kind: str) -> str:
    """The Bento for ``ref`` served by the ``kind`` service (built now unless it exists); its tag."""
    import bentoml
    import yaml
    from mlflow.pyfunc import get_model_dependencies

    tag = bento_tag(ref)
    try:
        bentoml.bentos.get(tag)
        return tag
    except bentoml.exceptions.NotFound:
        pass
    requirements = [r for r in Path(get_model_dependencies(ref.uri)).read_text().split() if not r.startswith("-")]
    compiled_models = _compiled_models(ref)
    runtime = [f"onnxruntime=={version('onnxruntime')}"] if compiled_models else []
    bentofile = {
        "service": SERVICES[kind],
        "name": tag.split(":")[0],
        "labels": {**ref.labels(), "service_kind": kind},
        "description": f"Lakeside {kind} service for {ref.name} version {ref.version} ({ref.alias}).",
        "include": INCLUDE,
        "envs": [{"name": "LAKESIDE_SERVE_MODEL", "value": ref.name},
                 {"name": "LAKESIDE_SERVE_ALIAS", "value": ref.alias or "champion"},
                 {"name": "LAKESIDE_SERVE_MODEL_TAG", "value": ref.store_tag}],
        "python": {"packages": [*requirements, f"bentoml=={bentoml.__version__}", "fastapi", *runtime],
                   "lock_packages": False},
        "models": [ref.store_tag, *compiled_models],
    }
    log.info("building Bento %s (%s)", tag, SERVICES[kind])
    with tempfile.TemporaryDirectory(prefix="lakeside-bentofile-") as folder:
        path = Path(folder) / "bentofile.yaml"
        path.write_text(yaml.safe_dump(bentofile, sort_keys=False))
        bentoml.bentos.build_bentofile(str(path), version=tag.split(":")[1], build_ctx=str(BUILD_CONTEXT))
    return tag


def _compiled_models(ref: ModelRef) -> list[str]:
    """The version's compiled form, when the store holds one (:func:`.models.import_compiled`)."""
    import bentoml

    try:
        return [str(bentoml.models.get(ref.compiled_tag).tag)]
    except bentoml.exceptions.NotFound:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakeside.serving.build", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--kind", choices=sorted(SERVICES), required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    ref = ModelRef(args.model, args.version, args.alias, args.run_id)
    import_version(ref)
    print(json.dumps({"bento": build(ref, args.kind), "store_tag": ref.store_tag}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
