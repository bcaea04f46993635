"""Shared by the vision tests: the backbone exported once per session (3 s; tests/jobs finds the
same file), two textures (24 small pictures), their features and a head fitted on them."""

from __future__ import annotations

import numpy as np
import pytest


def texture(kind: str, rng) -> bytes:
    from PIL import Image

    from lakeside.vision import images

    base = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
    if kind == "stripes":
        base[:: int(rng.integers(3, 6))] = rng.integers(180, 255, 3)
    else:
        base += rng.integers(0, 180, (64, 64, 3), dtype=np.uint8)
    return images.encode(Image.fromarray(base), "PNG")


@pytest.fixture(scope="session")
def backbone_onnx(tmp_path_factory):
    from lakeside.vision import backbone

    return backbone.exported(tmp_path_factory.getbasetemp() / "vision-backbone")


@pytest.fixture(scope="session")
def two_textures(backbone_onnx):
    """(PNG bytes, features, labels) of 24 pictures: stripes and noise, alternating."""
    from lakeside.vision import images
    from lakeside.vision.runtime import OnnxModel

    rng = np.random.default_rng(0)
    labels = ["stripes", "noise"] * 12
    contents = [texture(label, rng) for label in labels]
    features = OnnxModel(backbone_onnx).run(images.decode_pixels(contents))
    return contents, features, np.array(labels)


@pytest.fixture(scope="session")
def fitted(two_textures):
    """A head fitted on the first 16 pictures, early-stopped on the next 4."""
    from lakeside.vision import head

    _, features, labels = two_textures
    return head.fit(features[:16], labels[:16], features[16:20], labels[16:20],
                    head.HeadConfig(max_epochs=60, patience=10, seed=0))


@pytest.fixture(scope="session")
def classifier_graph(fitted, two_textures, tmp_path_factory):
    from lakeside.vision import train

    contents, _, _ = two_textures
    return train.export_checked(fitted, contents[:4], tmp_path_factory.mktemp("classifier") / "classifier.onnx")
