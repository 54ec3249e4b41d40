"""Reading a drawn digit as draw_a_digit.ipynb shows it: the 28x28 image the model sees, its ten probabilities
and what it looks at (the occlusion map of the digit it reads).

A drawing is read as `digitlib predict` reads any picture: prepared by
:func:`digitlib.predict.handwriting.mnist_style`, then predicted. The canvas (:mod:`digitlib.report.canvas`) shows
each :class:`Reading` as you draw; :func:`reading_figure` shows one as a figure, the same three views, for any
picture (the notebook's demonstration on a sample drawing, which its HTML report shows too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..predict.drawing import render_strokes
from ..predict.handwriting import ImageError, mnist_style, read_image
from ..predict.predictions import ReadDigit, read_digits
from ..train.evaluation import DIGITS
from ..train.prepare import prepare_images
from .figures import DescribedFigure
from .occlusion import occlusion_maps


@dataclass(frozen=True)
class Reading(ReadDigit):
    """One drawing read: the digit as the model saw it, the ten probabilities, and its occlusion map (per pixel,
    how much hiding it lowers the read digit's probability: :func:`digitlib.report.occlusion.occlusion_maps`)."""

    digit_image: np.ndarray  # (28, 28) uint8, white on black
    probabilities: np.ndarray  # (10,)
    occlusion: np.ndarray  # (28, 28)

    @property
    def alt(self) -> str:
        """'Read as 1 at 97% (next: 7 at 2%); ...': the reading in words, for a reader who cannot see it."""
        second = int(np.argsort(-self.probabilities, kind="stable")[1])
        return (f"Read as {self.digit} at {self.probability:.0%} (next: {second} at "
                f"{self.probabilities[second]:.0%}). Left, the 28x28 image the model sees; middle, its probability "
                "for each digit; right, where hiding the image lowers (red) or raises (blue) the probability of "
                f"{self.digit}.")

    def as_message(self) -> dict:
        """The reading as the canvas's page draws it (JSON): pixels 0-255 row by row, the occlusion map scaled to
        [-1, 1] by its largest change (`scale`, a probability)."""
        scale = float(np.abs(self.occlusion).max())
        shown = self.occlusion / scale if scale > 0 else np.zeros_like(self.occlusion)
        return {"digit": self.digit, "probabilities": [round(float(p), 4) for p in self.probabilities],
                "seen": self.digit_image.astype(int).ravel().tolist(),
                "occlusion": [round(float(v), 3) for v in shown.ravel()], "scale": round(scale, 4),
                "alt": self.alt}


def read_picture(model, picture: str | os.PathLike | Image.Image | np.ndarray, name: str = "drawing") -> Reading:
    """Read one picture of a digit, a file or an image, as `digitlib predict` does (an ImageError if it holds
    none), with the occlusion map of the digit read."""
    if isinstance(picture, str | os.PathLike):
        picture, name = read_image(picture), str(picture)
    seen, probabilities = read_digits(model, mnist_style(picture, name=name)[np.newaxis])
    occlusion = occlusion_maps(model, prepare_images(seen), probabilities.argmax(axis=1))[0]
    return Reading(seen[0], probabilities[0], occlusion)


def read_strokes(model, strokes: object) -> Reading | None:
    """Read the canvas's strokes (:func:`digitlib.predict.drawing.render_strokes`); None while there is nothing
    to read (no stroke yet, or marks too faint to be a digit)."""
    try:
        return read_picture(model, render_strokes(strokes))
    except ImageError:
        return None


def reading_figure(reading: Reading, title: str = "") -> DescribedFigure:
    """The three views of a reading, as the canvas shows them beside the drawing."""
    figure = DescribedFigure(reading.alt, figsize=(8.4, 2.6), layout="constrained")
    if title:
        figure.suptitle(title, fontsize=10)
    seen, bars, heat = figure.subplots(1, 3, width_ratios=[1, 1.6, 1])
    for axes in (seen, heat):
        axes.imshow(reading.digit_image, cmap="gray", vmin=0, vmax=255)
        axes.set_axis_off()
    seen.set_title("what the model sees (28x28)", fontsize=9)
    scale = max(float(np.abs(reading.occlusion).max()), 1e-6)
    heat.imshow(reading.occlusion, cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.6)
    heat.set_title(f"what it looks at to read {reading.digit}", fontsize=9)
    colours = ["#1a7f37" if digit == reading.digit else "#8c959f" for digit in DIGITS]
    bars.bar(DIGITS, reading.probabilities, color=colours)
    bars.set(xticks=DIGITS, ylim=(0, 1), xlabel="digit", ylabel="probability")
    bars.set_title(f"read as {reading.digit} ({reading.probability:.0%})", fontsize=9)
    return figure
