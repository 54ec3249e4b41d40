"""A realism set: digits as people write and photograph them, made by the project, never from MNIST.

MNIST's test set shares its writers' habits, scanner and preparation with the training set, so it flatters a
model; the pictures users give ``digitlib predict`` do not. This module draws its own digits, deterministically
from a seed, as files a user would give:

- **hands** (:data:`WRITERS` of them, family ``hand``): every writer has a pen (:data:`PENS`: ballpoint, fine
  liner, felt marker, pencil, broad-nib fountain pen), a glyph variant per digit (:data:`GLYPHS`: 1 with or
  without flag and base, 7 with or without bar, 4 open or closed, 9 with a straight or a curved tail, ...), a
  slant, a width for their digits, a stroke thickness and a neatness; each sample then wobbles a little
  (a smooth random warp of the strokes, pen lifts that do not quite meet, its own slant and rotation);
- **type** (:data:`FONTS`, family ``font``): printed digits in the fonts matplotlib ships (DejaVu, STIX and
  Computer Modern; the system's fonts differ between machines, so they are not used);
- **paper and camera**: dark ink (black, blue, red, graphite) on light, slightly uneven paper, lit unevenly;
  each image is rendered at one of :data:`RESOLUTIONS` px (the longer side), integrating the ink over each
  pixel as a sensor does: 8 px (then enlarged 8-fold with hard pixel edges, as a thumbnail blown up), 12, 16,
  28, 64 and 128 px. Images under 28 px are thumbnails, cropped close to the digit (PNG); larger ones leave
  margins and are either scans (mostly greyscale PNG, clean) or phone photos (colour JPEG, slightly out of
  focus, noisy, compressed).

The ranges below come from how people write and photograph digits (handwriting slants mostly forward, up to
about 30 degrees, some writers lean back; a digit is about half to four fifths as wide as it is tall; a
ballpoint line is a few percent of a digit's height, a marker's a tenth or more; a photo is held within a few
degrees of level), not from any model's training augmentation, and no MNIST image is used.

File names carry the true digit as ``label<digit>`` (:func:`digitlib.predict.handwriting.label_in_name`) and what
made the image, so results can be broken down (:func:`parse_name`)::

    label7_hand_ballpoint_w05_bar_res28_0712.jpg    label3_font_cmti_typed_print_res8_0341.png

Pillow, NumPy and SciPy only (no Keras, no MNIST): :func:`write_realism_set` writes the default 2,000 images
(2.7 MB) with about 10 s of one CPU core.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

PER_DIGIT = 200  # images of each digit in the default set: 2,000 in all
RESOLUTIONS = (8, 12, 16, 28, 64, 128)  # the image's longer side in pixels, as it was captured
BLOWN_UP = 8  # 8-px images are saved enlarged this many times, each pixel a hard-edged block
PHOTO_FROM = 28  # from this size up an image may be a phone photo (JPEG); smaller ones are thumbnails: tight PNG crops
MIN_STROKE = 0.6  # a stroke is at least this wide in the captured image's pixels, or it would not show
WRITERS = 24
FONT_SHARE = 5  # every fifth image is printed type, the others handwriting
PENS = ("ballpoint", "fineliner", "marker", "pencil", "nib")
FONTS = {  # style token -> file in matplotlib's mpl-data/fonts/ttf
    "dejavusans": "DejaVuSans.ttf", "dejavusansbold": "DejaVuSans-Bold.ttf", "dejavuoblique": "DejaVuSans-Oblique.ttf",
    "dejavuserif": "DejaVuSerif.ttf", "dejavuserifitalic": "DejaVuSerif-Italic.ttf", "dejavumono": "DejaVuSansMono.ttf",
    "stix": "STIXGeneral.ttf", "stixitalic": "STIXGeneralItalic.ttf", "cmr": "cmr10.ttf", "cmss": "cmss10.ttf",
    "cmti": "cmti10.ttf", "cmtt": "cmtt10.ttf",
}
HAND, FONT = "hand", "font"  # the families: handwritten or printed
FAMILIES = (HAND, FONT)
TYPED, PRINT = "typed", "print"  # the writer and variant tokens of a printed digit


# --- the digits' skeletons: strokes in a unit box, x to the right, y downwards --------------------------------

def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> np.ndarray:
    """An elliptic arc from angle `start` to `end` (degrees, counter-clockwise on the page, 90 at the top)."""
    angles = np.radians(np.linspace(start, end, max(6, int(abs(end - start) / 5)) + 1))
    return np.stack([cx + rx * np.cos(angles), cy - ry * np.sin(angles)], axis=1)


def _bezier(*points: tuple[float, float]) -> np.ndarray:
    """A cubic Bézier curve through its first and last of four control points."""
    p0, p1, p2, p3 = (np.array(p, dtype=np.float64) for p in points)
    t = np.linspace(0.0, 1.0, 21)[:, None]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


def _line(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float64)


def _chain(*pieces: np.ndarray) -> np.ndarray:
    """One stroke drawn without lifting the pen: the pieces joined end to start."""
    return np.concatenate([pieces[0], *(piece[1:] for piece in pieces[1:])])


def _figure_eight() -> np.ndarray:
    """An 8 in one stroke: from the top, left and down through the waist, round the bottom, back up."""
    t = np.linspace(-0.35, 2 * np.pi + 0.15, 90)
    y = ((1 - np.cos(t)) / 2) ** 1.15  # the waist sits above the middle: the top loop is the smaller
    x = 0.5 - np.where(np.cos(t) > 0, 0.36, 0.5) * np.sin(2 * t)
    return np.stack([x, y], axis=1)


_TWO_TOP = _arc(0.5, 0.28, 0.42, 0.28, 165, -20)
_FIVE_BOWL = _chain(_bezier((0.15, 0.45), (0.45, 0.3), (1.05, 0.4), (0.97, 0.72)),
                    _bezier((0.97, 0.72), (0.9, 1.05), (0.3, 1.05), (0.02, 0.86)))
_SIX_LOOP = _arc(0.5, 0.72, 0.45, 0.28, 180, 525)
_NINE_LOOP = _arc(0.45, 0.28, 0.43, 0.28, 10, 370)

GLYPHS: dict[int, dict[str, list[np.ndarray]]] = {  # digit -> variant -> strokes (each a polyline)
    0: {"oval": [_arc(0.5, 0.5, 0.5, 0.5, 95, 465)], "open": [_arc(0.5, 0.5, 0.5, 0.5, 75, 410)]},
    1: {"stick": [_line((0.5, 0.0), (0.5, 1.0))],
        "flag": [_line((0.15, 0.28), (0.55, 0.0), (0.55, 1.0))],
        "base": [_line((0.15, 0.28), (0.55, 0.0), (0.55, 1.0)), _line((0.2, 1.0), (0.9, 1.0))]},
    2: {"curve": [_chain(_TWO_TOP, _bezier(tuple(_TWO_TOP[-1]), (0.8, 0.6), (0.3, 0.8), (0.02, 1.0)),
                         _line((0.02, 1.0), (0.98, 0.98)))],
        "loop": [_chain(_TWO_TOP, _bezier(tuple(_TWO_TOP[-1]), (0.8, 0.62), (0.35, 0.8), (0.15, 0.97)),
                        _bezier((0.15, 0.97), (0.02, 0.8), (0.38, 0.74), (0.3, 0.95)),
                        _bezier((0.3, 0.95), (0.45, 1.02), (0.8, 0.95), (0.98, 0.97)))],
        "zed": [_line((0.08, 0.15), (0.4, 0.0), (0.82, 0.05), (0.9, 0.25), (0.05, 1.0), (0.95, 1.0))]},
    3: {"round": [_chain(_arc(0.45, 0.25, 0.42, 0.25, 150, -90), _arc(0.45, 0.75, 0.5, 0.25, 90, -150))],
        "flat": [_chain(_line((0.08, 0.0), (0.9, 0.0), (0.42, 0.4)), _arc(0.45, 0.7, 0.5, 0.3, 95, -150))]},
    4: {"closed": [_line((0.68, 0.0), (0.0, 0.68), (1.0, 0.68)), _line((0.68, 0.0), (0.68, 1.0))],
        "open": [_line((0.12, 0.0), (0.05, 0.6), (1.0, 0.6)), _line((0.72, 0.1), (0.72, 1.0))]},
    5: {"flag": [_chain(_line((0.2, 0.0), (0.15, 0.45)), _FIVE_BOWL), _line((0.2, 0.0), (0.92, 0.0))],
        "single": [_chain(_line((0.92, 0.0), (0.2, 0.0), (0.15, 0.45)), _FIVE_BOWL)]},
    6: {"curved": [_chain(_bezier((0.8, 0.0), (0.35, 0.05), (0.05, 0.4), (0.05, 0.72)), _SIX_LOOP)],
        "straight": [_chain(_line((0.65, 0.0), (0.05, 0.72)), _SIX_LOOP)]},
    7: {"plain": [_line((0.02, 0.04), (0.98, 0.04), (0.4, 1.0))],
        "bar": [_line((0.02, 0.04), (0.98, 0.04), (0.4, 1.0)), _line((0.3, 0.52), (0.85, 0.52))],
        "serif": [_chain(_line((0.02, 0.22), (0.04, 0.04), (0.98, 0.04)),
                         _bezier((0.98, 0.04), (0.7, 0.35), (0.5, 0.65), (0.45, 1.0)))]},
    8: {"figure": [_figure_eight()],
        "snowman": [_arc(0.5, 0.22, 0.33, 0.22, 90, 455), _arc(0.5, 0.72, 0.45, 0.28, 90, 455)]},
    9: {"straight": [_chain(_NINE_LOOP, _line(tuple(_NINE_LOOP[-1]), (0.82, 1.0)))],
        "curved": [_chain(_NINE_LOOP, _bezier(tuple(_NINE_LOOP[-1]), (0.9, 0.75), (0.6, 1.05), (0.15, 0.9)))]},
}


# --- writers ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hand:
    """One writer's habits: the same for every digit they write."""

    pen: str
    variants: dict[int, str]  # digit -> glyph variant
    slant: float  # degrees; positive leans forward (the top to the right)
    aspect: float  # a digit's width over its height
    thickness: float  # the stroke's width over the digit's height
    neatness: float  # how far strokes wander, in units of the digit's height
    ink: tuple[int, int, int]
    pressure: float  # ink opacity, 0-1
    nib_angle: float  # degrees; a broad nib's edge


PEN_THICKNESS = {"ballpoint": (0.035, 0.06), "fineliner": (0.025, 0.045), "marker": (0.09, 0.15),
                 "pencil": (0.04, 0.07), "nib": (0.07, 0.11)}
INKS = {"black": (25, 25, 30), "blue": (30, 45, 130), "red": (165, 30, 35), "graphite": (70, 70, 75)}


@functools.lru_cache(maxsize=8)
def hands(seed: int = 0) -> tuple[Hand, ...]:
    """The :data:`WRITERS` writers of the set made with `seed`; writer k holds pen ``PENS[k % len(PENS)]``, and
    every glyph variant of every digit has writers."""
    rng = np.random.default_rng([seed, 0])
    offsets = rng.integers(0, 6, size=10)
    made = []
    for k in range(WRITERS):
        pen = PENS[k % len(PENS)]
        variants = {d: list(GLYPHS[d])[(k + int(offsets[d])) % len(GLYPHS[d])] for d in GLYPHS}
        ink = "graphite" if pen == "pencil" else str(rng.choice(["black", "blue", "red"], p=[0.5, 0.4, 0.1]))
        made.append(Hand(
            pen=pen, variants=variants, slant=float(np.clip(rng.normal(9, 9), -12, 30)),
            aspect=float(rng.uniform(0.5, 0.8)), thickness=float(rng.uniform(*PEN_THICKNESS[pen])),
            neatness=float(rng.uniform(0.01, 0.045)), ink=INKS[ink],
            pressure=float(rng.uniform(0.45, 0.75) if pen == "pencil" else rng.uniform(0.8, 1.0)),
            nib_angle=float(rng.uniform(25, 50))))
    return tuple(made)


# --- the plan: which image is what ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One image of the set, as its file name says: what a breakdown of the results groups by."""

    index: int
    digit: int
    family: str  # HAND or FONT
    style: str  # the pen (hand) or the typeface (font)
    writer: str  # w00-w23, or "typed"
    variant: str  # the glyph variant (GLYPHS), or "print"
    resolution: int  # the longer side as captured, px
    suffix: str  # png or jpg

    @property
    def name(self) -> str:
        return (f"label{self.digit}_{self.family}_{self.style}_{self.writer}_{self.variant}"
                f"_res{self.resolution}_{self.index:04d}.{self.suffix}")


def parse_name(path: str | os.PathLike) -> Sample:
    """The :class:`Sample` a file of the set was made from, read back from its name."""
    stem, _, suffix = Path(path).name.partition(".")
    try:
        label, family, style, writer, variant, resolution, index = stem.split("_")
        if not (label.startswith("label") and resolution.startswith("res")):
            raise ValueError
        return Sample(index=int(index), digit=int(label[5:]), family=family, style=style, writer=writer,
                      variant=variant, resolution=int(resolution[3:]), suffix=suffix)
    except ValueError:
        raise ValueError(f"{path}: not a file name of the realism set") from None


def plan(seed: int = 0, per_digit: int = PER_DIGIT) -> list[Sample]:
    """Every image of the set, `per_digit` of each digit: one in :data:`FONT_SHARE` printed (fonts in turn), the
    others handwritten (writers in turn), resolutions balanced over each digit's images in a seeded order."""
    if per_digit < 1:
        raise ValueError(f"per_digit must be at least 1, got {per_digit}")
    rng = np.random.default_rng([seed, 1])
    fonts, samples, written, typed = list(FONTS), [], 0, 0
    for digit in range(10):
        order = rng.permutation(per_digit)
        for k in range(per_digit):
            index = digit * per_digit + k
            resolution = RESOLUTIONS[int(order[k]) % len(RESOLUTIONS)]
            photo = resolution >= PHOTO_FROM and rng.random() < (0.5 if resolution > PHOTO_FROM else 0.3)
            if k % FONT_SHARE == FONT_SHARE - 1:
                style, writer, variant, family = fonts[typed % len(fonts)], TYPED, PRINT, FONT
                typed += 1
            else:
                writer_index = written % WRITERS
                hand = hands(seed)[writer_index]
                style, writer, variant, family = hand.pen, f"w{writer_index:02d}", hand.variants[digit], HAND
                written += 1
            samples.append(Sample(index=index, digit=digit, family=family, style=style, writer=writer,
                                  variant=variant, resolution=resolution, suffix="jpg" if photo else "png"))
    return samples


# --- drawing ---------------------------------------------------------------------------------------------------

def _supersampling(resolution: int) -> int:
    """How many sub-pixels per pixel side the ink is drawn with (at least 256 across the frame)."""
    return max(2, math.ceil(256 / resolution))


def _frame(sample: Sample, rng: np.random.Generator) -> tuple[int, int]:
    """(width, height) in pixels: small images square, larger ones as a photo is cropped, taller or wider."""
    if sample.resolution < 64:
        return sample.resolution, sample.resolution
    short = int(round(sample.resolution * rng.uniform(0.75, 1.0)))
    return (short, sample.resolution) if rng.random() < 0.6 else (sample.resolution, short)


def _digit_height(sample: Sample, size: tuple[int, int], rng: np.random.Generator) -> float:
    """How tall the digit stands in the frame: a picture of a few pixels is a tight crop, a photo leaves margins."""
    share = rng.uniform(0.75, 0.95) if sample.resolution < PHOTO_FROM else rng.uniform(0.45, 0.85)
    return share * min(size)


def _densify(stroke: np.ndarray, step: float = 0.04) -> np.ndarray:
    """The stroke with points at most `step` apart, so a warp bends its straight parts too."""
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stroke, axis=0), axis=1))])
    along = np.union1d(travelled, np.linspace(0, travelled[-1], int(np.ceil(travelled[-1] / step)) + 1))
    return np.stack([np.interp(along, travelled, stroke[:, axis]) for axis in range(2)], axis=1)


def _wobble(points: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random warp: two low-frequency waves in each direction."""
    moved = points.copy()
    for axis in range(2):
        for _ in range(2):
            frequency = rng.uniform(1.0, 3.0) * np.pi
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction)
            moved[:, axis] += amplitude * np.sin(frequency * points @ direction + rng.uniform(0, 2 * np.pi))
    return moved


def _place(strokes: list[np.ndarray], size: tuple[int, int], height: float, rng: np.random.Generator,
           angle: float) -> list[np.ndarray]:
    """Rotate strokes (pixel units, centred on 0) by `angle` degrees, shrink them into the frame if they stick
    out, and shift them to a random place inside it."""
    turn = np.radians(angle)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    strokes = [s @ rotation.T for s in strokes]
    everything = np.concatenate(strokes)
    low, high = everything.min(axis=0), everything.max(axis=0)
    room = np.array(size, dtype=np.float64) - 2 * height * 0.04
    shrink = min(1.0, *(room / np.maximum(high - low, 1e-9)))
    strokes = [s * shrink for s in strokes]
    low, high = low * shrink, high * shrink
    spare = np.array(size) - (high - low)
    corner = np.array([rng.uniform(0.15, 0.85) * spare[0], rng.uniform(0.15, 0.85) * spare[1]])
    return [s - low + corner for s in strokes]


def _pen_ink(strokes: list[np.ndarray], size: tuple[int, int], width: float, thinnest: float, hand: Hand,
             rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (0-1) of strokes drawn with the writer's pen, at the drawing's resolution; no line is
    thinner than `thinnest` (a broad nib's hairlines included)."""
    canvas = Image.new("L", size, 0)
    pen = ImageDraw.Draw(canvas)
    for stroke in strokes:
        points = stroke.ravel().tolist()
        if hand.pen == "nib":  # a broad nib: wide across its edge, a hairline along it
            edge = np.radians(hand.nib_angle)
            half = width / 2 * np.array([np.cos(edge), -np.sin(edge)])
            corners = np.stack([stroke[:-1] + half, stroke[1:] + half, stroke[1:] - half, stroke[:-1] - half], axis=1)
            for corner in corners.reshape(len(corners), -1).tolist():
                pen.polygon(corner, fill=255)
            pen.line(points, fill=255, width=max(1, round(max(thinnest, width * 0.25))))
        else:
            pen.line(points, fill=255, width=max(1, round(width)))
            for box in np.concatenate([stroke - width / 2, stroke + width / 2], axis=1).tolist():
                pen.ellipse(box, fill=255)  # a round tip: round joints and ends
    ink = np.asarray(canvas, dtype=np.float64) / 255
    if hand.pen == "pencil":  # graphite catches on the paper's grain
        ink *= np.clip(rng.normal(0.75, 0.3, size=ink.shape), 0.0, 1.0)
    elif hand.pen == "ballpoint":  # a ballpoint skips a little
        ink *= np.clip(rng.normal(0.95, 0.1, size=ink.shape), 0.0, 1.0)
    return ink


def _handwritten(sample: Sample, hand: Hand, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    height = _digit_height(sample, size, rng)
    aspect = hand.aspect * rng.uniform(0.92, 1.08)
    slant = np.tan(np.radians(hand.slant + rng.normal(0, 3)))
    strokes = []
    for stroke in GLYPHS[sample.digit][hand.variants[sample.digit]]:
        points = _wobble(_densify(stroke), hand.neatness, rng) + rng.normal(0, hand.neatness * 0.7, size=2)
        x, y = (points[:, 0] - 0.5) * aspect, points[:, 1] - 0.5
        strokes.append(np.stack([x - y * slant, y], axis=1) * height)
    strokes = _place(strokes, size, height, rng, angle=float(np.clip(rng.normal(0, 3), -8, 8)))
    # never thinner than MIN_STROKE pixel once captured, or the smallest pictures would show no digit at all
    thinnest = MIN_STROKE * _supersampling(sample.resolution)
    width = max(thinnest, hand.thickness * rng.uniform(0.85, 1.15) * height)
    return _pen_ink(strokes, size, width, thinnest, hand, rng)


@functools.cache
def _font(style: str, points: int) -> ImageFont.FreeTypeFont:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the realism set's printed digits use matplotlib's fonts; install matplotlib")
    folder = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"
    return ImageFont.truetype(str(folder / FONTS[style]), points)


def _printed(sample: Sample, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A printed digit: the typeface's glyph, a little heavier or lighter, on a page photographed at an angle."""
    points = 200
    glyph = Image.new("L", (points * 2, points * 2), 0)
    weight = int(rng.integers(0, 7))  # the printer's ink spread, in font units of 1/200
    ImageDraw.Draw(glyph).text((points // 2, points // 4), str(sample.digit), font=_font(sample.style, points),
                               fill=255, stroke_width=weight, stroke_fill=255)
    glyph = glyph.crop(glyph.getbbox())
    shear = np.tan(np.radians(rng.normal(0, 4)))  # the page not square to the camera
    glyph = glyph.transform((glyph.width + int(abs(shear) * glyph.height) + 1, glyph.height), Image.Transform.AFFINE,
                            (1, shear, -max(shear, 0) * glyph.height, 0, 1, 0), resample=Image.Resampling.BILINEAR)
    glyph = glyph.rotate(float(np.clip(rng.normal(0, 3), -8, 8)), resample=Image.Resampling.BICUBIC, expand=True)
    height = _digit_height(sample, size, rng)
    scale = min(height / glyph.height, 0.92 * size[0] / glyph.width)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
                         Image.Resampling.BILINEAR)
    ink = np.zeros((size[1], size[0]))
    spare_x, spare_y = size[0] - glyph.width, size[1] - glyph.height
    left, top = int(rng.uniform(0.15, 0.85) * spare_x), int(rng.uniform(0.15, 0.85) * spare_y)
    ink[top: top + glyph.height, left: left + glyph.width] = np.asarray(glyph, dtype=np.float64) / 255
    return ink


def _paper(shape: tuple[int, int], photo: bool, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) paper, 0-255: a tint, a lighting gradient and faint blotches."""
    tint = np.array([(247, 246, 242), (242, 234, 214), (228, 232, 238), (238, 238, 236)][int(rng.integers(0, 4))])
    level = tint * rng.uniform(0.85 if photo else 0.95, 1.0)
    rows, columns = np.mgrid[0: shape[0], 0: shape[1]]
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * columns / max(shape[1] - 1, 1) + np.sin(direction) * rows / max(shape[0] - 1, 1))
    light = ramp * rng.uniform(0, 12 if photo else 4)
    blotches = sum(np.cos(rng.uniform(1, 4) * np.pi * (np.cos(a) * columns / shape[1] + np.sin(a) * rows / shape[0])
                          + rng.uniform(0, 2 * np.pi)) for a in rng.uniform(0, 2 * np.pi, size=3))
    light = light - light.mean() + blotches * rng.uniform(0.3, 1.0)
    return level[None, None, :] + light[..., None]


def render(sample: Sample, seed: int = 0) -> bytes:
    """The image file of one sample, encoded (PNG or JPEG): the same bytes for the same sample and seed."""
    rng = np.random.default_rng([seed, 2, sample.index])
    width, height = _frame(sample, rng)
    fine = _supersampling(sample.resolution)
    drawing = (width * fine, height * fine)
    if sample.family == HAND:
        hand = hands(seed)[int(sample.writer[1:])]
        ink, colour, opacity = _handwritten(sample, hand, drawing, rng), hand.ink, hand.pressure
    else:
        ink, colour, opacity = _printed(sample, drawing, rng), INKS["black"], rng.uniform(0.85, 1.0)
    coverage = ink.reshape(height, fine, width, fine).mean(axis=(1, 3)) * opacity  # each pixel's share of ink
    photo = sample.suffix == "jpg"
    paper = _paper((height, width), photo, rng)
    picture = paper * (1 - coverage[..., None]) + np.array(colour) * coverage[..., None]
    if photo:  # a phone: slightly out of focus, sensor noise
        picture = ndimage.gaussian_filter(picture, sigma=(rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0), 0))
        picture += rng.normal(0, rng.uniform(1.5, 4.0), size=(height, width))[..., None]
    else:
        picture += rng.normal(0, rng.uniform(0.3, 1.5), size=(height, width))[..., None]
    image = Image.fromarray(np.uint8(np.clip(np.round(picture), 0, 255)), "RGB")
    buffer = io.BytesIO()
    if photo:
        image.save(buffer, format="JPEG", quality=int(rng.integers(60, 93)))
    else:
        image = image.convert("L") if rng.random() < 0.7 else image  # scans are mostly greyscale
        if sample.resolution == RESOLUTIONS[0]:
            image = image.resize((width * BLOWN_UP, height * BLOWN_UP), Image.Resampling.NEAREST)
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_realism_set(folder: str | os.PathLike, seed: int = 0, per_digit: int = PER_DIGIT) -> list[Path]:
    """Write the set into `folder` (created if needed): ``10 * per_digit`` image files, their paths in order.
    Never commit them: they are made again, byte for byte, from the seed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in plan(seed, per_digit):
        path = folder / sample.name
        path.write_bytes(render(sample, seed))
        paths.append(path)
    return paths
