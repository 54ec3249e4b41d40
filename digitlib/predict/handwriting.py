"""Turning a photo or drawing of one digit into an MNIST-style 28x28 image.

MNIST's digits were size-normalized to fit a 20x20 box, keeping their aspect ratio
and anti-aliased, then centred in a 28x28 field by their centre of mass, white ink
on black. :func:`mnist_style` does the same to any picture:

1. grey levels, after compositing transparent images on white paper;
2. light paper is detected from the border and inverted, so ink is bright;
3. the background level is subtracted and faint noise (< 25% of the ink's
   contrast) is zeroed;
4. the digit's bounding box is cropped;
5. its longer side is scaled to 20 px, keeping the aspect ratio, with Lanczos
   anti-aliasing;
6. it is placed in 28x28 so that its centre of mass is at the centre;
7. it is softened as MNIST's scans are: a Gaussian blur of :data:`SOFTEN_SIGMA` px, its peak brought back to the
   ink's and raised by :data:`SOFTEN_GAIN` (clipped at full ink). A pen's line on paper, scaled into the 20-px box,
   is thinner and sharper than MNIST's broad, blurred strokes (about 3 px); this gives it their soft edge and
   some of their width.

Reading a prepared digit (:func:`digitlib.predict.predictions.read_digits`) goes one step further, on the
copy the network reads only: a line still thinner than :data:`THIN_LINE` px (a fine pen, or a digit written small
in a bigger picture, as a number's digits are) is softened once more, its peak raised by :data:`BROADEN_GAIN`
(:func:`broadened`). MNIST's lines are that thin in one digit of twenty, and the network reads such hairlines
worse (a 6 as 0). Pages show that copy; the not-a-digit detector scores the digit as the seven steps leave it.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from ..untrusted import open_regular_file, printable, valid_unicode  # noqa: F401 - re-exported

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
MAX_PIXELS = 50_000_000  # a 7000x7000 photo; bigger is refused before it is decoded
MIN_CONTRAST = 0.08  # ink must differ from the paper by 8% of the grey range
NOISE_FLOOR = 0.25  # share of the ink's contrast below which pixels count as paper
BOX, FIELD = 20, 28
# Step 7: chosen on the realism set's writers of seeds 1-3 (never seed 0's, which bench/results/realism.md measures)
# read by three `fast` runs, against each run's MNIST validation digits read through this preparation: 98.03% ->
# 98.66% of the writers' 6,000 pictures (1s 96.4% -> 98.8%, 8-px captures 93.2% -> 95.8%), validation 99.38% ->
# 99.33%. Sigma 0.5-0.7 with gains 1.3-1.6 came within 0.1 point of it; a gain of 2.2, or none, did worse.
SOFTEN_SIGMA, SOFTEN_GAIN = 0.5, 1.3
# Hairlines broadened for reading (:func:`broadened`): a line's width is 2 x area / perimeter of its pixels at half
# ink or more (:func:`line_width`); MNIST's training digits measure 1.98 px at the median, 1.28 px at the 5th
# percentile. Chosen on pictures of tuning writers (realism seeds 1-12, never seed 0's) and MNIST training digits
# read by three `fast` runs: numbers of 4 digits read whole, spaced 13,878 -> 14,059 of 14,400 (tight 13,803 ->
# 14,018); the realism sets of seeds 1-3 98.74% -> 98.82%; each run's MNIST validation digits read as well or
# better (bench/results/number.md says more).
THIN_LINE, BROADEN_GAIN = 1.3, 1.5


class ImageError(ValueError):
    """An input image cannot be read or holds no digit; the message names the file, on one :func:`printable` line."""

    def __init__(self, message: str):
        super().__init__(printable(message))


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file (the first frame of an animation), refusing files too large to decode safely."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    try:
        with open_regular_file(path, ImageError) as file, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", "Corrupt EXIF data", UserWarning)  # the picture itself still reads
            image = Image.open(file)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{path}: {image.width}x{image.height} pixels is more than the "
                                 f"{MAX_PIXELS:,} allowed; resize the image first")
            image.seek(0)  # animated GIF/PNG/WebP: the first frame
            image.load()
            image = _upright(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: too many pixels to decode safely; resize the image first") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"{path}: unreadable image ({error})") from None
    return image


def _upright(image: Image.Image) -> Image.Image:
    """The picture as it is meant to be seen: a phone stores a photo as its sensor lay and says in EXIF how to turn
    it (Orientation); turned here, as every viewer turns it. An EXIF block Pillow cannot read leaves it as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the picture itself
        return image


def grey_levels(image: Image.Image) -> np.ndarray:
    """Grey levels in [0, 1] (0 black, 1 white), transparent parts shown on white paper."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit and float greys
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F" and values.max() <= 1.0:  # a float picture already in [0, 1]
            top = 1.0
        return np.clip(values / top, 0.0, 1.0)
    if image.mode == "P" or image.mode in ("LA", "PA", "RGBA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def _ink(grey: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] on a zero background, whatever the paper's colour."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:  # light paper, dark ink: invert so the ink is bright
        grey = 1.0 - grey
        border = 1.0 - border
    background = np.median(border)
    contrast = grey.max() - background
    if contrast < MIN_CONTRAST:
        return np.zeros_like(grey)
    ink = np.clip((grey - background) / contrast, 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    return ink


def own_resolution(grey: np.ndarray) -> np.ndarray:
    """`grey` at the resolution it was captured at: a picture enlarged by repeating each pixel k x k times (a
    thumbnail blown up without smoothing) is taken back to one pixel per block, so that it is enlarged again
    smoothly, as any small picture is; any other picture as it is. A crisp drawing of whole blocks (a bar, a
    bitmap font at block-aligned places) is taken back too: nothing is lost, it is only enlarged smoothly."""
    height, width = grey.shape
    if height < 2 or width < 2 or not (np.array_equal(grey[0], grey[1]) and np.array_equal(grey[:, 0], grey[:, 1])):
        return grey  # a repeated pixel repeats its first row and column: almost every picture stops here
    row_repeats = np.all(grey[1:] == grey[:-1], axis=1)  # row i + 1 is row i again
    column_repeats = np.all(grey[:, 1:] == grey[:, :-1], axis=0)
    factor = math.gcd(height, width)
    for k in sorted((d for d in range(2, factor + 1) if factor % d == 0), reverse=True):
        # k x k blocks: within each block every row repeats the one above it and every column the one left of it
        if row_repeats[np.arange(1, height) % k != 0].all() and column_repeats[np.arange(1, width) % k != 0].all():
            return grey[::k, ::k]
    return grey


def mnist_style(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """The digit as MNIST presents one: (28, 28) uint8, white on black, 20-px box, centred by mass, softened; a picture
    blown up pixel by pixel is first taken back to its own resolution (:func:`own_resolution`)."""
    grey = grey_levels(image) if isinstance(image, Image.Image) else np.asarray(image, dtype=np.float64) / 255.0
    if grey.ndim != 2:
        raise ImageError(f"{name}: expected a 2-D picture, got shape {grey.shape}")
    if min(grey.shape) < 2:
        raise ImageError(f"{name}: {grey.shape[1]}x{grey.shape[0]} pixels is too small to hold a digit; pass a "
                         "picture at least 2 pixels wide and high (MNIST's are 28x28)")
    ink = _ink(own_resolution(grey))
    rows, columns = np.nonzero(ink)
    if len(rows) == 0:
        raise ImageError(f"{name}: no digit found (the image is blank or has no contrast)")
    crop = ink[rows.min(): rows.max() + 1, columns.min(): columns.max() + 1]
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(np.uint8(np.round(crop * 255))).resize(size, Image.Resampling.LANCZOS)
    digit = np.asarray(small, dtype=np.float64)
    if digit.sum() == 0:
        raise ImageError(f"{name}: no digit found (the marks vanish at 20 px)")
    centre_row, centre_column = ndimage.center_of_mass(digit)
    field = np.zeros((FIELD + 2 * BOX, FIELD + 2 * BOX))  # margins so any shift fits, cropped below
    top = BOX + int(round(FIELD / 2 - 0.5 - centre_row))
    left = BOX + int(round(FIELD / 2 - 0.5 - centre_column))
    field[top: top + digit.shape[0], left: left + digit.shape[1]] = digit
    return _softened(field, SOFTEN_GAIN)[BOX: BOX + FIELD, BOX: BOX + FIELD]


def broadened(digits: np.ndarray) -> np.ndarray:
    """Prepared digits ((N, 28, 28) uint8), each whose lines are thinner than :data:`THIN_LINE` px
    (:func:`line_width`) softened once more, its peak raised by :data:`BROADEN_GAIN`; the others as they are. A
    faint digit, none of whose pixels reaches half ink, measures 0 px and is broadened too; a blank one is not. A
    new array; `digits` is not changed."""
    digits = np.array(digits, dtype=np.uint8)
    for k, digit in enumerate(digits):
        if digit.any() and line_width(digit) < THIN_LINE:
            digits[k] = _softened(digit, BROADEN_GAIN)
    return digits


def _softened(image: np.ndarray, gain: float) -> np.ndarray:
    """`image` blurred by :data:`SOFTEN_SIGMA` px, its peak brought back to the image's and raised by `gain`, as
    uint8 (clipped at full ink)."""
    image = np.asarray(image, dtype=np.float64)
    soft = ndimage.gaussian_filter(image, SOFTEN_SIGMA)
    soft *= image.max() / soft.max() * gain
    return np.uint8(np.clip(np.round(soft), 0, 255))


def line_width(digit: np.ndarray) -> float:
    """The width in pixels of a (28, 28) uint8 digit's lines: twice the area over the perimeter of its pixels at
    half ink or more (a line's area is its length times its width, its perimeter about twice its length); 0 when
    none is."""
    ink = np.asarray(digit) >= 128
    perimeter = np.count_nonzero(ink[1:] != ink[:-1]) + np.count_nonzero(ink[:, 1:] != ink[:, :-1])
    return 2 * np.count_nonzero(ink) / perimeter if perimeter else 0.0


def load_digit(path: str | os.PathLike) -> np.ndarray:
    """Read an image file and return its digit MNIST-style, (28, 28) uint8."""
    return mnist_style(read_image(path), name=str(path))


LABEL_TOKEN = re.compile(r"label([0-9])", re.IGNORECASE)
NAME_SEPARATORS = re.compile(r"[_\-. ]")


def label_in_name(path: str | os.PathLike) -> int | None:
    """The true digit a file's name carries, or None: the name says it only in a token ``label<digit>``.

    The stem (the name without its last suffix) is split at ``_``, ``-``, ``.`` and spaces; a token that
    is exactly ``label`` and one digit, in any case, gives the label: ``photo_05782_label4.jpg`` is a 4,
    as are ``label4.png`` and ``my digit-label4.png``. Nothing else counts, so no digit is ever guessed
    from the rest of a name (``drawn_7.png``, ``label_4.png``, ``label45.png``, ``mylabel4.png`` carry
    none), nor from the folders above it; two label tokens that disagree give none.
    """
    labels = {int(match[1]) for token in NAME_SEPARATORS.split(Path(path).stem)
              if (match := LABEL_TOKEN.fullmatch(token))}
    return labels.pop() if len(labels) == 1 else None


class InputProblem(NamedTuple):
    """An input that gave no image to read (a folder without any, one that cannot be listed), and why; `place`
    is where it was named among the images found (the number found before it), so answers keep the inputs' order."""

    path: Path
    message: str
    place: int


def find_images(inputs: list[str | os.PathLike]) -> tuple[list[Path], list[InputProblem]]:
    """Expand files and folders into image paths; the second list names the inputs that gave none.

    Each file is listed once, at the place it is first named, however often it is named: twice, or beside a
    folder that holds it, or by another spelling of its path (``./a.png``, an absolute path, a folder reached
    through ``..`` or a link). A link of another name is a file of its own. An empty folder is reported once, as
    is one that cannot be looked into (no permission, a name too long).
    """
    paths, problems, seen = [], [], set()

    def first_time(key: str) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    for item in map(Path, inputs):
        try:
            folder = item.is_dir()
            if folder and first_time(os.path.realpath(item)):  # its images are keyed by the folder resolved, too
                # not only regular files: reading a FIFO or a broken link named like an image says what is wrong
                found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
                if not found:
                    problems.append(InputProblem(item, f"{printable(item)}: no images in this directory (looked "
                                                       f"for {', '.join(IMAGE_SUFFIXES)})", len(paths)))
                paths.extend(p for p in found if first_time(_same_file(p)))
            elif not folder and first_time(_same_file(item)):
                paths.append(item)  # missing or unreadable files are reported when they are read
        except OSError as error:  # EACCES, ENAMETOOLONG: is_dir and iterdir raise what they do not ignore
            problems.append(InputProblem(item, f"{printable(item)}: cannot look at it "
                                               f"({printable(error.strerror or str(error))})", len(paths)))
    return paths, problems


def in_input_order(results: list, paths: list[Path], problems: list[InputProblem]) -> list:
    """`results` (each with a `path`: an image of `paths` or an input of `problems`) in the order their inputs
    were named."""
    order = {**{str(p.path): p.place - 0.5 for p in problems}, **{str(path): i for i, path in enumerate(paths)}}
    return sorted(results, key=lambda result: order.get(str(result.path), -1))


def _same_file(path: Path) -> str:
    """One key for every spelling of a path: its folder resolved (``.``, ``..``, links), its own name kept, so a
    link named otherwise than its target stays a file of its own, as its name is what the user sees."""
    return os.path.join(os.path.realpath(path.parent), path.name)
