"""The headline under the report's title: the result at a glance, and a warning when the run learned nothing."""

from types import SimpleNamespace

import numpy as np

from digitlib import headline
from digitlib.report.summary import Headline
from digitlib.train.evaluation import Evaluation

CPU = {"type": "CPU", "count": 2}


def _evaluation(predicted: list[int], labels: list[int]) -> Evaluation:
    return Evaluation(probabilities=np.eye(10)[predicted] * 0.9 + 0.01, labels=np.array(labels))


def _training(loss: list[float]):
    return SimpleNamespace(history={"loss": loss, "accuracy": [0.5] * len(loss)}, epochs=len(loss),
                           train_seconds=3.0)


def test_a_run_that_learned_nothing_gets_a_warning_in_text_and_html():
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 10
    shown = headline("fast", _evaluation([1] * 100, labels), _training([2.3]), device=CPU, backend="jax")
    assert shown.warning and "every test image was read as 1" in shown.warning
    assert f"warning: {shown.warning}" in str(shown)
    html = shown._repr_html_()
    assert "every test image was read as 1" in html and html.index("test accuracy") < html.index("warning")


def test_a_healthy_run_has_no_warning():
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 10
    shown = headline("fast", _evaluation(labels, labels), _training([0.3, 0.1]), device=CPU, backend="jax")
    assert shown.warning is None and "warning" not in str(shown) and "warning" not in shown._repr_html_()


def test_the_warning_is_escaped_html():
    shown = Headline(model="<b>m</b>", accuracy=0.1, interval=(0.05, 0.2), mistakes=90, images=100, epochs=1,
                     train_seconds=1.0, device="CPU", backend="jax", warning="<script>alert(1)</script>")
    html = shown._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<b>m" not in html
