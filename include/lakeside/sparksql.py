"""Spark SQL text: quoting names and string literals for expressions built as text.

Expressions are written as SQL text where building them from Column objects would take one call
into the JVM per node (wide sources, label mappings, merge conditions).
"""

from __future__ import annotations


def quoted(name: str) -> str:
    """A column name in backquotes, any backquote in it doubled."""
    return "`" + name.replace("`", "``") + "`"


def string(text: str) -> str:
    """A string literal: backslashes and single quotes escaped (Spark's default escaping)."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"
