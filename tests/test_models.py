import numpy as np
import pytest

from digitlib import build_model, describe_model, layers_table, model_names


def test_registry_lists_the_seed():
    assert "seed" in model_names()
    assert "28 filters" in describe_model("seed")


def test_seed_model_matches_the_seed():
    model = build_model("seed")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense"]
    conv, _, _, hidden, dropout, output = model.layers
    assert conv.filters == 28 and conv.kernel_size == (3, 3)
    assert hidden.units == 128 and dropout.rate == 0.2 and output.units == 10
    # conv 28*(9+1) + dense 13*13*28*128+128 + output 128*10+10
    assert model.count_params() == 280 + 605_824 + 1_290 == 607_394
    probabilities = model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; choose one of: .*seed"):
        build_model("resnet")


def test_layers_table_has_one_row_per_layer():
    table = layers_table(build_model("seed"))
    assert len(table) == 6 and table["parameters"].sum() == 607_394
    assert table.iloc[0]["output shape"] == "(None, 26, 26, 28)"
