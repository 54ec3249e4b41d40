"""Pictures that are not digits, for telling a model's digits from everything else (digitlib/predict/abstention.py).

Five families, each drawn deterministically from a seed, as a user might photograph them:

- ``letter-font``: letters A-Z and a-z printed in matplotlib's fonts (the realism set's :data:`FONTS`), but for
  O, o, I and l, which are a 0 or a 1 in most typefaces;
- ``letter-hand``: capitals and a few small letters written by the realism set's writers (their pens, slants,
  widths and wobble, :func:`digitlib.synthetic.realism.hands`);
- ``scribble``: a few random curves and zigzags in those pens;
- ``paper``: blank paper, ruled, squared, grainy or crumpled, with no ink;
- ``photo``: crops of natural photographs (scikit-learn's two sample images, shipped with it).

Two sets that share nothing but the recipe: ``tuning`` (what training chooses the detector's score with) and
``held-out`` (what the bench measures it on): other seeds, the other half of the fonts, other writers and the
other photograph. Each picture is prepared as ``digitlib predict`` prepares a user's picture
(:func:`digitlib.predict.handwriting.mnist_style`); blank paper it finds no mark on is counted as unreadable,
as predict would answer "no digit found".
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from ..predict.handwriting import ImageError, mnist_style
from .realism import (
    FONTS,
    INKS,
    WRITERS,
    Hand,
    _arc,
    _bezier,
    _chain,
    _densify,
    _font,
    _line,
    _paper,
    _pen_ink,
    _place,
    _supersampling,
    _wobble,
    hands,
)

FAMILIES = ("letter-font", "letter-hand", "scribble", "paper", "photo")
LETTERS = "".join(c for c in string.ascii_letters if c not in "OoIl")  # those are a 0 or a 1 in most faces
SIZES = (28, 64, 128)  # the picture's side in pixels
PER_FAMILY = 60  # pictures of each family in the tuning set the training notebook uses: about 2 s of one core

HAND_LETTERS: dict[str, list[np.ndarray]] = {  # strokes in a unit box, x to the right, y downwards
    "A": [_line((0.0, 1.0), (0.5, 0.0), (1.0, 1.0)), _line((0.22, 0.6), (0.78, 0.6))],
    "C": [_arc(0.55, 0.5, 0.45, 0.5, 60, 300)],
    "D": [_line((0.1, 0.0), (0.1, 1.0)), _arc(0.1, 0.5, 0.85, 0.5, 90, -90)],
    "E": [_line((0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)), _line((0.1, 0.5), (0.7, 0.5))],
    "F": [_line((0.9, 0.0), (0.1, 0.0), (0.1, 1.0)), _line((0.1, 0.5), (0.7, 0.5))],
    "H": [_line((0.1, 0.0), (0.1, 1.0)), _line((0.9, 0.0), (0.9, 1.0)), _line((0.1, 0.5), (0.9, 0.5))],
    "K": [_line((0.1, 0.0), (0.1, 1.0)), _line((0.9, 0.0), (0.1, 0.55), (0.9, 1.0))],
    "L": [_line((0.1, 0.0), (0.1, 1.0), (0.9, 1.0))],
    "M": [_line((0.05, 1.0), (0.15, 0.0), (0.5, 0.6), (0.85, 0.0), (0.95, 1.0))],
    "N": [_line((0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0))],
    "P": [_line((0.1, 1.0), (0.1, 0.0)), _arc(0.1, 0.25, 0.75, 0.25, 90, -90)],
    "R": [_line((0.1, 1.0), (0.1, 0.0)), _arc(0.1, 0.25, 0.75, 0.25, 90, -90), _line((0.35, 0.5), (0.9, 1.0))],
    "T": [_line((0.0, 0.0), (1.0, 0.0)), _line((0.5, 0.0), (0.5, 1.0))],
    "U": [_chain(_line((0.1, 0.0), (0.1, 0.6)), _arc(0.5, 0.6, 0.4, 0.4, 180, 360), _line((0.9, 0.6), (0.9, 0.0)))],
    "V": [_line((0.0, 0.0), (0.5, 1.0), (1.0, 0.0))],
    "W": [_line((0.0, 0.0), (0.25, 1.0), (0.5, 0.35), (0.75, 1.0), (1.0, 0.0))],
    "X": [_line((0.0, 0.0), (1.0, 1.0)), _line((1.0, 0.0), (0.0, 1.0))],
    "Y": [_line((0.0, 0.0), (0.5, 0.5), (1.0, 0.0)), _line((0.5, 0.5), (0.5, 1.0))],
    "a": [_arc(0.45, 0.6, 0.38, 0.38, 60, 420), _line((0.85, 0.2), (0.85, 1.0))],
    "e": [_chain(_line((0.1, 0.5), (0.9, 0.5)), _arc(0.5, 0.5, 0.4, 0.45, 0, 300))],
    "h": [_line((0.1, 0.0), (0.1, 1.0)), _chain(_arc(0.5, 0.65, 0.4, 0.3, 180, 0), _line((0.9, 0.65), (0.9, 1.0)))],
    "m": [_chain(_line((0.05, 1.0), (0.05, 0.3)), _arc(0.28, 0.5, 0.23, 0.2, 180, 0), _line((0.51, 0.5), (0.51, 1.0))),
          _chain(_arc(0.74, 0.5, 0.23, 0.2, 180, 0), _line((0.97, 0.5), (0.97, 1.0)))],
    "r": [_line((0.2, 0.3), (0.2, 1.0)), _arc(0.55, 0.55, 0.35, 0.25, 180, 60)],
}


@dataclass(frozen=True)
class Source:
    """What one set is made of: its seed, fonts, writers' seed and photograph."""

    name: str
    seed: int
    fonts: tuple[str, ...]
    writers_seed: int
    photo: str  # one of scikit-learn's sample images


SOURCES = {
    "tuning": Source("tuning", seed=101, fonts=tuple(FONTS)[0::2], writers_seed=1001, photo="china.jpg"),
    "held-out": Source("held-out", seed=202, fonts=tuple(FONTS)[1::2], writers_seed=1002, photo="flower.jpg"),
}


@dataclass(frozen=True)
class NonDigits:
    """A set's pictures as predict sees them, (N, 28, 28) uint8, the family of each, and how many pictures of
    each family predict could not read at all (blank paper: "no digit found")."""

    images: np.ndarray
    families: np.ndarray  # (N,) str
    unreadable: dict[str, int]

    def __len__(self) -> int:
        return len(self.images)


def source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown non-digit set {name!r}; choose one of: {', '.join(SOURCES)}") from None


# --- drawing -----------------------------------------------------------------------------------------------------

def _on_paper(ink: np.ndarray, colour, opacity: float, rng: np.random.Generator) -> Image.Image:
    """Ink coverage (H, W) in `colour` on slightly uneven paper, with a little sensor noise."""
    photo = bool(rng.random() < 0.4)
    paper = _paper(ink.shape, photo, rng)
    picture = paper * (1 - ink[..., None] * opacity) + np.array(colour) * (ink[..., None] * opacity)
    if photo:
        picture = ndimage.gaussian_filter(picture, sigma=(rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0), 0))
    picture += rng.normal(0, rng.uniform(0.5, 3.0), size=ink.shape)[..., None]
    return Image.fromarray(np.uint8(np.clip(np.round(picture), 0, 255)), "RGB")


def _pen_drawing(strokes: list[np.ndarray], hand: Hand, rng: np.random.Generator, widen: float = 1.0) -> Image.Image:
    """Strokes (unit box) written by `hand`: its slant, width and wobble, on paper at one of :data:`SIZES`."""
    resolution = int(rng.choice(SIZES))
    fine = _supersampling(resolution)
    size = (resolution * fine, resolution * fine)
    height = rng.uniform(0.45, 0.85) * size[1]
    slant = np.tan(np.radians(hand.slant + rng.normal(0, 3)))
    aspect = hand.aspect * widen * rng.uniform(0.92, 1.08)
    placed = []
    for stroke in strokes:
        points = _wobble(_densify(stroke), hand.neatness, rng) + rng.normal(0, hand.neatness * 0.7, size=2)
        x, y = (points[:, 0] - 0.5) * aspect, points[:, 1] - 0.5
        placed.append(np.stack([x - y * slant, y], axis=1) * height)
    placed = _place(placed, size, height, rng, angle=float(np.clip(rng.normal(0, 3), -8, 8)))
    thinnest = 0.6 * fine
    width = max(thinnest, hand.thickness * rng.uniform(0.85, 1.15) * height)
    ink = _pen_ink(placed, size, width, thinnest, hand, rng)
    coverage = ink.reshape(resolution, fine, resolution, fine).mean(axis=(1, 3))
    return _on_paper(coverage, hand.ink, hand.pressure, rng)


def _typed(character: str, style: str, rng: np.random.Generator) -> Image.Image:
    """A printed letter in typeface `style`, a little turned, at one of :data:`SIZES`."""
    resolution = int(rng.choice(SIZES))
    glyph = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(glyph).text((100, 50), character, font=_font(style, 200), fill=255,
                               stroke_width=int(rng.integers(0, 6)), stroke_fill=255)
    glyph = glyph.crop(glyph.getbbox())
    glyph = glyph.rotate(float(np.clip(rng.normal(0, 3), -8, 8)), resample=Image.Resampling.BICUBIC, expand=True)
    scale = rng.uniform(0.45, 0.85) * resolution / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
                         Image.Resampling.BILINEAR)
    ink = np.zeros((resolution, resolution))
    left = int(rng.uniform(0.15, 0.85) * (resolution - glyph.width))
    top = int(rng.uniform(0.15, 0.85) * (resolution - glyph.height))
    ink[top: top + glyph.height, left: left + glyph.width] = np.asarray(glyph, dtype=np.float64) / 255
    return _on_paper(ink, INKS[str(rng.choice(["black", "blue"]))], rng.uniform(0.85, 1.0), rng)


def _scribble(rng: np.random.Generator) -> list[np.ndarray]:
    """One to three strokes: smooth random curves or zigzags across the unit box."""
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.6:
            corners = rng.uniform(0, 1, size=(3 * int(rng.integers(1, 4)) + 1, 2))
            strokes.append(_chain(*(_bezier(*map(tuple, corners[i: i + 4])) for i in range(0, len(corners) - 1, 3))))
        else:
            strokes.append(rng.uniform(0, 1, size=(int(rng.integers(3, 9)), 2)))
    return strokes


def _blank_paper(rng: np.random.Generator) -> Image.Image:
    """Paper with no ink: plain, ruled, squared, grainy or crumpled."""
    resolution = int(rng.choice(SIZES))
    shape = (resolution, resolution)
    picture = _paper(shape, bool(rng.random() < 0.5), rng)
    kind = rng.choice(["plain", "ruled", "squared", "grain", "crumpled"])
    rows, columns = np.mgrid[0:resolution, 0:resolution]
    if kind in ("ruled", "squared"):
        spacing = rng.uniform(0.15, 0.35) * resolution
        lines = (np.abs(((rows + rng.uniform(0, spacing)) % spacing) - spacing / 2) > spacing / 2 - 0.8)
        if kind == "squared":
            lines |= (np.abs(((columns + rng.uniform(0, spacing)) % spacing) - spacing / 2) > spacing / 2 - 0.8)
        colour = np.array([(150, 175, 215), (185, 185, 185)][int(rng.integers(0, 2))])
        picture = np.where(lines[..., None], picture * 0.4 + colour * 0.6, picture)
    elif kind == "grain":
        grain = ndimage.gaussian_filter(rng.normal(0, 1, size=shape), sigma=rng.uniform(0.5, 1.5))
        picture = picture + (grain / grain.std() * rng.uniform(6, 20))[..., None]
    elif kind == "crumpled":
        field = ndimage.gaussian_filter(rng.normal(0, 1, size=shape), sigma=resolution * rng.uniform(0.05, 0.15))
        picture = picture + (field / field.std() * rng.uniform(10, 30))[..., None]
    picture = picture + rng.normal(0, rng.uniform(0.5, 3.0), size=shape)[..., None]
    return Image.fromarray(np.uint8(np.clip(np.round(picture), 0, 255)), "RGB")


def _photo_crop(photo: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A square crop of a natural photograph, 16 to 200 px across, at one of :data:`SIZES`."""
    side = int(rng.integers(16, 201))
    top, left = int(rng.integers(0, photo.shape[0] - side)), int(rng.integers(0, photo.shape[1] - side))
    crop = Image.fromarray(photo[top: top + side, left: left + side])
    return crop.resize((int(rng.choice(SIZES)),) * 2, Image.Resampling.LANCZOS)


def _photograph(name: str) -> np.ndarray:
    """One of the photographs scikit-learn ships (sklearn.datasets.load_sample_image's), read from its folder
    without importing scikit-learn."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the non-digits' photo crops use scikit-learn's sample images; install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "images" / name
    with Image.open(path) as photo:
        return np.asarray(photo.convert("RGB"))


def nondigit_pictures(name: str = "tuning", per_family: int = PER_FAMILY) -> list[tuple[str, Image.Image]]:
    """The pictures of set `name` (``tuning`` or ``held-out``), `per_family` of each family, as (family, picture):
    the same pictures for the same name and count."""
    made = source(name)
    if per_family < 1:
        raise ValueError(f"per_family must be at least 1, got {per_family}")
    writers = hands(made.writers_seed)
    photo = _photograph(made.photo)
    pictures: list[tuple[str, Image.Image]] = []
    for family_index, family in enumerate(FAMILIES):
        for k in range(per_family):
            rng = np.random.default_rng([made.seed, family_index, k])
            if family == "letter-font":
                picture = _typed(LETTERS[int(rng.integers(len(LETTERS)))], made.fonts[k % len(made.fonts)], rng)
            elif family == "letter-hand":
                letter = list(HAND_LETTERS)[int(rng.integers(len(HAND_LETTERS)))]
                picture = _pen_drawing(HAND_LETTERS[letter], writers[k % WRITERS], rng, widen=1.3)
            elif family == "scribble":
                picture = _pen_drawing(_scribble(rng), writers[k % WRITERS], rng, widen=1.5)
            elif family == "paper":
                picture = _blank_paper(rng)
            else:
                picture = _photo_crop(photo, rng)
            pictures.append((family, picture))
    return pictures


def nondigit_set(name: str = "tuning", per_family: int = PER_FAMILY) -> NonDigits:
    """Set `name`'s pictures prepared as predict prepares a user's (:func:`nondigit_pictures`), those it finds
    no mark in left out and counted."""
    images, families, unreadable = [], [], dict.fromkeys(FAMILIES, 0)
    for family, picture in nondigit_pictures(name, per_family):
        try:
            images.append(mnist_style(picture))
            families.append(family)
        except ImageError:
            unreadable[family] += 1
    return NonDigits(images=np.stack(images) if images else np.zeros((0, 28, 28), np.uint8),
                     families=np.array(families), unreadable=unreadable)
