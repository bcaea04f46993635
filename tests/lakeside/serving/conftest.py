import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("serving_tiny_models", Path(__file__).with_name("tiny_models.py"))
tiny_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_models)


@pytest.fixture(scope="session")
def tiny():
    """The tiny-model helpers (:mod:`tiny_models`)."""
    return tiny_models
