"""The analysts' fraud rules as versioned data: a JSON file, not code.

    {"version": "seed-2017.1", "description": "...",
     "rules": [{"name": "large_origin_emptied",
                "when": [{"column": "oldbalanceOrg", "op": ">", "value": 56900}, ...]}, ...]}

A transaction is fraud (label 1) when any rule holds; a rule holds when all its conditions do.
Columns are PaySim's; numeric columns take ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=`` with a
finite number inside the column's range, ``type`` takes ``==``/``!=``/``in`` with PaySim's
transaction types. Anything else (an unknown field, column or operator, a threshold that is not
a finite number, a missing version) is refused with a message naming the rule and the field.

The same rule set labels a pandas frame (:meth:`RuleSet.label_frame`) and a Spark DataFrame
(:meth:`RuleSet.label_column`), so tests, the relabel job and analysts' notebooks agree.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeside.datasets import paysim

DEFAULT_RULES = Path(__file__).with_name("rules.json")
NUMERIC_OPS = ("<", "<=", ">", ">=", "==", "!=")
TEXT_OPS = ("==", "!=", "in")
TEXT_COLUMNS = {"type": paysim.TYPES}
NUMERIC_COLUMNS = {c.name: c for c in paysim.SPEC.columns if c.kind in ("int", "double") and c.name not in
                   ("isFraud", "isFlaggedFraud")}
_FILE_FIELDS = {"version", "description", "rules"}
_RULE_FIELDS = {"name", "when", "description"}
_CONDITION_FIELDS = {"column", "op", "value"}


class InvalidRulesError(ValueError):
    """A rule file that cannot be applied as written."""


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Any

    def __str__(self) -> str:
        value = list(self.value) if self.op == "in" else self.value
        return f"{self.column} {self.op} {value!r}"


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    description: str = ""
    source: str = ""

    @property
    def columns(self) -> list[str]:
        return sorted({c.column for rule in self.rules for c in rule.when})

    def label_frame(self, frame):
        """pandas: (label int32 Series, Series of the names of the rules that fired, ``;``-joined)."""
        import numpy as np
        import pandas as pd

        fired = [_all(frame, rule.when).to_numpy() for rule in self.rules]
        label = pd.Series(np.any(fired, axis=0) if fired else np.zeros(len(frame), bool), index=frame.index)
        names = pd.Series([";".join(r.name for r, hit in zip(self.rules, hits) if hit) for hits in zip(*fired)]
                          if fired else [""] * len(frame), index=frame.index, dtype=object)
        return label.astype("int32").rename("label"), names.rename("rules_fired")

    def label_column(self):
        """Spark: the label (int) as a Column over PaySim's columns."""
        from pyspark.sql import functions as F

        return F.when(self._any_rule(), 1).otherwise(0).cast("int")

    def fired_column(self):
        """Spark: the names of the rules that fired, ``;``-joined ("" when none)."""
        from pyspark.sql import functions as F

        names = [F.when(_spark_all(rule.when), F.lit(rule.name)) for rule in self.rules]
        return F.concat_ws(";", *names)

    def _any_rule(self):
        from functools import reduce

        from pyspark.sql import functions as F

        return reduce(lambda a, b: a | b, [_spark_all(r.when) for r in self.rules], F.lit(False))

    def to_dict(self) -> dict:
        return {"version": self.version, "description": self.description,
                "rules": [{"name": r.name, "when": [{"column": c.column, "op": c.op,
                                                      "value": list(c.value) if c.op == "in" else c.value}
                                                     for c in r.when]} for r in self.rules]}


def load(path: str | Path | None = None) -> RuleSet:
    """The rule set in ``path`` (default: the seed rules shipped with the use case), validated."""
    path = Path(path or DEFAULT_RULES)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InvalidRulesError(f"{path}: not valid JSON ({error})") from error
    return parse(data, source=str(path))


def parse(data: Any, source: str = "rules") -> RuleSet:
    """A rule set from its JSON data; :class:`InvalidRulesError` names what is wrong and where."""
    if not isinstance(data, dict):
        raise InvalidRulesError(f"{source}: expected an object with version and rules")
    _refuse_unknown(data, _FILE_FIELDS, source)
    version = data.get("version")
    if not isinstance(version, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", version):
        raise InvalidRulesError(f"{source}: 'version' must be a non-empty name (letters, digits, . _ -), got {version!r}")
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise InvalidRulesError(f"{source}: 'rules' must be a non-empty list")
    parsed = tuple(_rule(rule, f"{source} rule {i + 1}") for i, rule in enumerate(rules))
    names = [r.name for r in parsed]
    if len(set(names)) != len(names):
        raise InvalidRulesError(f"{source}: rule names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    return RuleSet(version, parsed, str(data.get("description", "")), source)


def _rule(data: Any, where: str) -> Rule:
    if not isinstance(data, dict):
        raise InvalidRulesError(f"{where}: expected an object with name and when")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"\w+", name):
        raise InvalidRulesError(f"{where}: 'name' must be a word (letters, digits, _), got {name!r}")
    where = f"{where} ({name})"
    _refuse_unknown(data, _RULE_FIELDS, where)
    conditions = data.get("when")
    if not isinstance(conditions, list) or not conditions:
        raise InvalidRulesError(f"{where}: 'when' must be a non-empty list of conditions")
    return Rule(name, tuple(_condition(c, f"{where} condition {i + 1}") for i, c in enumerate(conditions)))


def _condition(data: Any, where: str) -> Condition:
    if not isinstance(data, dict):
        raise InvalidRulesError(f"{where}: expected an object with column, op and value")
    _refuse_unknown(data, _CONDITION_FIELDS, where)
    missing = sorted(_CONDITION_FIELDS - set(data))
    if missing:
        raise InvalidRulesError(f"{where}: missing {', '.join(missing)}")
    column, op, value = data["column"], data["op"], data["value"]
    if column in TEXT_COLUMNS:
        allowed = TEXT_COLUMNS[column]
        if op not in TEXT_OPS:
            raise InvalidRulesError(f"{where}: op {op!r} does not apply to {column}; one of {TEXT_OPS}")
        values = value if op == "in" else [value]
        if not isinstance(values, list) or not values or any(v not in allowed for v in values):
            raise InvalidRulesError(f"{where}: value {value!r} for {column} must be one of {allowed}"
                                    + (" (a list for 'in')" if op == "in" else ""))
        return Condition(column, op, tuple(values) if op == "in" else value)
    if column not in NUMERIC_COLUMNS:
        known = sorted([*TEXT_COLUMNS, *NUMERIC_COLUMNS])
        raise InvalidRulesError(f"{where}: unknown column {column!r}; one of {', '.join(known)}")
    if op not in NUMERIC_OPS:
        raise InvalidRulesError(f"{where}: op {op!r} does not apply to {column}; one of {NUMERIC_OPS}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRulesError(f"{where}: threshold {value!r} for {column} must be a finite number")
    spec = NUMERIC_COLUMNS[column]
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise InvalidRulesError(f"{where}: threshold {value!r} for {column} is outside its range "
                                f"[{spec.min}, {spec.max}]")
    return Condition(column, op, value)


def _refuse_unknown(data: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidRulesError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                                f"known: {', '.join(sorted(known))}")


def _all(frame, conditions):
    import numpy as np
    import pandas as pd

    mask = pd.Series(np.ones(len(frame), bool), index=frame.index)
    for c in conditions:
        column = frame[c.column]
        if c.op == "in":
            mask &= column.isin(c.value)
        else:
            mask &= {"<": column.lt, "<=": column.le, ">": column.gt, ">=": column.ge,
                     "==": column.eq, "!=": column.ne}[c.op](c.value)
    return mask


def _spark_all(conditions):
    from functools import reduce

    from pyspark.sql import functions as F

    def one(c):
        column = F.col(c.column)
        if c.op == "in":
            return column.isin(*c.value)
        value = F.lit(c.value)
        return {"<": column < value, "<=": column <= value, ">": column > value, ">=": column >= value,
                "==": column == value, "!=": column != value}[c.op]

    return F.coalesce(reduce(lambda a, b: a & b, [one(c) for c in conditions]), F.lit(False))
