import re

import numpy as np

from digitlib import dataset_table, parameters_table, predictions_table, provenance_table, splits_table
from digitlib.predict.predictions import Prediction


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
    assert "not a digit?" not in html
    refused = Prediction(path="d.png", probabilities=np.full(10, 0.1), score=12.345, abstained=True)
    kept = Prediction(path="e.png", probabilities=np.eye(10)[3] * 0.95 + 0.005, score=0.5, abstained=False)
    html = predictions_table([refused, kept]).to_html()
    assert html.count("not a digit? (score 12.3)") == 1 and "score 0.5" not in html


PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _shows_payload_as_text(html: str) -> bool:
    return "<script>alert" not in html and "<img src=x" not in html and "&lt;script&gt;alert(1)" in html


def test_tables_escape_user_strings_in_cells_and_labels():
    """Parameter values, file names and member sources come from users: shown as text, never markup."""
    from digitlib import members_table
    from digitlib.train.training import TrainingResult

    assert _shows_payload_as_text(parameters_table({"data_dir": PAYLOAD}).to_html())
    assert _shows_payload_as_text(parameters_table({PAYLOAD: 1}).to_html())  # a label too
    metrics = {"parameters": {"data_dir": PAYLOAD}, "data": {"sha256": {PAYLOAD: "0"}},
               "reproducibility": {"seed": 1}, "environment": {"device": {"name": PAYLOAD}}}
    assert _shows_payload_as_text(provenance_table(metrics).to_html())
    named = Prediction(path=f"{PAYLOAD}.png", probabilities=np.full(10, 0.1))  # the table's index
    failed = Prediction(path="<svg onload=alert(4)>.png", error="<svg onload=alert(4)>.png: no digit found")
    html = predictions_table([named, failed]).to_html()
    assert _shows_payload_as_text(html) and "<svg" not in html
    training = TrainingResult(history={}, epoch_seconds=[1.0], members=(
        {"seed": 1, "source": PAYLOAD, "train_seconds": 1.0, "val_accuracy": None},))
    evaluation = type("Scored", (), {"accuracy": 0.5, "mistakes": [1]})()
    assert _shows_payload_as_text(members_table(training, [evaluation], evaluation).to_html())


def test_per_class_table_is_an_escaped_four_decimal_table(trained, small_splits):
    from digitlib import evaluate_model, per_class_table

    model, _ = trained
    html = per_class_table(evaluate_model(model, small_splits.x_test, small_splits.y_test)).to_html()
    assert "precision" in html and "support" in html
    assert html.count("<tr>") == 2 + 10  # column names, the index name "digit", then one row per digit
    assert re.search(r">0\.\d{4}</td>", html) and not re.search(r">0\.\d{5,}</td>", html)
