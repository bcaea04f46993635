"""The tree's features (use-cases §5): the transaction type (string-indexed), the amount, the four
balances and the balance changes ``orgDiff`` and ``destDiff``; the same arithmetic in Spark and
pandas, so the exported model sees what Spark trained on."""

from __future__ import annotations

NUMERIC = ("amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest", "orgDiff", "destDiff")
CATEGORICAL = ("type",)


def with_features(frame):
    """pandas: ``frame`` plus orgDiff = newbalanceOrig - oldbalanceOrg, destDiff = newbalanceDest - oldbalanceDest."""
    return frame.assign(orgDiff=frame["newbalanceOrig"] - frame["oldbalanceOrg"],
                        destDiff=frame["newbalanceDest"] - frame["oldbalanceDest"])


def with_spark_features(df):
    """Spark: the same two columns."""
    from pyspark.sql import functions as F

    return df.withColumns({"orgDiff": F.col("newbalanceOrig") - F.col("oldbalanceOrg"),
                           "destDiff": F.col("newbalanceDest") - F.col("oldbalanceDest")})
