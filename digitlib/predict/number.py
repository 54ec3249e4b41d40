"""Reading a whole number: finding the digits in one picture, then reading each as a single digit is read.

:func:`find_marks` segments the picture's ink (:func:`digitlib.predict.handwriting._ink`, the ink single-digit
reading sees):

1. connected components of the ink (``scipy.ndimage.label``, 8-connected), each a box;
2. specks dropped: components of less than :data:`SPECK` of the largest one's ink;
3. lines: components grouped by vertical overlap (at least :data:`SAME_LINE` of the shorter one's height),
   ordered top to bottom;
4. broken strokes joined: within a line, components whose columns overlap by at least :data:`SAME_DIGIT` of the
   narrower one's width are one digit, and a piece shorter than :data:`SHORT` of the line's tallest (a 5's flag
   lifted off its bowl) joins the digit it overlaps most in columns, else the nearest;
5. touching digits: a mark wider than :data:`WIDEST` times the line's height holds
   ``round(width / (DIGIT_WIDTH * height))`` digits (at least two), cut at the columns of least ink (the
   vertical projection) near the evenly spaced cuts, and also with each cut moved alone to :data:`CUT_CHOICES`
   columns spread over its reach (where two digits meet along a stretch of ink, the least ink is not always
   between them). A mark wider than :data:`DOUBTFUL` times the line's height is also cut into one digit fewer
   and one more, if each piece of that cutting spans at least :data:`TALL` of the mark's height (a wide 6 cut in
   two would leave its stem, a short stroke, as a digit of its own), with its cuts moved as well where the width
   holds two digits or more (a mark the width calls one digit, or more than :data:`MOST_MOVED`, is only cut at its
   least ink); :func:`read_pictures` keeps the cutting whose digits the model reads most surely, of all these.

Each digit is its own ink alone (a neighbour's marks inside its box are left out), with a margin, prepared by
:func:`digitlib.predict.handwriting.mnist_style` like any single digit, and read in one batch.

The number's text is its lines' digits left to right, the lines joined by a space, top to bottom: one line of
output per picture, whatever it holds (``NumberReading.lines`` keeps them apart).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from .handwriting import (
    ImageError,
    _ink,
    find_images,
    grey_levels,
    in_input_order,
    mnist_style,
    own_resolution,
    read_image,
)
from .predictions import ReadDigit, json_score, read_digits

if TYPE_CHECKING:
    import keras
    from PIL import Image

    from .abstention import Detector

SPECK = 0.02  # a component with less ink than this share of the largest one's is dirt, not a digit
SAME_LINE = 0.5  # vertical overlap, as a share of the shorter component's height, that puts two in one line
SAME_DIGIT = 0.6  # column overlap, as a share of the narrower component's width, that makes two pieces one digit
WIDEST = 1.3  # a mark wider than this many times the line's height holds more than one digit
DOUBTFUL = 0.9  # a mark wider than this many times the line's height is also read cut one digit fewer and more
SHORT = 0.4  # a piece shorter than this share of the line's tallest mark belongs to the digit beside it
TALL = 0.75  # a doubtful mark's other cuttings are read only if each piece spans this share of the mark's height
DIGIT_WIDTH = 0.65  # a digit's usual width over its height: how many digits a too wide component holds
CUT_CHOICES = 5  # columns each cut of touching digits is also tried at, spread evenly over its reach
MOST_MOVED = 10  # a mark held to be more touching digits than this (a rule, a scribble) has its cuts at least ink only
MARGIN = 2  # px of paper kept around each digit's ink before it is prepared
MAX_MARKS = 200  # more separate marks than this is a page of text or noise, not a number (and would take minutes)


@dataclass(frozen=True)
class Segment:
    """Where one digit is: its box (x0, y0, x1, y1 in the picture's pixels; x1 and y1 exclusive), its line
    (0 at the top) and the ink that is its own, the box's size."""

    box: tuple[int, int, int, int]
    line: int
    ink: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class DigitReading(ReadDigit):
    """One digit of a number: what was read, how surely (the ten probabilities), where, and what the model saw."""

    box: tuple[int, int, int, int]
    line: int
    probabilities: np.ndarray = field(repr=False)  # (10,)
    digit_image: np.ndarray = field(repr=False)  # (28, 28) uint8, as the model saw it
    score: float | None = None  # the not-a-digit detector's score; None without a detector
    abstained: bool = False  # the score is past the detector's threshold: this mark is probably not a digit

    def as_dict(self) -> dict:
        return {"digit": self.digit, "probability": round(self.probability, 6), "box": list(self.box),
                "line": self.line, "score": json_score(self.score), "abstained": self.abstained}


@dataclass(frozen=True)
class NumberReading:
    """One picture's number: its digits in reading order, or why it could not be read."""

    path: Path
    digits: tuple[DigitReading, ...] = ()
    error: str | None = None

    @property
    def lines(self) -> list[str]:
        """Each line's digits, top to bottom."""
        lines: dict[int, str] = {}
        for reading in self.digits:
            lines[reading.line] = lines.get(reading.line, "") + str(reading.digit)
        return [lines[line] for line in sorted(lines)]

    @property
    def text(self) -> str:
        """The number as read: the lines' digits joined by a space."""
        return " ".join(self.lines)

    def as_dict(self) -> dict:
        from ..untrusted import valid_unicode

        if self.error:
            return {"path": valid_unicode(self.path), "error": self.error}
        return {"path": valid_unicode(self.path), "number": self.text, "digits": [d.as_dict() for d in self.digits]}


def _overlap(low_a: int, high_a: int, low_b: int, high_b: int) -> int:
    return max(0, min(high_a, high_b) - max(low_a, low_b))


def _lines(boxes: list[list[int]]) -> list[list[int]]:
    """Indices of `boxes` ([x0, y0, x1, y1]) grouped into lines by vertical overlap, top to bottom."""
    lines: list[tuple[list[int], list[int]]] = []  # (rows spanned, members)
    for index in sorted(range(len(boxes)), key=lambda i: (boxes[i][1] + boxes[i][3]) / 2):
        x0, y0, x1, y1 = boxes[index]
        for span, members in lines:
            if _overlap(y0, y1, *span) >= SAME_LINE * min(y1 - y0, span[1] - span[0]):
                span[:] = [min(span[0], y0), max(span[1], y1)]
                members.append(index)
                break
        else:
            lines.append(([y0, y1], [index]))
    return [members for _, members in sorted(lines, key=lambda line: line[0][0])]


def _merged(groups: list[set[int]], boxes: list[list[int]]) -> list[set[int]]:
    """Groups of components whose columns overlap enough to be one digit, merged until none do."""
    def columns(group: set[int]) -> tuple[int, int]:
        return min(boxes[i][0] for i in group), max(boxes[i][2] for i in group)

    merged = True
    while merged:
        merged = False
        groups.sort(key=lambda group: columns(group)[0])
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (a0, a1), (b0, b1) = columns(groups[a]), columns(groups[b])
                if _overlap(a0, a1, b0, b1) >= SAME_DIGIT * min(a1 - a0, b1 - b0):
                    groups[a] |= groups.pop(b)
                    merged = True
                    break
            if merged:
                break
    return groups


def _reach(width: int, parts: int) -> int:
    """How far from its evenly spaced place a cut of a mark `width` px wide into `parts` digits may move."""
    return max(1, width // (3 * parts))


def _cuts(ink: np.ndarray, parts: int) -> list[int]:
    """Columns at which to cut `ink` into `parts` digits: near each evenly spaced cut, the column of least ink."""
    profile = ink.sum(axis=0)
    width = ink.shape[1]
    reach = _reach(width, parts)
    cuts = []
    for k in range(1, parts):
        guess = round(k * width / parts)
        low, high = max(cuts[-1] + 1 if cuts else 1, guess - reach), min(width - 1, guess + reach + 1)
        cuts.append(low + int(np.argmin(profile[low:high])) if high > low else guess)
    return cuts


def _tight(ink: np.ndarray, x0: int, y0: int, line: int) -> Segment | None:
    """The segment of `ink` (placed at x0, y0) cropped to its marks; None if it holds none."""
    rows, columns = np.nonzero(ink)
    if len(rows) == 0:
        return None
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    return Segment((x0 + int(left), y0 + int(top), x0 + int(right), y0 + int(bottom)), line,
                   ink[top:bottom, left:right])


@dataclass(frozen=True)
class Mark:
    """One mark of a line (a connected component, pieces of a broken stroke joined): one digit, or several
    touching. Its `cuttings` are the ways to read it, each a tuple of digits' segments: first the one its width
    suggests, then one digit fewer and one more where it is wide enough to be in doubt (a wide 0, two 1s)."""

    line: int
    cuttings: tuple[tuple[Segment, ...], ...]


def _pieces(ink: np.ndarray, x0: int, y0: int, line: int, parts: int,
            cuts: list[int] | None = None) -> tuple[Segment, ...]:
    """`ink` (placed at x0, y0) cut into `parts` digits at `cuts` (default :func:`_cuts`), each cropped to its marks."""
    if cuts is None:
        cuts = _cuts(ink, parts) if parts > 1 else []
    edges = [0, *cuts, ink.shape[1]]
    pieces = (_tight(ink[:, left:right], x0 + left, y0, line) for left, right in zip(edges, edges[1:]) if right > left)
    return tuple(piece for piece in pieces if piece is not None)


def _moved_cuts(ink: np.ndarray, parts: int) -> list[list[int]]:
    """The least-ink cuts of :func:`_cuts`, then each cut alone moved to :data:`CUT_CHOICES` columns spread over its
    reach, where it stays inside the mark and strictly between its neighbours (so every cutting has `parts` pieces'
    room)."""
    cuts, width = _cuts(ink, parts), ink.shape[1]
    reach = _reach(width, parts)
    offsets = sorted({int(round(offset)) for offset in np.linspace(-reach, reach, CUT_CHOICES)} - {0})
    moved = [cuts]
    for k in range(len(cuts)):
        low, high = cuts[k - 1] if k else 0, cuts[k + 1] if k + 1 < len(cuts) else width
        moved += [[*cuts[:k], cuts[k] + offset, *cuts[k + 1:]] for offset in offsets if low < cuts[k] + offset < high]
    return moved


def _extent(group: set[int], boxes: list[list[int]]) -> tuple[int, int, int, int]:
    return (min(boxes[i][0] for i in group), min(boxes[i][1] for i in group),
            max(boxes[i][2] for i in group), max(boxes[i][3] for i in group))


def _short_pieces_joined(groups: list[set[int]], boxes: list[list[int]], height: float) -> list[set[int]]:
    """Pieces much shorter than the line's digits (a 5's flag, a 7's bar apart from it) joined to the group they
    overlap most in columns, else the nearest."""
    for group in sorted(groups, key=lambda g: _extent(g, boxes)[3] - _extent(g, boxes)[1]):
        x0, y0, x1, y1 = _extent(group, boxes)
        others = [g for g in groups if g is not group]
        if y1 - y0 >= SHORT * height or not others:
            continue

        def closeness(other: set[int], x0: int = x0, x1: int = x1) -> int:
            o0, _, o1, _ = _extent(other, boxes)
            return _overlap(x0, x1, o0, o1) or -max(o0 - x1, x0 - o1)

        max(others, key=closeness).update(group)
        groups = others
    return groups


def _tall(cut: tuple[Segment, ...], height: int) -> bool:
    """Whether each piece of `cut` spans at least :data:`TALL` of `height`, its mark's: digits side by side do, a
    digit's own stroke cut off the rest (a 6's stem, a 2's hook) does not."""
    return all(s.box[3] - s.box[1] >= TALL * height for s in cut)


def find_marks(ink: np.ndarray) -> list[Mark]:
    """The marks in a picture's ink ((H, W) in [0, 1], zero where there is paper), in reading order: lines top
    to bottom, each left to right."""
    labels, count = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if count == 0:
        return []
    sizes = ndimage.sum_labels(ink > 0, labels, index=np.arange(1, count + 1))
    kept = [k for k in range(count) if sizes[k] >= SPECK * sizes.max()]
    if len(kept) > MAX_MARKS:
        raise ImageError(f"{len(kept):,} separate marks, more than a number has ({MAX_MARKS} at most): crop the "
                         "picture to the number")
    slices = ndimage.find_objects(labels)
    boxes = [[slices[k][1].start, slices[k][0].start, slices[k][1].stop, slices[k][0].stop] for k in kept]
    marks, pieces = [], 0
    for line, members in enumerate(_lines(boxes)):
        groups = _merged([{i} for i in members], boxes)
        tallest = max(_extent(g, boxes)[3] - _extent(g, boxes)[1] for g in groups)
        groups = _merged(_short_pieces_joined(groups, boxes, tallest), boxes)
        height = float(np.median([_extent(g, boxes)[3] - _extent(g, boxes)[1] for g in groups]))
        for group in sorted(groups, key=lambda g: _extent(g, boxes)[0]):
            x0, y0, x1, y1 = _extent(group, boxes)
            own = np.isin(labels[y0:y1, x0:x1], [kept[i] + 1 for i in group])
            digit = np.where(own, ink[y0:y1, x0:x1], 0.0)
            width = x1 - x0
            guess = max(2, round(width / (DIGIT_WIDTH * height))) if width > WIDEST * height else 1
            pieces += guess
            if pieces > MAX_MARKS:  # a long rule or a line of text in a flat line: thousands of "digits"
                raise ImageError(f"more digits than a number has ({MAX_MARKS} at most; a long line or rule is read "
                                 "as many): crop the picture to the number")
            counts = [guess, guess - 1, guess + 1] if width > DOUBTFUL * height else [guess]
            # the width's count, then one digit fewer and one more: every cut at its least ink, then each moved alone
            # where the width holds several touching digits (None: at the least ink only)
            moved = 1 < guess <= MOST_MOVED
            ways = [(n, cuts) for n in counts if n >= 1
                    for cuts in (_moved_cuts(digit, n) if n > 1 and moved else [None])]
            # keyed by their boxes: a cutting that gives the same boxes twice is read once
            cuttings = {tuple(s.box for s in cut): cut for n, cuts in ways
                        if (cut := _pieces(digit, x0, y0, line, n, cuts)) and (n == guess or _tall(cut, y1 - y0))}
            marks.append(Mark(line, tuple(cuttings.values())))
    return marks


def find_digits(ink: np.ndarray) -> list[Segment]:
    """The digits in a picture's ink, in reading order, each mark cut as its width suggests (without the model:
    :func:`read_pictures` also reads a doubtful mark's other cuttings and keeps the one read most surely)."""
    return [segment for mark in find_marks(ink) for segment in mark.cuttings[0]]


def _prepared(segment: Segment, name: str) -> np.ndarray:
    """The segment's own ink, with a margin of paper, as MNIST presents a digit."""
    padded = np.pad(segment.ink, MARGIN)
    return mnist_style(np.uint8(np.round(padded * 255)), name=name)


def _blown_up(mark: Mark, factor: int) -> Mark:
    """`mark` found in a picture taken back to its own resolution, its boxes in the blown-up picture's pixels."""
    return replace(mark, cuttings=tuple(tuple(replace(segment, box=tuple(factor * v for v in segment.box))
                                              for segment in cut) for cut in mark.cuttings))


def _unique_segments(marks: list[Mark]) -> dict[tuple[int, tuple[int, int, int, int]], Segment]:
    """Each different segment of the marks' cuttings once (cuttings of a mark share most of their digits), keyed by
    its mark's place and its box, in the order they first come."""
    unique: dict[tuple[int, tuple[int, int, int, int]], Segment] = {}
    for place, mark in enumerate(marks):
        for cut in mark.cuttings:
            for segment in cut:
                unique.setdefault((place, segment.box), segment)
    return unique


def _segmented(picture: Image.Image, name: str) -> tuple[list[Mark], np.ndarray]:
    """The picture's marks and the MNIST-style image of each different segment of their cuttings
    (:func:`_unique_segments`), in order; an :class:`ImageError` when there is no mark. A picture blown up pixel by
    pixel is read at its own resolution (:func:`digitlib.predict.handwriting.own_resolution`), its boxes given in the
    picture's pixels."""
    try:
        grey = grey_levels(picture)
        own = own_resolution(grey)
        marks = find_marks(_ink(own))
    except ImageError as error:
        raise ImageError(f"{name}: {error}") from None
    if not marks:
        raise ImageError(f"{name}: no digits found (the picture is blank or has no contrast)")
    if own.shape != grey.shape:
        marks = [_blown_up(mark, grey.shape[0] // own.shape[0]) for mark in marks]
    return marks, np.stack([_prepared(s, name) for s in _unique_segments(marks).values()])


def _surest(readings: list[tuple[DigitReading, ...]]) -> tuple[DigitReading, ...]:
    """Of a mark's cuttings read, the one whose digits are read most surely (mean log-probability of each
    digit's reading); the first, the width's guess, where they tie."""
    return max(readings, key=lambda cut: float(np.mean([np.log(max(d.probability, 1e-12)) for d in cut])))


def _read(model: keras.Model, segmented: list[tuple[list[Mark], np.ndarray]],
          detector: Detector | None = None) -> list[tuple[DigitReading, ...]]:
    """Every picture's segments read in one batch; per picture, each mark's surest cutting, in reading order. With
    a `detector`, each digit carries its not-a-digit score."""
    from ..train.prepare import prepare_images

    if not segmented:
        return []
    images = np.concatenate([prepared for _, prepared in segmented])
    seen, probabilities = read_digits(model, images)  # seen: as the model reads each; the score is the digit's own
    scores = [None] * len(images) if detector is None else detector.scores(model, prepare_images(images)).tolist()

    def reading(k: int, segment: Segment) -> DigitReading:  # segment k of the batch
        return DigitReading(segment.box, segment.line, probabilities[k], seen[k], scores[k],
                            scores[k] is not None and bool(detector.refuses(scores[k])))

    numbers, offset = [], 0
    for marks, shown in segmented:
        index = {key: offset + k for k, key in enumerate(_unique_segments(marks))}
        numbers.append(tuple(digit for place, mark in enumerate(marks) for digit in _surest(
            [tuple(reading(index[place, s.box], s) for s in cut) for cut in mark.cuttings])))
        offset += len(shown)
    return numbers


def read_pictures(model: keras.Model, pictures: list[Image.Image],
                  detector: Detector | None = None) -> list[tuple[DigitReading, ...]]:
    """The digits of the number in each picture, in reading order, all read in one batch; an
    :class:`ImageError` when a picture holds none. With a `detector`, each digit carries its not-a-digit score."""
    return _read(model, [_segmented(picture, f"picture {k + 1}") for k, picture in enumerate(pictures)], detector)


def read_numbers(model: keras.Model, inputs: str | os.PathLike | list[str | os.PathLike],
                 detector: Detector | None = None) -> list[NumberReading]:
    """The number in each picture of `inputs` (files or folders, each file read once, in order, as
    :func:`digitlib.predict.predictions.predict_images` finds them); a picture that cannot be read, or holds no
    digit, keeps its error. With a `detector` (:func:`digitlib.predict.abstention.read_detector`), each digit
    carries its not-a-digit score and whether it is past the threshold; the number is read as before."""
    paths, problems = find_images([inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs))
    results = [NumberReading(path=path, error=message) for path, message, _ in problems]
    readable, segmented = [], []
    for path in paths:
        try:
            segmented.append(_segmented(read_image(path), str(path)))
            readable.append(path)
        except ImageError as error:
            results.append(NumberReading(path=path, error=str(error)))
    results += [NumberReading(path=path, digits=digits)
                for path, digits in zip(readable, _read(model, segmented, detector))]
    return in_input_order(results, paths, problems)
