"""Wilson's interval in plain Python (digitlib.intervals, what the index computes in the command line's process)
against SciPy's, which the reports used before: the same numbers."""

import pytest

from digitlib.intervals import accuracy_interval


@pytest.mark.parametrize("correct, total", [(9930, 10000), (9871, 10000), (54, 100), (1000, 1000), (0, 1000),
                                            (1, 1), (7, 13)])
@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.5])
def test_the_plain_python_interval_is_scipys_wilson_interval(correct, total, confidence):
    from scipy import stats

    expected = stats.binomtest(correct, total).proportion_ci(confidence, method="wilson")
    low, high = accuracy_interval(correct, total, confidence)
    assert abs(low - expected.low) < 1e-12 and abs(high - expected.high) < 1e-12
    assert 0 <= low <= correct / total <= high <= 1


def test_the_reports_use_the_one_interval():
    from digitlib.report import significance

    assert significance.accuracy_interval is accuracy_interval
