"""Vision on frozen EfficientNet-Lite0 features (../shared/use-cases.md §6).

- :mod:`.images`: image bytes -> checked pictures -> the backbone's input (no torch);
- :mod:`.backbone`: the ImageNet-trained EfficientNet-Lite0 and its ONNX export (torch);
- :mod:`.runtime`: the exported graphs run by onnxruntime in batches (no torch);
- :mod:`.store`: image files -> Delta (``image_id`` sha256, label, format, size, content), the
  unreadable, oversized and conflicting ones to quarantine with their reason;
- :mod:`.features`: the features job's transform (``mapInPandas``, one graph per worker);
- :mod:`.head`: the ``Linear(1280, classes)`` head, its training, the one-graph export;
- :mod:`.pyfunc`: the served MLflow model (Pillow + onnxruntime).

This package imports nothing heavy.
"""
