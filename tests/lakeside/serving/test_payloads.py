import datetime as dt
import math

import pytest

from lakeside.serving.payloads import InputColumn, PayloadError, missing_integers, parse, signature_columns, to_frame

SIGNATURE = [
    InputColumn("amount", "double"),
    InputColumn("term", "string"),
    InputColumn("count", "long"),
    InputColumn("issued", "datetime"),
    InputColumn("note", "string", required=False),
]
COLUMNS = ["amount", "term", "count", "issued", "note"]
ROWS = [[1000.0, "36 months", 3, "2024-01-31", None], [250, "60 months", 4.0, "2023-12-01T10:00:00", "x"]]
EXPECTED = {
    "amount": [1000.0, 250.0],
    "term": ["36 months", "60 months"],
    "count": [3, 4],
    "issued": [dt.datetime(2024, 1, 31), dt.datetime(2023, 12, 1, 10)],
    "note": [None, "x"],
}


def records():
    return [dict(zip(COLUMNS, row)) for row in ROWS]


@pytest.mark.parametrize("body, shape", [
    ({"columns": COLUMNS, "data": ROWS}, "split"),
    ({"dataframe_split": {"columns": COLUMNS, "data": ROWS, "index": [0, 1]}}, "dataframe_split"),
    ({"dataframe_records": records()}, "dataframe_records"),
    ({"inputs": records()}, "inputs"),
    ({"inputs": {c: [row[i] for row in ROWS] for i, c in enumerate(COLUMNS)}}, "inputs"),
])
def test_the_four_shapes_give_the_same_rows(body, shape):
    rows = parse(body, SIGNATURE, max_rows=10)

    assert rows.shape == shape
    assert rows.count == 2
    assert rows.columns == EXPECTED


def test_columns_come_in_signature_order_and_an_optional_one_may_be_left_out():
    body = {"columns": ["issued", "count", "term", "amount"], "data": [["2024-01-01", 1, "36 months", 5.5]]}

    rows = parse(body, SIGNATURE, max_rows=10)

    assert list(rows.columns) == COLUMNS
    assert rows.columns["note"] == [None]


def test_inputs_as_one_object_is_one_row():
    rows = parse({"inputs": records()[0]}, SIGNATURE, max_rows=10)

    assert rows.count == 1 and rows.columns["amount"] == [1000.0]


def test_without_a_signature_rows_pass_unchecked():
    rows = parse({"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2}]}, None, max_rows=10)

    assert rows.columns == {"a": [1, 2], "b": ["x", None]}


def error_of(body, max_rows=10) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse(body, SIGNATURE, max_rows=max_rows)
    return caught.value


@pytest.mark.parametrize("row, field, status, words", [
    ([1000.0, "36 months", 3, "2024-01-31", None, "extra"], "data", 400, "must be a list of 5 values"),
    (["1000", "36 months", 3, "2024-01-31", None], "amount", 422, "must be a number, got '1000'"),
    ([True, "36 months", 3, "2024-01-31", None], "amount", 422, "must be a number"),
    ([1000.0, 36, 3, "2024-01-31", None], "term", 422, "must be a string, got 36"),
    ([1000.0, "36 months", 3.5, "2024-01-31", None], "count", 422, "must be an integer, got 3.5"),
    ([1000.0, "36 months", 3, "Apr-2015", None], "issued", 422, "ISO date"),
    ([None, "36 months", 3, "2024-01-31", None], "amount", 422, "missing value (null); the column is required"),
    ([math.nan, "36 months", 3, "2024-01-31", None], "amount", 422, "has NaN"),
    ([math.inf, "36 months", 3, "2024-01-31", None], "amount", 422, "finite"),
])
def test_a_bad_value_names_its_field_and_row(row, field, status, words):
    error = error_of({"columns": COLUMNS, "data": [ROWS[0], row]})

    assert (error.field, error.row, error.status) == (field, 1, status)
    assert words in str(error)
    assert error.to_json() == {"error": str(error), "field": field, "row": 1}


def test_unknown_and_missing_columns_are_named():
    extra = error_of({"dataframe_records": [records()[0], {**records()[1], "colour": "red"}]})
    missing = error_of({"columns": ["amount", "term", "count"], "data": [[1.0, "36 months", 1]]})

    assert (extra.field, extra.row, extra.status) == ("colour", 1, 422)
    assert "unknown column 'colour'" in str(extra)
    assert (missing.field, missing.status) == ("issued", 422)
    assert "missing column 'issued'" in str(missing)


@pytest.mark.parametrize("body, words", [
    ({}, "must have one of"),
    ({"rows": [[1]]}, "must have one of"),
    ({"dataframe_records": [], "inputs": []}, "exactly one input shape"),
    ({"dataframe_split": [[1, 2]]}, "must be an object"),
    ({"dataframe_records": [[1, 2]]}, "must be an object of column: value"),
    ({"columns": "amount", "data": [[1]]}, "list of column names"),
    ({"columns": ["amount", "amount"], "data": [[1, 2]]}, "duplicate column names ['amount']"),
    ({"inputs": {"amount": [1.0, 2.0], "term": ["x"]}}, "different lengths"),
    ({"inputs": 3}, "'inputs' must be"),
])
def test_a_body_of_the_wrong_shape_is_a_400(body, words):
    error = error_of(body)

    assert error.status == 400
    assert words in str(error)


def test_no_rows_and_too_many_rows():
    assert error_of({"dataframe_records": []}).status == 422
    too_many = error_of({"inputs": records() * 3}, max_rows=5)
    assert too_many.status == 413
    assert "too many rows: 6, at most 5" in str(too_many)


def oip(columns=COLUMNS, rows=ROWS, **extra):
    datatypes = {"amount": "FP64", "count": "INT64"}
    return {"inputs": [{"name": c, "shape": [len(rows), 1], "datatype": datatypes.get(c, "BYTES"),
                        "data": [[row[i]] for row in rows], **extra} for i, c in enumerate(columns)]}


def test_an_open_inference_protocol_body_gives_the_same_rows():
    rows = parse(oip(parameters={"content_type": "np"}), SIGNATURE, max_rows=10)

    assert rows.shape == "oip_v2"
    assert rows.columns == EXPECTED


def test_one_open_inference_protocol_tensor_holds_the_signature_s_columns_in_order():
    body = {"inputs": [{"name": "input-0", "shape": [2, 5], "datatype": "BYTES", "data": ROWS}]}

    assert parse(body, SIGNATURE, max_rows=10).columns == EXPECTED


@pytest.mark.parametrize("tensors, field, words", [
    ([{"name": "amount", "shape": [2], "datatype": "FP64", "data": [1.0]}], "inputs[0].data", "holds 2 values"),
    ([{"name": "amount", "shape": [1], "datatype": "FLOAT", "data": [1.0]}], "inputs[0].datatype", "FLOAT"),
    ([{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}], "inputs[0].shape", "takes 5"),
    ([{"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]},
      {"name": "term", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}], "inputs", "different row counts"),
])
def test_a_bad_open_inference_protocol_tensor_is_named(tensors, field, words):
    error = error_of({"inputs": tensors})

    assert error.field == field
    assert words in str(error)


def test_records_whose_columns_look_like_tensor_fields_stay_records():
    signature = [InputColumn(c, "double") for c in ("name", "shape", "datatype", "data", "other")]
    record = {"name": 1.0, "shape": 2.0, "datatype": 3.0, "data": 4.0, "other": 5.0}

    assert parse({"inputs": [record]}, signature, max_rows=10).shape == "inputs"


def test_the_lenient_policy_drops_unknown_columns_and_names_them():
    body = {"dataframe_records": [{**records()[0], "colour": "red"}, {**records()[1], "shade": 2, "colour": "b"}]}

    rows = parse(body, SIGNATURE, max_rows=10, unknown_columns="lenient")

    assert rows.columns == EXPECTED
    assert rows.dropped == ["colour", "shade"]
    assert error_of(body).field == "colour"


def test_integer_like_column_names_match_the_signature():
    from mlflow.types.schema import ColSpec, Schema

    signature = signature_columns(Schema([ColSpec("double", 0), ColSpec("double", 1)]))
    rows = parse({"columns": [0, 1], "data": [[0.5, 1.5]]}, signature, max_rows=10)
    frame = to_frame(rows.columns, signature)

    assert [c.name for c in signature] == ["0", "1"]
    assert list(frame.columns) == [0, 1]
    assert frame.iloc[0].tolist() == [0.5, 1.5]


def test_a_missing_integer_becomes_a_nullable_integer_in_the_frame():
    frame = to_frame(parse({"columns": COLUMNS, "data": ROWS}, SIGNATURE, 10).columns, SIGNATURE)
    with_hole = to_frame({**EXPECTED, "count": [None, 4]}, SIGNATURE)

    assert str(frame["count"].dtype) == "int64"
    assert str(with_hole["count"].dtype) == "Int64"
    assert with_hole["count"].isna().tolist() == [True, False]
    assert str(with_hole["issued"].dtype).startswith("datetime64")
    assert missing_integers(with_hole, SIGNATURE) == ["count"]


@pytest.mark.parametrize("values", [["2024-01-01"], ["2024-01-01T10:00:00"], ["2024-01-01T10:00:00Z"],
                                    [None, "2024-02-01"], ["Dec-2015"], ["01/02/2024", "01/03/2024"]])
def test_date_times_parse_as_pandas_infers_them_iso_or_not(values):
    import pandas as pd

    from lakeside.serving.payloads import datetimes

    pd.testing.assert_series_equal(pd.Series(datetimes(values)), pd.to_datetime(pd.Series(values, dtype=object)))
