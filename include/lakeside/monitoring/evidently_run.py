"""Evidently's data-drift report of two Parquet samples, run as a file by the Python of
``.venv-evidently`` (it imports pandas and Evidently only, never Lakeside):

    .venv-evidently/bin/python include/lakeside/monitoring/evidently_run.py FOLDER

``FOLDER`` holds ``baseline.parquet`` and ``recent.parquet`` (same columns); writes
``report.html``, ``report.json`` (Evidently's snapshot) and ``drift.json``: per column,
whether Evidently found it drifted, its method and score.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: str) -> int:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    root = Path(folder)
    baseline = pd.read_parquet(root / "baseline.parquet")
    recent = pd.read_parquet(root / "recent.parquet")
    snapshot = Report([DataDriftPreset(), DataSummaryPreset()]).run(current_data=recent, reference_data=baseline)
    snapshot.save_html(str(root / "report.html"))
    (root / "report.json").write_text(snapshot.json())
    (root / "drift.json").write_text(json.dumps(column_drift(snapshot, list(recent.columns)), indent=2))
    return 0


def column_drift(snapshot, columns: list[str]) -> dict[str, dict]:
    """Per column: its drift score, the method Evidently chose and whether it crossed its threshold."""
    found = {}
    for result in snapshot.dict()["metrics"]:
        config = result.get("config") or {}
        column = config.get("column")
        if config.get("type", "").endswith("ValueDrift") and column in columns:
            method = config.get("method")
            threshold = config.get("threshold")
            score = float(result["value"])
            p_value = "p_value" in str(method).lower() or "test" in str(method).lower()
            found[column] = {"method": method, "score": score, "threshold": threshold,
                             "drifted": bool(score < threshold if p_value else score >= threshold)}
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
