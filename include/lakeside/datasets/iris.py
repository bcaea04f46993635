"""Fisher's iris flowers: 150 rows, four measurements in centimetres and the species.

:func:`load` reads the public UCI file (``iris.data``: no header, species as
``Iris-setosa``), a CSV with a header naming the columns, or, by default, the copy that
scikit-learn ships (``150,4,setosa,...`` header, species as 0/1/2). Column names are
scikit-learn's, as the reference platform's requests send them; ``id`` is the row's position.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lakeside.datasets._spec import Column, SourceSpec

MEASUREMENTS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
SPECIES = ("setosa", "versicolor", "virginica")

SPEC = SourceSpec(
    name="iris",
    description="Fisher's iris flowers, one row per flower (reference table reference.iris; key: id).",
    key=("id",),
    columns=(Column("id", "long", min=0), *(Column(m, "double", min=0, max=100) for m in MEASUREMENTS),
             Column("species", "string", allowed=SPECIES)),
)


def load(path: str | None = None) -> pd.DataFrame:
    """``id``, the four measurements (float) and ``species`` (setosa, versicolor, virginica)."""
    path = path or _bundled()
    with open(path, encoding="utf-8") as handle:
        first = handle.readline().strip().split(",")
    if len(first) == 5 and first[0].isdigit() and not _is_number(first[4]) and first[2] == "setosa":
        frame = pd.read_csv(path, skiprows=1, header=None, names=[*MEASUREMENTS, "species"])
        frame["species"] = frame["species"].map(dict(enumerate(SPECIES)))
    elif all(_is_number(v) for v in first[:4]):
        frame = pd.read_csv(path, header=None, names=[*MEASUREMENTS, "species"], skip_blank_lines=True)
        frame["species"] = frame["species"].str.strip().str.removeprefix("Iris-")
    else:
        frame = pd.read_csv(path)
        missing = [c for c in [*MEASUREMENTS, "species"] if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: not an iris file, missing columns {missing}")
    frame = frame.dropna(how="all").reset_index(drop=True)
    unknown = sorted(set(frame["species"].dropna()) - set(SPECIES))
    if unknown or frame["species"].isna().any():
        raise ValueError(f"{path}: unknown or missing species {unknown or 'null'}")
    frame = frame.astype({c: "float64" for c in MEASUREMENTS})
    frame.insert(0, "id", range(len(frame)))
    return frame.astype({"id": "int64"})[["id", *MEASUREMENTS, "species"]]


def _bundled() -> str:
    import sklearn.datasets

    return str(Path(sklearn.datasets.__file__).parent / "data" / "iris.csv")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
