"""Serving registered models over HTTP with BentoML.

- :mod:`.base`: what every service class shares (model loading, alias watch and reload,
  answer headers, ``GET /model``, metrics, the request guard);
- :mod:`.service`: ``TabularService``, named columns checked against the signature, with
  adaptive batching (:mod:`.batching`, request shapes in :mod:`.payloads`);
- :mod:`.pyfunc_service`: ``PyfuncService``, any MLflow pyfunc: arrays and tensors
  (:mod:`.tensors`), ``params`` passed on to ``predict``;
- :mod:`.image_service`: ``ImageService``, image classifiers: base64 JSON or raw JPEG/PNG
  bodies, pictures decoded off the loop and batched (up to 32);
- :mod:`.models`: registered model versions in the BentoML store;
- :mod:`.build`: import a version and build its Bento (run in a child process);
- :mod:`.deploy`: build and serve, one loopback server per model.

Settings come from :func:`lakeside.config.serving`. This module imports nothing heavy.
"""
