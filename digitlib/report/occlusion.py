"""What the network looks at: occlusion sensitivity (Zeiler & Fergus, 2014).

A blank square slides over the digit; wherever covering the image lowers the probability of the
predicted digit, the network relied on that part. It needs nothing but predictions, so it works the
same for every model of the registry and on every Keras backend.
"""

from __future__ import annotations

import numpy as np

from ..train.evaluation import Evaluation, predict_probabilities
from .figures import DescribedFigure

PATCH = 6  # pixels: about a stroke's width and a half, so one patch can hide a loop's gap or a bar's end
STRIDE = 2


def occlusion_maps(model, images: np.ndarray, targets: np.ndarray, patch: int = PATCH,
                   stride: int = STRIDE) -> np.ndarray:
    """(N, 28, 28): per pixel, how much the probability of `targets[i]` drops, on average over the
    patches covering that pixel, when a `patch`×`patch` square of background (0) hides it.

    Positive: the evidence for that digit was there. Negative: covering it made the digit more likely.
    A patch over blank background changes nothing, so blank areas map to 0.
    """
    images, targets = np.asarray(images, dtype=np.float32), np.asarray(targets)
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected prepared images (N, height, width, 1), got shape {images.shape}")
    if targets.shape != (len(images),):
        raise ValueError(f"expected one target digit per image, got shape {targets.shape}")
    height, width = images.shape[1:3]
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise ValueError(f"patch must be 1-{min(height, width)} pixels and stride at least 1")
    corners = [(top, left) for top in range(0, height - patch + 1, stride)
               for left in range(0, width - patch + 1, stride)]
    covered = np.zeros((len(corners), height, width), dtype=bool)
    for k, (top, left) in enumerate(corners):
        covered[k, top:top + patch, left:left + patch] = True
    occluded = np.where(covered[np.newaxis, ..., np.newaxis], 0.0, images[:, np.newaxis]).astype(np.float32)
    rows = np.arange(len(images))
    before = predict_probabilities(model, images)[rows, targets]
    after = predict_probabilities(model, occluded.reshape(-1, height, width, 1)).reshape(len(images), len(corners), -1)
    drop = before[:, np.newaxis] - after[rows, :, targets]  # (N, corners)
    coverage = covered.sum(axis=0)
    return np.einsum("nk,khw->nhw", drop, covered.astype(np.float64)) / np.maximum(coverage, 1)


def chosen_examples(evaluation: Evaluation, count: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Which test images to explain: `count` right ones chosen at random (with `seed`), and the `count`
    most confident mistakes."""
    right = np.flatnonzero(evaluation.predictions == evaluation.labels)
    picked = np.sort(np.random.default_rng(seed).choice(right, size=min(count, len(right)), replace=False))
    return picked, evaluation.mistakes[:count]


def _occlusion_alt(evaluation: Evaluation, right: np.ndarray, wrong: np.ndarray) -> str:
    """'Occlusion maps of 6 right predictions (digits 0, 3, 7, 7, 8, 9) and of the 6 most confident mistakes
    (9 read as 4 at 99%, ...): ...'"""
    said = (f"Occlusion maps, each digit above where hiding it lowers (red) or raises (blue) the predicted "
            f"digit's probability: {len(right)} right predictions (digits "
            f"{', '.join(str(evaluation.labels[i]) for i in right)})")
    if not len(wrong):
        return said + "; no mistakes to explain."
    mistakes = ", ".join(f"{evaluation.labels[i]} read as {evaluation.predictions[i]} at "
                         f"{evaluation.confidence[i]:.0%}" for i in wrong)
    return said + f" and the {len(wrong)} most confident mistakes ({mistakes})."


def occlusion_figure(model, images: np.ndarray, evaluation: Evaluation, count: int = 6,
                     seed: int = 0) -> DescribedFigure:
    """For a few right predictions and the most confident mistakes: the digit, and where hiding it
    lowers the probability of the digit the model predicted (red) or raises it (blue)."""
    right, wrong = chosen_examples(evaluation, count, seed)
    chosen = np.concatenate([right, wrong])
    maps = occlusion_maps(model, images[chosen], evaluation.predictions[chosen])
    scale = max(float(np.abs(maps).max()), 1e-6)
    columns = max(len(right), len(wrong), 1)
    figure = DescribedFigure(_occlusion_alt(evaluation, right, wrong), figsize=(1.55 * columns, 6.6),
                             layout="constrained")
    figure.suptitle("What the network looks at: where hiding the image lowers (red) or raises (blue) "
                    "the predicted digit's probability", fontsize=10)
    grid = figure.subplots(4, columns, squeeze=False)
    for axes in grid.flat:
        axes.set_axis_off()
    for group, (indices, start) in enumerate(((right, 0), (wrong, len(right)))):
        for column, index in enumerate(indices):
            digit, heat = grid[2 * group, column], grid[2 * group + 1, column]
            label, predicted = evaluation.labels[index], evaluation.predictions[index]
            digit.imshow(images[index, ..., 0], cmap="gray_r", vmin=0, vmax=1)
            digit.set_title(f"{label} → {predicted} ({evaluation.confidence[index]:.0%})", fontsize=9,
                            color="#1a7f37" if label == predicted else "#cf222e")
            heat.imshow(images[index, ..., 0], cmap="gray_r", vmin=0, vmax=1)
            heat.imshow(maps[start + column], cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.6)
    grid[0, 0].text(-0.15, 0.5, "right", transform=grid[0, 0].transAxes, rotation=90, va="center", ha="right")
    if len(wrong):
        grid[2, 0].text(-0.15, 0.5, "mistakes", transform=grid[2, 0].transAxes, rotation=90, va="center",
                        ha="right")
    else:
        grid[2, 0].set_title("no mistakes to explain", fontsize=9)
    return figure
