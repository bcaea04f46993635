"""jobs/slide_patches.py and jobs/image_features.py on one small generated slide: patches are the
slide's pixels around each annotated point, points that cannot be cut are quarantined with the
reason, and the features job answers what in-process onnxruntime answers."""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lakeside.datasets import pathology_slides
from lakeside.tables import Lake

JOBS = Path(__file__).resolve().parents[2] / "jobs"
SIZE = 64  # 512-px test slides; the job's default is 224 for 4096-px slides


def load_job(name):
    spec = importlib.util.spec_from_file_location(f"{name}_job", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def backbone_onnx(tmp_path_factory):
    from lakeside.vision import backbone

    return backbone.exported(tmp_path_factory.getbasetemp() / "vision-backbone")


@pytest.fixture(scope="module")
def cut(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("slides")
    points = pathology_slides.generate(root / "slides", slides=1, size=512, per_label=5, seed=0, margin=SIZE // 2)
    with points.open("a") as csv:
        csv.write("slide_0_000,5,5,tumor\nslide_9_999,200,200,normal\nslide_0_000,x,3,normal\n")
    lake = Lake(root / "lake", backend="embedded", spark=spark)
    facts = load_job("slide_patches").run(lake, spark, str(root / "slides"), str(points), "2026-12-01", SIZE)
    return root, lake, facts


def test_patches_are_the_slide_around_each_point(cut):
    root, lake, facts = cut
    patches = lake.table("silver.pathology_patches").to_pandas()
    assert facts["patches"] == len(patches) == 10
    assert set(patches["label"]) == {"tumor", "normal"}
    slide = pathology_slides.read_slide(root / "slides" / "slide_0_000.png")
    for row in patches.itertuples():
        pixels = np.asarray(Image.open(io.BytesIO(row.content)))
        half = SIZE // 2
        assert np.array_equal(pixels, slide[row.y - half:row.y + half, row.x - half:row.x + half])
        assert row.patch_id == f"slide_0_000:{row.x}:{row.y}:{SIZE}"


def test_points_that_cannot_be_cut_are_quarantined_with_the_reason(cut):
    _, lake, facts = cut
    refused = lake.table("quarantine.pathology_patches").to_pandas()
    assert sorted(refused["_reason"]) == [
        "a 64-px patch around (5, 5) crosses the slide's edge",
        "unknown slide: no file for it in the slides folder",
        "x or y is not a number",
    ]
    assert facts["refused"] == 3


def test_features_job_matches_in_process_onnxruntime(cut, backbone_onnx):
    from lakeside.vision.images import decode_pixels
    from lakeside.vision.runtime import OnnxModel, file_sha256

    _, lake, _ = cut
    facts = load_job("image_features").run(lake, "pathology_patches", key="patch_id",
                                           carry=("label", "slide_id"), onnx=str(backbone_onnx), batch=4)
    features = lake.table("gold.pathology_patches_features").to_pandas().sort_values("patch_id")
    patches = lake.table("silver.pathology_patches").to_pandas().sort_values("patch_id")
    assert list(features["patch_id"]) == list(patches["patch_id"])
    assert list(features["label"]) == list(patches["label"])
    assert set(features["backbone"]) == {file_sha256(backbone_onnx)} and facts["backbone"] == file_sha256(backbone_onnx)
    expected = OnnxModel(backbone_onnx).run(decode_pixels(list(patches["content"])))
    got = np.stack(features["features"].to_numpy())
    assert got.shape == (10, 1280)
    assert np.abs(got - expected).max() <= 1e-5
