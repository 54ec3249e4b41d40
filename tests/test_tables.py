import numpy as np

from digitlib import dataset_table, parameters_table, predictions_table, provenance_table, splits_table
from digitlib.predict import Prediction


def test_dataset_and_splits_tables_describe_the_arrays(mnist, small_splits):
    table = dataset_table(mnist)
    assert table.loc["train", "images"] == 60000 and table.loc["test", "pixel range"] == "0 – 255"
    assert list(splits_table(small_splits).index) == ["train", "validation", "test"]


def test_long_values_are_shown_in_full():
    checksum = "f" * 64
    metrics = {"parameters": {"model": "fast"}, "data": {"sha256": {"a.gz": checksum}},
               "reproducibility": {"seed": 1}, "environment": {"device": {"type": "CPU"}}}
    html = provenance_table(metrics).to_html()
    assert checksum in html and "data.sha256.a.gz" in html and "device.type" in html
    assert "/a/very/long/path/" * 3 in parameters_table({"data_dir": "/a/very/long/path/" * 3}).to_html()


def test_predictions_table_flags_low_confidence_and_lists_failures():
    sure = Prediction(path="a.png", probabilities=np.eye(10)[3] * 0.95 + 0.005)
    unsure = Prediction(path="b.png", probabilities=np.full(10, 0.1))
    failed = Prediction(path="c.png", error="c.png: no digit found")
    html = predictions_table([sure, unsure, failed], low_confidence=0.8).to_html()
    assert "95.5%" in html and "low confidence" in html and "c.png: no digit found" in html
