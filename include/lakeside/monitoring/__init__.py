"""Monitoring of what is served: profiles and drift of a model's inputs and predictions against
its champion's training snapshot (:mod:`.models`), thresholds as validated data
(:mod:`.thresholds`), and alerts (:mod:`.alerts`)."""
