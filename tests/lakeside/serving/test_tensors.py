"""Tensor inputs and params checked against an MLflow signature, without a server."""

import numpy as np
import pytest
from mlflow.types.schema import ParamSchema, ParamSpec, Schema, TensorSpec

from lakeside.serving.payloads import PayloadError
from lakeside.serving.tensors import check_params, free_inputs, tensor_inputs

IMAGE = Schema([TensorSpec(np.dtype("float32"), (-1, 2, 2))])
NAMED = Schema([TensorSpec(np.dtype("int64"), (-1, 3), "ids"), TensorSpec(np.dtype("float64"), (-1,), "weights")])
PARAMS = ParamSchema([ParamSpec("factor", "double", 1.0), ParamSpec("top_k", "long", 5)])


def test_an_array_becomes_the_tensor_of_the_signature():
    array = tensor_inputs([[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]], IMAGE, max_rows=10)

    assert array.dtype == np.float32 and array.shape == (2, 2, 2)
    assert array[1, 1, 1] == pytest.approx(8.5)


def test_named_tensors_become_a_dict_of_arrays():
    arrays = tensor_inputs({"ids": [[1, 2, 3]], "weights": [0.5]}, NAMED, max_rows=10)

    assert arrays["ids"].dtype == np.int64 and arrays["weights"].tolist() == [0.5]


@pytest.mark.parametrize("value, schema, status, field, words", [
    ([[1, 2], [3, 4]], IMAGE, 422, "inputs", "shape (any, 2, 2), got (2, 2)"),
    ([[[1, 2], [3]]], IMAGE, 422, "inputs", "ragged"),
    ([[[True, False], [True, True]]], IMAGE, 422, "inputs", "must hold numbers, got booleans"),
    ({"ids": [[1.5, 2, 3]], "weights": [1.0]}, NAMED, 422, "ids", "integers"),
    ({"ids": [[1, 2, 3]]}, NAMED, 422, "weights", "missing"),
    ({"ids": [[1, 2, 3]], "weights": [1.0], "extra": [1]}, NAMED, 422, "extra", "unknown input"),
    ([[1, 2, 3]], NAMED, 400, "inputs", "named arrays"),
    ([[[0, 0], [0, 0]]] * 11, IMAGE, 413, None, "too many rows"),
])
def test_bad_tensors_name_the_field(value, schema, status, field, words):
    with pytest.raises(PayloadError) as error:
        tensor_inputs(value, schema, max_rows=10)

    assert (error.value.status, error.value.field) == (status, field)
    assert words in str(error.value)


def test_params_are_checked_and_converted():
    assert check_params({"factor": 2, "top_k": 3}, PARAMS) == {"factor": 2.0, "top_k": 3}
    assert check_params(None, PARAMS) is None


@pytest.mark.parametrize("params, schema, field", [
    ({"speed": 1}, PARAMS, "speed"),
    ({"top_k": "many"}, PARAMS, "top_k"),
    ({"factor": 2}, None, "factor"),
])
def test_bad_params_name_the_param(params, schema, field):
    with pytest.raises(PayloadError) as error:
        check_params(params, schema)

    assert (error.value.status, error.value.field) == (422, field)


def test_inputs_without_a_signature_keep_their_shape():
    assert free_inputs([[1, 2], [3, 4]], 10).shape == (2, 2)
    assert list(free_inputs([{"a": 1}, {"a": 2}], 10)["a"]) == [1, 2]
    assert free_inputs([[1], [2, 3]], 10) == [[1], [2, 3]]
