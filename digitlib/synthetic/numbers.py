"""Pictures of whole numbers, composed: digits from MNIST's test set or written by the realism set's writers, set
side by side on paper, with their true boxes. For the tests and the bench of reading a number
(:mod:`digitlib.predict.number`); never for training.

Three layouts (:data:`LAYOUTS`), by the gap between neighbours, in units of the digits' height H:

- ``spaced``: 0.25-0.6 H apart, as a year or a meter reading is written;
- ``tight``: 1 px to 0.1 H apart: their boxes never overlap, their ink never touches;
- ``touching``: the next digit is moved left until its ink meets its neighbour's, then 0-2 px further, so the
  two are one connected mark.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..predict.handwriting import _ink, grey_levels
from .photos import on_paper
from .realism import HAND, WRITERS, Sample, hands, render

SPACED, TIGHT, TOUCHING = "spaced", "tight", "touching"
LAYOUTS = (SPACED, TIGHT, TOUCHING)
INK = 0.25  # coverage from which a pixel counts as ink when digits are made to touch
FIRST_INDEX = 100_000  # the writers' samples are numbered from here: none is an image of the realism set itself


def _cropped(ink: np.ndarray) -> np.ndarray:
    rows, columns = np.nonzero(ink > 0)
    if len(rows) == 0:
        raise ValueError("a digit without ink cannot be composed")
    return ink[rows.min(): rows.max() + 1, columns.min(): columns.max() + 1]


def mnist_ink(image: np.ndarray) -> np.ndarray:
    """A 28x28 MNIST digit (uint8, white on black) as ink coverage in [0, 1], cropped to its marks."""
    return _cropped(np.asarray(image, dtype=np.float64) / 255)


def writer_ink(digit: int, index: int, seed: int = 0) -> np.ndarray:
    """`digit` as writer ``index % WRITERS`` of the realism set made with `seed` writes it (their pen, glyph,
    slant, wobble), scanned at 128 px, as ink coverage in [0, 1] cropped to its marks. Each `index` is another
    sample of that writer's hand."""
    writer = index % WRITERS
    hand = hands(seed)[writer]
    sample = Sample(index=FIRST_INDEX + index, digit=digit, family=HAND, style=hand.pen, writer=f"w{writer:02d}",
                    variant=hand.variants[digit], resolution=128, suffix="png")
    return _cropped(_ink(grey_levels(Image.open(io.BytesIO(render(sample, seed))))))


def _scaled(ink: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    small = Image.fromarray(np.uint8(np.round(ink * 255))).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float64) / 255


def _contact(canvas: np.ndarray, ink: np.ndarray, top: int, fallback: int) -> int:
    """The left edge at which `ink`, its top at row `top`, first meets the canvas's ink, coming from the right."""
    shared = [r for r in range(ink.shape[0]) if (ink[r] > INK).any() and (canvas[top + r] > INK).any()]
    if not shared:
        return fallback
    return max(int(np.nonzero(canvas[top + r] > INK)[0].max()) - int(np.nonzero(ink[r] > INK)[0].min())
               for r in shared) + 1


def compose(lines: list[list[np.ndarray]], layout: str, rng: np.random.Generator,
            height: int | None = None) -> tuple[np.ndarray, list[list[tuple[int, int, int, int]]]]:
    """Digits' ink (each cropped, any size) set in `lines` of the `layout`, each scaled to about `height` px (default:
    28 to 72, drawn from `rng`): the ink coverage of the whole picture, and per line each digit's box
    (x0, y0, x1, y1; x1 and y1 exclusive) in its pixels."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of: {', '.join(LAYOUTS)}")
    height = int(height or rng.integers(28, 73))
    scaled = [[_scaled(ink, max(8, round(height * rng.uniform(0.9, 1.05)))) for ink in line] for line in lines]
    margin = height
    width = 2 * margin + max(sum(ink.shape[1] for ink in line) + len(line) * height for line in scaled)
    canvas = np.zeros((2 * margin + len(lines) * 2 * height, width))
    boxes, top_of_line = [], margin
    for line in scaled:
        placed, x = [], margin + int(rng.integers(0, height // 2 + 1))
        for k, ink in enumerate(line):
            top = top_of_line + int(rng.integers(-height // 20, height // 20 + 1)) + (height - ink.shape[0]) // 2
            if k and layout == SPACED:
                x += round(rng.uniform(0.25, 0.6) * height)
            elif k and layout == TIGHT:
                x += max(1, round(rng.uniform(0.0, 0.1) * height))
            elif k:
                x = _contact(canvas, ink, top, fallback=x - 2) - int(rng.integers(0, 3))
            canvas[top: top + ink.shape[0], x: x + ink.shape[1]] = np.maximum(
                canvas[top: top + ink.shape[0], x: x + ink.shape[1]], ink)
            placed.append((x, top, x + ink.shape[1], top + ink.shape[0]))
            x += ink.shape[1]
        boxes.append(placed)
        top_of_line = max(box[3] for box in placed) + round(rng.uniform(0.3, 0.8) * height)
    right = max(box[2] for line in boxes for box in line) + margin
    bottom = max(box[3] for line in boxes for box in line) + margin
    return canvas[:bottom, :right], boxes


def number_picture(lines: list[list[np.ndarray]], layout: str, rng: np.random.Generator,
                   height: int | None = None) -> tuple[Image.Image, list[list[tuple[int, int, int, int]]]]:
    """:func:`compose`'s picture photographed on paper (:func:`digitlib.synthetic.photos.on_paper`: a paper and
    a pen grey, a slight blur, noise, JPEG), and the digits' boxes per line."""
    field, boxes = compose(lines, layout, rng, height)
    digit_height = int(np.median([box[3] - box[1] for line in boxes for box in line]))
    return on_paper(field, rng, side=2 * digit_height), boxes
