"""Intervals and tests for accuracies, checked against statsmodels as an independent reference."""

import numpy as np
import pytest

from digitlib.report.significance import accuracy_interval, holm, mcnemar_exact, paired_difference_interval


# statsmodels takes seconds to import: only the tests that compare with it do (each pytest-xdist worker collects
# every module).
def mcnemar(*arguments, **options):
    from statsmodels.stats.contingency_tables import mcnemar

    return mcnemar(*arguments, **options)


def multipletests(*arguments, **options):
    from statsmodels.stats.multitest import multipletests

    return multipletests(*arguments, **options)


def proportion_confint(*arguments, **options):
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(*arguments, **options)


@pytest.mark.parametrize("correct, total", [(9930, 10000), (991, 1000), (1000, 1000), (0, 1000), (1, 1), (0, 1),
                                            (7, 13), (499, 500)])
@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.8])
def test_accuracy_interval_is_wilsons(correct, total, confidence):
    expected = proportion_confint(correct, total, alpha=1 - confidence, method="wilson")
    assert accuracy_interval(correct, total, confidence) == pytest.approx(expected, abs=1e-12)


def test_an_accuracy_interval_holds_the_accuracy_and_stays_in_zero_one():
    assert accuracy_interval(9930, 10000) == pytest.approx((0.99117, 0.99446), abs=1e-5)
    low, high = accuracy_interval(1000, 1000)
    assert low < 1 and high == 1.0
    assert accuracy_interval(0, 1000)[0] == 0.0


@pytest.mark.parametrize("bad, problem", [
    ((11, 10), "more than total"), ((1, 0), "at least one test image"), ((-1, 10), "must be a count"),
    ((2.5, 10), "must be a count"), ((True, 10), "must be a count"), ((5, 10, 1.5), "strictly between 0 and 1"),
    ((5, 10, 0), "strictly between 0 and 1"),
])
def test_accuracy_interval_refuses_what_is_not_an_accuracy(bad, problem):
    with pytest.raises(ValueError, match=problem):
        accuracy_interval(*bad)


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (0, 1), (5, 5), (3, 12), (12, 3), (40, 61), (0, 25), (200, 170)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    table = [[9000, b], [c, 50]]  # the concordant cells do not matter
    assert mcnemar_exact(b, c) == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12, abs=1e-15)


def test_mcnemar_without_discordant_images_cannot_tell_the_models_apart():
    assert mcnemar_exact(0, 0) == 1.0


@pytest.mark.parametrize("b, c", [(-1, 3), (1.5, 2), (None, 2)])
def test_mcnemar_refuses_what_is_not_a_count(b, c):
    with pytest.raises(ValueError, match="must be a count"):
        mcnemar_exact(b, c)


@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03, 0.5], [0.2], [0.001, 0.001, 0.9, 0.02, 0.04, 0.6],
                                      [1.0, 0.0, 0.5], [0.3, 0.3, 0.3], list(np.linspace(0, 1, 17) ** 3)])
def test_holm_matches_statsmodels(p_values):
    expected = multipletests(p_values, method="holm")[1]
    adjusted = holm(p_values)
    np.testing.assert_allclose(adjusted, expected, rtol=1e-12)
    assert adjusted.max() <= 1.0 and all(adjusted >= np.asarray(p_values))


def test_holm_is_monotone_in_the_raw_p_values():
    p_values = np.random.default_rng(0).uniform(0, 0.2, 30)
    adjusted = holm(p_values)
    order = np.argsort(p_values)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert holm([]).shape == (0,)


@pytest.mark.parametrize("p_values", [[0.1, float("nan")], [1.5], [-0.1], [[0.1, 0.2]]])
def test_holm_refuses_what_are_not_p_values(p_values):
    with pytest.raises(ValueError, match="p_values must"):
        holm(p_values)


def paired(both, only_a, only_b, neither):
    """Right-or-wrong arrays of two models with these counts of images."""
    a = np.repeat([True, True, False, False], [both, only_a, only_b, neither])
    b = np.repeat([True, False, True, False], [both, only_a, only_b, neither])
    return a, b


def newcombe_reference(both, only_a, only_b, neither, confidence=0.95):
    """Newcombe's (1998) method 10 written out from the paper, with statsmodels' Wilson intervals."""
    n = both + only_a + only_b + neither
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = proportion_confint(both + only_a, n, alpha=1 - confidence, method="wilson")
    l2, u2 = proportion_confint(both + only_b, n, alpha=1 - confidence, method="wilson")
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    phi = 0.0 if margins == 0 or 0 <= cross <= n / 2 else (cross - n / 2 if cross > 0 else cross) / margins ** 0.5
    delta = ((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2) ** 0.5
    epsilon = ((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2) ** 0.5
    return p1 - p2 - delta, p1 - p2 + epsilon


@pytest.mark.parametrize("counts", [(1, 1, 7, 12), (59, 6, 16, 80), (9850, 60, 40, 50), (990, 3, 1, 6),
                                    (1000, 0, 0, 0), (0, 0, 0, 1000), (9900, 0, 0, 100), (0, 10, 0, 0)])
def test_paired_difference_interval_is_newcombes(counts):
    interval = paired_difference_interval(*paired(*counts))
    assert interval == pytest.approx(newcombe_reference(*counts), abs=1e-12)
    both, only_a, only_b, neither = counts
    difference = (only_a - only_b) / sum(counts)
    assert -1 <= interval[0] <= difference <= interval[1] <= 1


def test_the_paired_interval_of_b_minus_a_is_minus_that_of_a_minus_b():
    a, b = paired(950, 30, 12, 8)
    low, high = paired_difference_interval(a, b)
    assert paired_difference_interval(b, a) == pytest.approx((-high, -low), abs=1e-12)
    assert low > 0  # 30 against 12 discordant images: A is better, as McNemar also says
    assert mcnemar_exact(30, 12) < 0.05


def test_the_paired_interval_is_close_to_wald_with_many_discordant_images():
    a, b = paired(8000, 900, 700, 400)
    n, difference = 10_000, 0.02
    wald = 1.959964 * np.sqrt((900 + 700) / n - difference ** 2) / np.sqrt(n)
    assert paired_difference_interval(a, b) == pytest.approx((difference - wald, difference + wald), abs=5e-4)


@pytest.mark.parametrize("a, b, problem", [
    ([True, False], [True], "same images"), ([], [], "non-empty 1-D"), ([[True]], [[True]], "non-empty 1-D"),
    ([0, 2], [1, 1], "booleans"),
])
def test_the_paired_interval_refuses_unpaired_outcomes(a, b, problem):
    with pytest.raises(ValueError, match=problem):
        paired_difference_interval(a, b)
