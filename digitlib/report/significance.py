"""How sure a difference in accuracy is: intervals and tests for accuracies measured on test images.

A test set of N images measures accuracy with sampling error, and two models scored on the same
images make paired measurements: what tells them apart is only the images one gets right and the
other wrong (the discordant pairs). Plain NumPy and SciPy, no Keras, so reports of any kind use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from ..intervals import accuracy_interval, check_confidence, check_count  # one home for the Wilson interval


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: the two-sided p-value that two models are equally accurate on the same images.

    `b` counts the images only the first model gets right, `c` those only the second gets right.
    Images both get right or both get wrong say nothing about which is better, so under the null
    hypothesis each of the b + c discordant images is equally likely to fall either way: the p-value
    is a binomial test of b out of b + c at 1/2 (1 when there is no discordant image).
    """
    b, c = check_count("b", b), check_count("c", c)
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(b, b + c, 0.5).pvalue)


def _as_outcomes(name: str, correct: Sequence[bool] | np.ndarray) -> np.ndarray:
    values = np.asarray(correct)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array with one right-or-wrong per image, "
                         f"got shape {values.shape}")
    if values.dtype != bool and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans (or 0 and 1): whether each image was read right")
    return values.astype(bool)


def _pair_correlation(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Newcombe's estimate of the correlation of the paired outcomes; a positive one is shrunk by n/2."""
    n = both + only_a + only_b + neither
    margins = float(both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if margins == 0:
        return 0.0
    cross = float(both) * neither - float(only_a) * only_b
    if 0 <= cross <= n / 2:
        return 0.0
    return (cross - n / 2 if cross > 0 else cross) / np.sqrt(margins)


def paired_difference_interval(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray,
                               confidence: float = 0.95) -> tuple[float, float]:
    """The interval of accuracy(a) - accuracy(b) for two models scored on the same images.

    `correct_a[i]` and `correct_b[i]` say whether each model reads image i right. Newcombe's hybrid
    score interval for paired proportions (method 10 of Newcombe, Statistics in Medicine 17, 1998,
    2635-2650): each accuracy's Wilson interval, combined ("square and add") with the correlation of
    the pairs, a positive one shrunk by n/2 as Newcombe recommends. It keeps close to its nominal
    coverage with the few discordant images of two good models, where the Wald interval is too narrow.
    """
    a_right, b_right = _as_outcomes("correct_a", correct_a), _as_outcomes("correct_b", correct_b)
    if a_right.shape != b_right.shape:
        raise ValueError(f"correct_a has {a_right.size} images and correct_b {b_right.size}: score both models "
                         "on the same images, in the same order")
    confidence = check_confidence(confidence)
    n = a_right.size
    both = int(np.sum(a_right & b_right))
    only_a = int(np.sum(a_right & ~b_right))
    only_b = int(np.sum(~a_right & b_right))
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = accuracy_interval(both + only_a, n, confidence)
    l2, u2 = accuracy_interval(both + only_b, n, confidence)
    phi = _pair_correlation(both, only_a, only_b, neither)
    difference = p1 - p2
    lower = np.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = np.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return float(max(difference - lower, -1.0)), float(min(difference + upper, 1.0))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the order given: compare each with the level (0.05) directly.

    Testing many pairs at 5% each would call some difference significant by chance alone; Holm's
    step-down correction keeps the chance of even one false "significant" among all of them at 5%.
    The k-th smallest of m p-values is multiplied by m - k + 1, then made non-decreasing and capped at 1.
    """
    values = np.asarray(p_values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"p_values must be a flat list of p-values, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or values.min(initial=0) < 0 or values.max(initial=0) > 1:
        raise ValueError("p_values must all be probabilities between 0 and 1 (no NaN): pass the tests' raw p-values")
    order = np.argsort(values, kind="stable")
    scaled = values[order] * (len(values) - np.arange(len(values)))
    adjusted = np.empty_like(values)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def mean_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean of `values` (one result per seed, say): mean ± t(n − 1) · sd / √n.

    It treats the values as draws from one normal distribution, which is what repeating a configuration
    with other seeds gives; with a handful of seeds it is wide, as it should be. Needs two values or more.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be two finite numbers or more (one per seed), got {values.size}: "
                         "one seed has no spread to make an interval from")
    confidence = check_confidence(confidence)
    mean, error = float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))
    if error == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, values.size - 1, loc=mean, scale=error)
    return float(low), float(high)
