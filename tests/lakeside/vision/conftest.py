"""The backbone exported once per test session (3 s; tests/jobs finds the same file)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def backbone_onnx(tmp_path_factory):
    from lakeside.vision import backbone

    return backbone.exported(tmp_path_factory.getbasetemp() / "vision-backbone")
