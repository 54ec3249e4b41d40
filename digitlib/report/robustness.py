"""Robustness: the trained model's test accuracy under controlled, deterministic distribution shifts.

The test set is drawn from the same distribution as the training set, so its accuracy says little about
digits written, scanned or cropped a little differently. Here a fixed subset of the test images is
shifted in ten ways, each at four severities: geometric changes (rotation, translation, scale, elastic
distortion as in Simard et al. 2003), changes of the pen (stroke thickness), of the sensor (Gaussian
noise, blur), and three corruptions in the style of MNIST-C (Mu & Gilmer 2019): impulse noise, dotted
lines drawn across the digit, and an inverted stripe. Accuracy against severity, one curve per shift,
shows what the model has learned to ignore and what still fools it.

Everything is computed here, with numpy and scipy.ndimage: nothing is downloaded. A shift's random
choices (the direction of a translation, the noise, the elastic field) come from a generator seeded
by (seed, shift, severity), so the same seed gives the same images and the same numbers, whatever
order the shifts are computed in.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib
import numpy as np
import pandas as pd
from scipy import ndimage

from ..train.evaluation import predict_probabilities
from .figures import DescribedFigure

_SIDE = 28
_CENTRE = (_SIDE - 1) / 2  # the middle of the 28x28 field, where MNIST centred each digit's centre of mass
_NAME = re.compile(r"^[a-z][a-z_]{0,39}$")
_SEVERITIES = 4
# Test images each shift and severity is measured on: 41 passes over them (the clean one shared) are the
# report's longest analysis; 1,000 keep it to a few seconds on 2 cores, and an accuracy of 80% to ±2.5 points.
IMAGES = 1000

Transform = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Shift:
    """One kind of distribution shift: what it is called, and its parameter at each severity.

    ``levels[0]`` is the identity (the clean image); ``levels[1:]`` are the severities, mildest first.
    ``transform(batch, value, rng)`` applies the shift with parameter ``value`` to a (N, 28, 28) float32
    batch; it is called for severities of 1 and above only.
    """

    name: str
    title: str
    unit: str
    levels: tuple[float, ...]
    transform: Transform = field(repr=False, compare=False)

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"shift name {self.name!r} must be snake_case: lower-case letters and '_', "
                             "at most 40 characters")
        if len(self.levels) != _SEVERITIES + 1:
            raise ValueError(f"shift {self.name!r} has {len(self.levels)} levels; give the identity value "
                             f"and {_SEVERITIES} severities")


def _rotate(batch: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate about the centre of the field, clockwise or anticlockwise at random for each image."""
    signs = rng.choice([-1.0, 1.0], size=len(batch))
    centre = np.array([0.0, _CENTRE, _CENTRE])
    out = np.empty_like(batch)
    for sign in (-1.0, 1.0):  # one affine transform per direction, on every image that turns that way
        chosen = signs == sign
        if chosen.any():
            cos, sin = np.cos(np.deg2rad(sign * degrees)), np.sin(np.deg2rad(sign * degrees))
            matrix = np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])  # (image, row, column); images stay
            out[chosen] = ndimage.affine_transform(batch[chosen], matrix, offset=centre - matrix @ centre, order=1,
                                                   mode="constant")
    return out


def _translate(batch: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Move each image a whole number of `pixels` up, down, left or right, chosen at random; whole pixels
    need no interpolation, so the strokes stay as sharp as they were."""
    directions = rng.integers(4, size=len(batch))
    out = np.empty_like(batch)
    for direction in np.unique(directions):
        chosen = directions == direction
        rows, columns = np.rint(pixels * np.array([np.sin(direction * np.pi / 2), np.cos(direction * np.pi / 2)]))
        out[chosen] = ndimage.shift(batch[chosen], (0, rows, columns), order=0, mode="constant")
    return out


def _scale(batch: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Shrink (factor < 1) or enlarge every digit about the centre of the field."""
    matrix = np.array([1.0, 1 / factor, 1 / factor])  # a diagonal: scipy's faster, separable path
    return ndimage.affine_transform(batch, matrix, offset=(1 - matrix) * _CENTRE, order=1, mode="constant")


def _thicken(batch: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Thicker strokes: grey dilation with a disc of `radius` pixels, as a broader pen would draw."""
    reach = int(radius)
    rows, columns = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    disc = rows ** 2 + columns ** 2 <= radius ** 2
    return ndimage.grey_dilation(batch, footprint=disc[np.newaxis])


def _gaussian_noise(batch: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add independent Gaussian noise of standard deviation `sigma` (ink = 1) to every pixel."""
    return batch + sigma * rng.standard_normal(batch.shape, dtype=np.float32)


def _blur(batch: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of `sigma` pixels, as an out-of-focus scan."""
    return ndimage.gaussian_filter(batch, sigma=(0, sigma, sigma), mode="constant")


_ELASTIC_SIGMA = 4.0  # smoothness of the displacement field in pixels, as in Simard et al. (2003)


def _elastic(batch: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Simard et al.'s elastic distortion: a uniform random displacement field per image, smoothed by a
    Gaussian of 4 pixels and scaled by `alpha`, moves each pixel as a wobbly hand would."""
    # scipy's Gaussian filter along one axis of the 28x28 field, as a matrix: smoothing every field of the
    # batch is then two matrix products, the same numbers as gaussian_filter and ten times faster
    smoothing = ndimage.gaussian_filter1d(np.eye(_SIDE, dtype=np.float32), _ELASTIC_SIGMA, axis=0, mode="constant")
    field_ = rng.uniform(-1, 1, size=(2, *batch.shape)).astype(np.float32)
    rows, columns = alpha * (smoothing @ field_ @ smoothing.T) + np.indices((_SIDE, _SIDE))[:, np.newaxis]
    return _resample(batch, rows, columns)


def _resample(batch: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Each image read (linearly interpolated) at its own (rows, columns), background beyond its edges.

    scipy interpolates one tall 2-D image several times faster than a 3-D stack, so the images are laid
    end to end, each framed by a pixel of background that the coordinates cannot pass: no image reads
    its neighbour, and beyond its edges is background, as in scipy's "grid-constant" mode on the stack.
    """
    framed = np.pad(batch, ((0, 0), (1, 1), (1, 1)))
    tops = (np.arange(len(batch)) * (_SIDE + 2) + 1)[:, np.newaxis, np.newaxis]
    return ndimage.map_coordinates(framed.reshape(-1, _SIDE + 2),
                                   [tops + np.clip(rows, -1, _SIDE), 1 + np.clip(columns, -1, _SIDE)], order=1)


def _impulse_noise(batch: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: a random `fraction` of the pixels turns fully white or fully black."""
    hit = rng.random(batch.shape, dtype=np.float32) < fraction
    salt = rng.random(batch.shape, dtype=np.float32) < 0.5
    return np.where(hit, salt.astype(batch.dtype), batch)


_DOT_SPACING = 3  # pixels between the dots of a dotted line


def _dotted_lines(batch: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    """Draw `count` dotted lines in ink across each image, through random points near the digit, at
    random angles: marks that cross the digit, as on lined paper or a form."""
    lines = int(count)
    anchors = rng.uniform(_SIDE / 4, 3 * _SIDE / 4, size=(len(batch), lines, 2, 1))
    angles = rng.uniform(0, np.pi, size=(len(batch), lines, 1))
    steps = np.arange(-_SIDE, _SIDE + 1, _DOT_SPACING)
    rows = np.rint(anchors[:, :, 0] + steps * np.sin(angles)).astype(int)
    columns = np.rint(anchors[:, :, 1] + steps * np.cos(angles)).astype(int)
    images = np.broadcast_to(np.arange(len(batch))[:, np.newaxis, np.newaxis], rows.shape)
    inside = (rows >= 0) & (rows < _SIDE) & (columns >= 0) & (columns < _SIDE)
    out = batch.copy()
    out[images[inside], rows[inside], columns[inside]] = 1.0
    return out


def _stripe(batch: np.ndarray, width: float, rng: np.random.Generator) -> np.ndarray:
    """Invert a vertical band `width` pixels wide, at a random place over the digit: ink turns to paper
    and paper to ink, as a strip of glare or a scanner fault would."""
    first = rng.integers(4, _SIDE - 4 - int(width) + 1, size=(len(batch), 1))
    columns = np.arange(_SIDE)
    band = ((columns >= first) & (columns < first + int(width)))[:, np.newaxis, :]
    return np.where(band, 1 - batch, batch)


SHIFTS: dict[str, Shift] = {shift.name: shift for shift in (
    Shift("rotation", "Rotation", "degrees", (0, 15, 30, 45, 60), _rotate),
    Shift("translation", "Translation", "px", (0, 2, 3, 4, 6), _translate),
    Shift("scale", "Scale", "× original size", (1, 0.85, 0.7, 0.6, 0.5), _scale),
    Shift("thickness", "Stroke thickness", "px dilation", (0, 1, 1.5, 2, 2.5), _thicken),
    Shift("gaussian_noise", "Gaussian noise", "σ (ink = 1)", (0, 0.1, 0.2, 0.35, 0.5), _gaussian_noise),
    Shift("blur", "Blur", "px σ", (0, 0.5, 1, 1.5, 2), _blur),
    Shift("elastic", "Elastic distortion", "α (σ = 4 px)", (0, 12, 24, 36, 48), _elastic),
    Shift("impulse_noise", "Impulse noise", "fraction of pixels", (0, 0.03, 0.06, 0.1, 0.15), _impulse_noise),
    Shift("dotted_line", "Dotted lines", "lines", (0, 1, 2, 3, 4), _dotted_lines),
    Shift("stripe", "Inverted stripe", "px wide", (0, 2, 4, 6, 8), _stripe),
)}
"""The shifts of the report, in the order its figures show them."""

REFERENCE_LEVEL = 2
"""The severity that the one-number summary of each shift (robustness_summary) reports."""


def shift_images(images: np.ndarray, shift: str, level: int, seed: int = 0) -> np.ndarray:
    """Prepared images (N, 28, 28, 1), in [0, 1] with ink = 1, under `shift` at severity `level`.

    Level 0 returns an exact copy. The result has the same shape and dtype, clipped to [0, 1], and is
    the same for the same images, shift, level and seed.
    """
    kind = _shift(shift)
    if not isinstance(level, (int, np.integer)) or not 0 <= level < len(kind.levels):
        raise ValueError(f"level must be an integer from 0 (clean) to {len(kind.levels) - 1}, got {level!r}")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (_SIDE, _SIDE, 1) or not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"expected prepared images of shape (N, 28, 28, 1) with values in [0, 1], got "
                         f"{images.shape} {images.dtype}; prepare them with digitlib.prepare_images")
    if level == 0:
        return images.copy()
    batch = images[..., 0].astype(np.float32)
    shifted = kind.transform(batch, kind.levels[level], _generator(seed, shift, level))
    return np.clip(shifted, 0, 1).astype(images.dtype)[..., np.newaxis]


def _shift(name: str) -> Shift:
    if name not in SHIFTS:
        raise ValueError(f"unknown shift {name!r}; choose one of {', '.join(SHIFTS)}")
    return SHIFTS[name]


def _generator(seed: int, shift: str, level: int) -> np.random.Generator:
    """Random numbers of one (seed, shift, level): crc32 names the shift stably across processes."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), zlib.crc32(shift.encode()), int(level)])


def robustness_subset(labels: np.ndarray, count: int = IMAGES, seed: int = 0) -> np.ndarray:
    """Sorted indices of `count` test images drawn at random with `seed`; all of them when count >= len."""
    if count < 1:
        raise ValueError(f"count must be at least 1 image, got {count}")
    if count >= len(labels):
        return np.arange(len(labels))
    return np.sort(np.random.default_rng(seed).choice(len(labels), size=count, replace=False))


def robustness_curves(model, images: np.ndarray, labels: np.ndarray, *, count: int = IMAGES,
                      seed: int = 0) -> pd.DataFrame:
    """Accuracy of `model` on a fixed subset of the prepared test images under every shift at every level.

    One row per (shift, level): shift, title, level, value (the shift's parameter), unit, accuracy. Level 0
    (the clean subset) is predicted once and shared by all shifts. ``attrs`` records the number of images
    (``count``) and the ``seed``. `model` is anything with ``predict_on_batch``.
    """
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    chosen = robustness_subset(labels, count, seed)
    subset, truth = images[chosen], labels[chosen]

    def accuracy(batch: np.ndarray) -> float:
        return float(np.mean(predict_probabilities(model, batch).argmax(axis=1) == truth))

    clean = accuracy(subset)
    rows = [{"shift": shift.name, "title": shift.title, "level": level, "value": float(shift.levels[level]),
             "unit": shift.unit,
             "accuracy": clean if level == 0 else accuracy(shift_images(subset, shift.name, level, seed))}
            for shift in SHIFTS.values() for level in range(len(shift.levels))]
    curves = pd.DataFrame(rows)
    curves.attrs.update(count=len(chosen), seed=seed)
    return curves


def robustness_summary(curves: pd.DataFrame, level: int = REFERENCE_LEVEL) -> dict:
    """The numbers metrics.json keeps: accuracy of each shift at severity `level`, their mean, the clean
    accuracy of the subset, its size and seed, and each shift's whole curve (its unit, and per level from the
    clean one up, the shift's parameter value and the accuracy), which comparisons overlay (plain Python types)."""
    if not {"count", "seed"} <= set(curves.attrs):
        raise ValueError("curves.attrs lacks the subset's count and seed: pass the table robustness_curves "
                         "returned, or set curves.attrs.update(count=..., seed=...) on one read back from a file")
    levels = sorted(set(curves["level"]) - {0})
    if level not in levels:
        raise ValueError(f"severity must be one of {levels}, got {level!r}")
    at_level = curves[curves["level"] == level]
    accuracy = {str(shift): float(value) for shift, value in zip(at_level["shift"], at_level["accuracy"])}
    return {"images": int(curves.attrs["count"]), "seed": int(curves.attrs["seed"]), "severity": int(level),
            "clean_accuracy": float(curves.loc[curves["level"] == 0, "accuracy"].iloc[0]),
            "accuracy": accuracy, "mean_accuracy": float(np.mean(list(accuracy.values()))),
            "curves": {str(shift): _curve(curves[curves["shift"] == shift])
                       for shift in dict.fromkeys(curves["shift"])}}


def _curve(rows: pd.DataFrame) -> dict:
    """One shift's rows of the curves table as metrics.json keeps them: its unit, and per level (clean first) the
    shift's parameter value and the accuracy."""
    rows = rows.sort_values("level")
    return {"unit": str(rows["unit"].iloc[0]),
            "levels": [{"value": float(value), "accuracy": float(score)}
                       for value, score in zip(rows["value"], rows["accuracy"])]}


def _robustness_alt(curves: pd.DataFrame, clean_accuracy: float | None) -> str:
    """'Accuracy of 1,000 test images under 10 shifts ...: at the strongest severity, from 12.0% (Rotation, 60
    degrees) to 97.5% (Blur, 2 px σ); clean 99.0%, whole test set 98.9%.'"""
    strongest = curves[curves["level"] == curves["level"].max()].sort_values("accuracy")
    def at(row) -> str:
        return f"{row['accuracy']:.1%} ({row['title']}, {row['value']:g} {row['unit']})"
    count = curves.attrs.get("count")
    said = (f"Accuracy against severity under {len(strongest)} distribution shifts, one panel each"
            f"{f', on {count:,} test images' if count else ''}: at the strongest severity, from "
            f"{at(strongest.iloc[0])} to {at(strongest.iloc[-1])}; clean "
            f"{curves.loc[curves['level'] == 0, 'accuracy'].iloc[0]:.1%}")
    return said + (f", whole test set {clean_accuracy:.1%}." if clean_accuracy is not None else ".")


def robustness_figure(curves: pd.DataFrame, clean_accuracy: float | None = None) -> DescribedFigure:
    """One panel per shift: accuracy (%) against the shift's parameter, the clean subset at the left.

    The dotted line marks the severity the summary reports; `clean_accuracy` (on the whole test set)
    is drawn dashed if given.
    """
    shifts = list(dict.fromkeys(curves["shift"]))
    columns = 4
    rows = -(-len(shifts) // columns)
    height = 2 * rows + 0.5
    figure = DescribedFigure(_robustness_alt(curves, clean_accuracy), figsize=(12, height))
    # Fixed margins, not constrained layout: that measured every tick label of the ten panels at each draw.
    panels = figure.subplots(rows, columns, sharey=True, squeeze=False, gridspec_kw={
        "left": 0.06, "right": 0.99, "bottom": 0.55 / height, "top": 1 - 0.55 / height,
        "hspace": 0.6, "wspace": 0.06}).flat
    lowest = min(curves["accuracy"].min(), clean_accuracy if clean_accuracy is not None else 1.0)
    for name, axes in zip(shifts, panels):
        curve = curves[curves["shift"] == name].sort_values("level")
        axes.plot(curve["value"], 100 * curve["accuracy"], "o-", color="#0969da", label="accuracy on the subset")
        if clean_accuracy is not None:
            axes.axhline(100 * clean_accuracy, color="#57606a", linestyle="--", linewidth=1,
                         label="clean accuracy, whole test set")
        reference = curve[curve["level"] == REFERENCE_LEVEL]["value"]
        if len(reference):
            axes.axvline(reference.iloc[0], color="#8c959f", linestyle=":", linewidth=1,
                         label=f"severity {REFERENCE_LEVEL} (the summary)")
        if curve["value"].iloc[-1] < curve["value"].iloc[0]:
            axes.invert_xaxis()  # severity grows to the right in every panel
        axes.set_title(curve["title"].iloc[0], fontsize=10)
        axes.set_xlabel(curve["unit"].iloc[0], fontsize=9)
        axes.grid(alpha=0.3)
    for axes in list(panels):
        figure.delaxes(axes)
    for axes in figure.axes[::columns]:
        axes.set_ylabel("accuracy (%)")
    figure.axes[0].set_ylim(10 * np.floor(10 * lowest) - 2, 101)
    handles, names = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower right", fontsize=9, frameon=False)
    count = curves.attrs.get("count")
    figure.suptitle(f"Accuracy under distribution shifts ({f'{count:,} test images, ' if count else ''}"
                    "the leftmost point is clean)")
    return figure


def shifted_examples_figure(image: np.ndarray, seed: int = 0) -> DescribedFigure:
    """One test digit under every shift (columns) at every level (rows, clean at the top), each tile
    labelled with its parameter: what each severity looks like. One image, drawn once: fifty small axes
    took seconds to draw."""
    image = np.asarray(image, dtype=np.float32).reshape(1, _SIDE, _SIDE, 1)
    levels, shifts = _SEVERITIES + 1, list(SHIFTS.values())
    across, down = _SIDE + 6, _SIDE + 9  # a tile and its margin: room for the parameter under it
    canvas = np.full((levels * down, len(shifts) * across), np.nan, dtype=np.float32)
    strongest = ", ".join(f"{shift.title.lower()} {shift.levels[-1]:g} {shift.unit}" for shift in shifts)
    figure = DescribedFigure(f"One test digit under each of {len(shifts)} shifts (columns), clean at the top, then "
                             f"severities 1 to {_SEVERITIES} (rows); at severity {_SEVERITIES}: {strongest}.",
                             figsize=(12, 6.6), layout="constrained")
    axes = figure.add_subplot()
    for column, shift in enumerate(shifts):
        for level in range(levels):
            top, left = level * down, column * across + 3
            canvas[top:top + _SIDE, left:left + _SIDE] = shift_images(image, shift.name, level, seed)[0, ..., 0]
            axes.text(left + _SIDE / 2, top + _SIDE + 0.5, f"{shift.levels[level]:g}", ha="center", va="top",
                      fontsize=7, color="#57606a")
    colours = matplotlib.colormaps["gray_r"].with_extremes(bad="#eaeef2")  # the margins, so tiles show
    axes.imshow(canvas, cmap=colours, vmin=0, vmax=1, interpolation="nearest")
    axes.set_xticks([column * across + across / 2 for column in range(len(shifts))],
                    [f"{shift.title}\n({shift.unit})" for shift in shifts], fontsize=7.5)
    axes.set_yticks([level * down + _SIDE / 2 for level in range(levels)],
                    ["clean"] + [f"severity {level}" for level in range(1, levels)], fontsize=8)
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    for side in axes.spines.values():
        side.set_visible(False)
    figure.suptitle("One test digit under each shift, clean (top) to severity 4", fontsize=10)  # over the top ticks
    return figure
