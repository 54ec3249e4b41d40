"""A digit drawn on draw_a_digit's canvas: its strokes made a picture, and the picture kept as a labelled file.

The canvas sends strokes, each a list of (x, y) points in its CANVAS x CANVAS pixels. :func:`render_strokes`
draws them, black on white paper, with a round pen PEN pixels wide, the picture a user would photograph; the
reading then prepares it as `digitlib predict` prepares any picture (:func:`digitlib.predict.handwriting.mnist_style`).

The pen: MNIST's digits fill a 20-px box of a 28-px field, and their strokes are about 3 of those pixels wide
(the median run of ink at half strength or more across the rows of the training set's 1s is 3.0 px, a little
wider than the stroke itself where it slants). On the 280-px canvas, ten of its pixels to one of MNIST's, a digit
drawn across its middle 200 px with a 24-px pen has MNIST's proportions: 2.4 px strokes once scaled to 28.

:func:`keep_drawing` saves a picture as ``label<d>_<n>.png`` in a folder the user names, the next free n, never
over another file, so the folder grows into a labelled test set that `digitlib predict --json` scores
(:func:`digitlib.predict.handwriting.label_in_name` reads the label back from the name).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from ..atomic import current_umask
from ..layout import DRAWINGS_DIR
from ..untrusted import printable

CANVAS = 280  # pixels a side: ten to each of MNIST's 28
PEN = 24  # pixels: MNIST's stroke at the canvas's scale (see above)
MAX_POINTS = 20_000  # a drawing's points in all: a minute or more of drawing (the page keeps a point a pixel or
# more from the last); more is not a drawing (a page's message)
MAX_STROKES = 1_000  # strokes in a drawing, empty ones too
KEPT_NAME = re.compile(r"label([0-9])_([0-9]+)\.png")


class DrawingError(ValueError):
    """Strokes that are not a drawing, or a drawing that cannot be kept where asked; the message says what to do."""

    def __init__(self, message: str):
        super().__init__(printable(message))


def checked_strokes(strokes: object) -> list[list[tuple[float, float]]]:
    """`strokes` as the canvas sends them (JSON: a list of strokes, each a list of [x, y] numbers), checked: a
    DrawingError for anything else, or more than MAX_POINTS points. Points off the canvas are kept (a stroke may
    leave it); the drawing clips them."""
    if not isinstance(strokes, list | tuple):
        raise DrawingError(f"strokes must be a list of strokes, got {type(strokes).__name__}")
    if len(strokes) > MAX_STROKES:
        raise DrawingError(f"a drawing has at most {MAX_STROKES:,} strokes; clear the canvas and draw again")
    checked, points = [], 0
    for number, stroke in enumerate(strokes, 1):
        if not isinstance(stroke, list | tuple):
            raise DrawingError(f"stroke {number} must be a list of [x, y] points, got {type(stroke).__name__}")
        if points + len(stroke) > MAX_POINTS:  # counted before a point is read: a huge stroke costs nothing
            raise DrawingError(f"a drawing has at most {MAX_POINTS:,} points; clear the canvas and draw again")
        line = []
        for point in stroke:
            if (not isinstance(point, list | tuple) or len(point) != 2
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e6
                               for v in point)):
                raise DrawingError(f"stroke {number} has a point that is not [x, y] in pixels: {point!r:.60}")
            line.append((float(point[0]), float(point[1])))
        points += len(line)
        if line:
            checked.append(line)
    return checked


def render_strokes(strokes: object, size: int = CANVAS, pen: int = PEN) -> Image.Image:
    """The strokes drawn black on a white `size` x `size` picture (mode L) with a round pen `pen` pixels wide: a
    single point is a dot, a stroke a line with round joints and ends."""
    picture = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(picture)
    for line in checked_strokes(strokes):
        for x, y in (line[0], line[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=0)
        if len(line) > 1:
            draw.line(line, fill=0, width=pen, joint="curve")
    return picture


def keep_folder(folder: str | os.PathLike) -> Path:
    """The folder drawings are kept in, made if need be; a DrawingError if it is a file or cannot be made."""
    if str(folder).strip() == "":
        raise DrawingError(f"name a folder to keep drawings in, e.g. keep_in='{DRAWINGS_DIR}'")
    if "\0" in str(folder):
        raise DrawingError(f"{folder}: a folder name cannot hold a NUL character; name another")
    try:
        path = Path(folder).expanduser()
    except RuntimeError:  # ~someone who has no home folder here
        raise DrawingError(f"{folder}: no such home folder; name a folder to keep drawings in") from None
    try:
        if path.exists() and not path.is_dir():
            raise DrawingError(f"{path} is not a folder; name a folder to keep drawings in")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # cannot be made, or looked at (a name too long)
        raise DrawingError(f"cannot make the folder {path} to keep drawings in ({error.strerror}); "
                           "name another") from None
    return path


def keep_drawing(picture: Image.Image, folder: str | os.PathLike, label: int) -> Path:
    """Save `picture` as FOLDER/label<label>_<n>.png, n the smallest number no file of that label has taken, and
    return its path. The file appears whole or not at all (written beside it, then linked into place, which fails
    rather than overwrite a file that appeared meanwhile: another n is taken instead)."""
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label <= 9:
        raise DrawingError(f"a drawing's label is a digit 0-9, got {label!r:.40}")
    folder = keep_folder(folder)
    encoded = io.BytesIO()
    picture.save(encoded, format="PNG")
    partial = None
    try:
        taken = {int(match[2]) for name in os.listdir(folder)
                 if (match := KEPT_NAME.fullmatch(name)) and int(match[1]) == label}
        number = next(n for n in range(len(taken) + 1) if n not in taken)
        # a new name of its own (made exclusively: never a link or a file planted under a name it could guess)
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".label{label}_", suffix=".png.partial")
        partial = Path(name)
        os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp makes it 0600: kept drawings read as the user's files
        _write_synced(partial, encoded.getvalue(), handle)
        while not _place(partial, folder / f"label{label}_{number}.png", encoded.getvalue()):
            number += 1  # the name was taken meanwhile
        return folder / f"label{label}_{number}.png"
    except OSError as error:
        raise DrawingError(f"cannot keep the drawing in {folder} ({error.strerror or type(error).__name__})") from None
    finally:
        if partial is not None:
            with contextlib.suppress(OSError):  # a folder in its place stays (the error above says so)
                partial.unlink(missing_ok=True)  # this call's own name: whole, half written or never filled


def _place(partial: Path, target: Path, content: bytes) -> bool:
    """Put the drawing at `target` unless a file is there (False): a hard link to the synced `partial` file, so it
    appears whole; on a file system without hard links (exFAT, SMB), `target` created exclusively."""
    try:
        os.link(partial, target, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError:
        try:
            _write_synced(target, content, "xb")  # exclusive: never through a link planted at `target`
        except FileExistsError:
            return False
    return True


def _write_synced(path: Path, content: bytes, opened: str | int) -> None:
    """`content` written to `path` and synced; a file this made and could not fill (a full disk) is removed.
    `opened`: the mode to open `path` in, or its descriptor, opened already."""
    with open(path, opened) if isinstance(opened, str) else os.fdopen(opened, "wb") as handle:
        try:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

