"""The MERGE condition both backends share."""

from __future__ import annotations

from collections.abc import Callable


def update_condition(columns: list[str], keys: list[str], newer_by: str | None,
                     quote: Callable[[str], str]) -> str:
    """SQL for "this matched row really changes" (target alias t, source alias s).

    Each comparison is parenthesised: delta-rs's parser binds ``IS DISTINCT FROM`` looser
    than ``OR``.
    """
    changed = " OR ".join(
        f"(t.{quote(c)} IS DISTINCT FROM s.{quote(c)})" for c in columns if c not in keys
    )
    if not changed:
        return ""
    if newer_by is None:
        return changed
    return f"({changed}) AND (s.{quote(newer_by)} >= t.{quote(newer_by)})"
