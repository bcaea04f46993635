"""The linear head on backbone features, its one-graph export, and the served pyfunc in process."""

import base64

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lakeside.serving.payloads import PayloadError
from lakeside.vision import images, pyfunc


def test_head_on_two_textures_reaches_accuracy_one(fitted, two_textures):
    _, features, labels = two_textures
    predicted = np.array(fitted.classes)[fitted.probabilities(features[20:]).argmax(axis=1)]
    assert list(predicted) == list(labels[20:])
    best = min(h["val_loss"] for h in fitted.history)
    assert fitted.history[fitted.best_epoch - 1]["val_loss"] <= best + 1e-6
    assert len(fitted.history) < 60 or fitted.best_epoch > 50  # early stopping ends a fit that stopped improving


@pytest.fixture(scope="module")
def saved(fitted, two_textures, classifier_graph, tmp_path_factory):
    contents, _, _ = two_textures
    path = tmp_path_factory.mktemp("pyfunc") / "model"
    mlflow.pyfunc.save_model(str(path), **pyfunc.model_arguments(classifier_graph, fitted.classes, contents[:2]))
    return mlflow.pyfunc.load_model(str(path))


def test_pyfunc_answers_label_and_prob_for_base64_images(saved, two_textures, fitted):
    contents, features, labels = two_textures
    answer = saved.predict(pd.DataFrame({"image": [base64.b64encode(c).decode() for c in contents[20:]]}))
    assert list(answer.columns) == ["label", "prob"]
    assert list(answer["label"]) == list(labels[20:])
    expected = fitted.probabilities(features[20:]).max(axis=1)
    assert np.allclose(answer["prob"], expected, atol=1e-4)
    assert saved.metadata.signature.inputs.input_names() == ["image"]


@pytest.mark.parametrize("value, status, reason", [
    ("not base64 !!", 422, "not valid base64"),
    (base64.b64encode(b"hello, not a picture").decode(), 422, "not an image"),
    ("TRUNCATED", 422, "corrupt or truncated image"),
])
def test_a_bad_image_is_refused_naming_its_row(saved, two_textures, value, status, reason):
    contents, _, _ = two_textures
    if value == "TRUNCATED":
        value = base64.b64encode(contents[1][:300]).decode()
    good = base64.b64encode(contents[0]).decode()
    with pytest.raises(PayloadError) as refused:
        saved.predict(pd.DataFrame({"image": [good, value]}))
    assert (refused.value.status, refused.value.field, refused.value.row) == (status, "image", 1)
    assert reason in str(refused.value)


def test_too_many_pixels_is_413_before_decoding():
    big = images.encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(PayloadError) as refused:
        pyfunc.pictures([base64.b64encode(big).decode()], max_pixels=50_000)
    assert refused.value.status == 413 and "300x200" in str(refused.value)
