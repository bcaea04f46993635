"""Names and strings quoted for Spark SQL text read back exactly as they were."""

from lakeside.sparksql import quoted, string


def test_quoted_names_and_strings_read_back_unchanged(spark):
    name = "odd `name` with spaces"
    text = "it's a \\d+ path: C:\\tmp 'quoted'"
    frame = spark.createDataFrame([(1,)], "x int").withColumnRenamed("x", name)
    row = frame.selectExpr(f"{quoted(name)} AS n", f"{string(text)} AS t").first()
    assert (row["n"], row["t"]) == (1, text)
