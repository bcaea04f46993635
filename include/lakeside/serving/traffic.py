"""Traffic split: one endpoint serving several aliases of a registered model by weight.

The weights come from ``LAKESIDE_SERVE_SPLIT`` (e.g. ``champion=90,challenger=10``) or, when it
is unset, from the registered model's tag ``lakeside.traffic_split`` (same text; read again at
each alias check, so a changed tag takes effect without a restart). No split: the served alias
alone, as without this module.

A request that sends ``X-Lakeside-Route-Key`` (a user or session id, say) is routed by a stable
hash of the key, so the same key reaches the same alias while the weights stay; other requests
are routed at random by weight.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

SPLIT_TAG = "lakeside.traffic_split"
SPLIT_ENV = "LAKESIDE_SERVE_SPLIT"
ROUTE_KEY_HEADER = "x-lakeside-route-key"


class SplitError(ValueError):
    """A split that cannot be read."""


@dataclass(frozen=True)
class Split:
    weights: tuple[tuple[str, float], ...]
    """(alias, weight) pairs, weights > 0, in the order given."""
    source: str

    @property
    def aliases(self) -> list[str]:
        return [alias for alias, _ in self.weights]

    def choose(self, key: str | None = None) -> str:
        """The alias for a request: by the hash of ``key`` when given, else at random."""
        point = _unit(key) if key else random.random()
        total = sum(weight for _, weight in self.weights)
        edge = 0.0
        for alias, weight in self.weights:
            edge += weight / total
            if point < edge:
                return alias
        return self.weights[-1][0]

    def describe(self) -> dict:
        total = sum(weight for _, weight in self.weights)
        return {"weights": {alias: weight for alias, weight in self.weights},
                "shares": {alias: round(weight / total, 6) for alias, weight in self.weights},
                "source": self.source, "route_key_header": "X-Lakeside-Route-Key"}


def parse_split(text: str, source: str) -> Split:
    """``alias=weight,alias=weight`` as a :class:`Split`; a clear :class:`SplitError` otherwise."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        alias, sep, raw = part.partition("=")
        alias = alias.strip()
        try:
            weight = float(raw)
        except ValueError:
            weight = float("nan")
        if not sep or not alias or not weight >= 0 or weight == float("inf"):
            raise SplitError(f"{source}: {part!r} is not alias=weight (a number >= 0), in {text!r}")
        if alias in weights:
            raise SplitError(f"{source}: alias {alias!r} is named twice in {text!r}")
        weights[alias] = weight
    weights = {alias: weight for alias, weight in weights.items() if weight > 0}
    if not weights:
        raise SplitError(f"{source}: {text!r} gives no alias a weight above 0")
    return Split(tuple(weights.items()), source)


def configured_split(config_text: str | None, model: str, tracking_uri: str | None) -> Split | None:
    """The split from the setting, else from the registered model's tag; None when neither."""
    if config_text:
        return parse_split(config_text, SPLIT_ENV)
    if not tracking_uri:
        return None
    from mlflow import MlflowClient

    tag = MlflowClient(tracking_uri).get_registered_model(model).tags.get(SPLIT_TAG)
    return parse_split(tag, f"tag {SPLIT_TAG}") if tag else None


def _unit(key: str) -> float:
    """A stable point in [0, 1) for ``key`` (the same in every process and on every machine)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64
