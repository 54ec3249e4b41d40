"""Wilson's score interval of an accuracy, in plain Python (the standard library's math alone).

One home for the interval every page shows: the reports (through :mod:`digitlib.report.significance`) and
reports/index.html, which the command line's process writes without importing SciPy.
"""

from __future__ import annotations

import math
from numbers import Integral
from statistics import NormalDist


def check_count(name: str, value: int) -> int:
    """`value` as an int when it is a count (a whole number, 0 or more; NumPy's integers too), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:  # NumPy's integers are Integral
        raise ValueError(f"{name}={value!r} must be a count: a whole number, 0 or more")
    return int(value)


def check_confidence(confidence: float) -> float:
    """`confidence` as a float when it lies strictly between 0 and 1, else ValueError."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be a number strictly between 0 and 1, such as 0.95")
    return float(confidence)


def accuracy_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of `correct` out of `total` test images.

    Unlike the normal approximation, Wilson's interval stays inside [0, 1] and keeps its coverage near
    100%, where MNIST's accuracies are: 9,930 of 10,000 gives (0.9912, 0.9945). The formula is Newcombe's
    (1998), as SciPy's ``binomtest(...).proportion_ci(method="wilson")`` computes it, to 1e-12.
    """
    correct, total = check_count("correct", correct), check_count("total", total)
    if total == 0:
        raise ValueError("total=0: an accuracy needs at least one test image")
    if correct > total:
        raise ValueError(f"correct={correct} is more than total={total}: pass the images right, then all images")
    confidence = check_confidence(confidence)
    z = NormalDist().inv_cdf(0.5 + 0.5 * confidence)
    p = correct / total
    denominator = 2 * (total + z**2)
    center = (2 * total * p + z**2) / denominator
    delta = z / denominator * math.sqrt(4 * total * p * (1 - p) + z**2)
    return (0.0 if correct == 0 else center - delta), (1.0 if correct == total else center + delta)
