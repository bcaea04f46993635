"""The backbone exported once for every vision test (3 s), and small generated pictures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def backbone_onnx(tmp_path_factory):
    from lakeside.vision import backbone

    return backbone.export_onnx(tmp_path_factory.mktemp("backbone") / "backbone.onnx")
