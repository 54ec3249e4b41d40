"""draw_a_digit's canvas: an anywidget (its page side in canvas.js and canvas.css, beside this file).

Why anywidget: a widget is one ES module and a traitlets model, loaded by the page from the kernel; nothing to build,
no JupyterLab extension to install or keep in step with JupyterLab's version, and it works in JupyterLab 4, Notebook 7
and VS Code alike. ipycanvas would draw from the kernel, one message per line segment: the pen would lag the pointer
by a round trip.

The page draws the strokes as the pointer moves (mouse, touch and pen alike: pointer events) and sends them, a few
times a second while a stroke goes on and once when it ends, as the `strokes` trait. Each change is read here
(:func:`digitlib.report.reading.read_strokes`) and sent back as `reading`, which the page shows: the 28x28 image, the
ten probabilities as bars, the occlusion map. "Keep" asks the kernel to save the drawing with the label chosen (or
the reading's digit) in the folder named (:func:`digitlib.predict.drawing.keep_drawing`); `kept` says where it went.
"""

from __future__ import annotations

import os
from pathlib import Path

import anywidget
import traitlets

from ..layout import DRAWINGS_DIR
from ..predict.drawing import CANVAS, PEN, DrawingError, checked_strokes, keep_drawing, keep_folder, render_strokes
from .reading import Reading, read_strokes

HERE = Path(__file__).parent


class DrawingCanvas(anywidget.AnyWidget):
    """A canvas to draw a digit on, read by `model` as it is drawn; kept drawings go to `keep_in`."""

    _esm = HERE / "canvas.js"
    _css = HERE / "canvas.css"
    size = traitlets.Int(CANVAS).tag(sync=True)
    pen = traitlets.Int(PEN).tag(sync=True)
    strokes = traitlets.List([]).tag(sync=True)  # [[[x, y], ...], ...] in canvas pixels, from the page
    reading = traitlets.Dict({}).tag(sync=True)  # Reading.as_message(); {} while nothing is drawn
    keep_in = traitlets.Unicode("").tag(sync=True)  # the folder, as the page names it
    kept = traitlets.Unicode("").tag(sync=True)  # what the last "keep" did, in words

    def __init__(self, model, keep_in: str | os.PathLike = DRAWINGS_DIR):
        self._folder = keep_folder(keep_in)  # a folder that cannot be is refused now, not at the first "keep"
        self._named = str(keep_in)  # as the user named it, for messages
        self._model = model
        # The kernel's own record of what it read: what "keep" saves and labels by. The synced traits are what the
        # page shows and may be set by the page: they are never read back to decide anything.
        self._drawing: tuple[list, Reading] | None = None  # the checked strokes and their reading
        self._kept: tuple[list, int, Path] | None = None  # kept last: strokes, label, file (a double click: no copy)
        super().__init__(keep_in=self._named)
        self.on_msg(self._on_message)

    @traitlets.observe("strokes")
    def _read(self, change) -> None:
        self._drawing = None
        try:
            strokes = checked_strokes(change["new"])
            reading = read_strokes(self._model, strokes)
        except DrawingError as error:  # the reading shown goes too: it was of other strokes
            self.reading, self.kept = {}, str(error)
            return
        self._drawing = (strokes, reading) if reading else None
        self.reading = reading.as_message() if reading else {}

    def keep(self, label: int | None = None) -> Path:
        """Save the drawing as label<label>_<n>.png (label None: the digit read) and say so in `kept`."""
        if self._drawing is None:
            raise DrawingError("nothing to keep: draw a digit first")
        strokes, reading = self._drawing
        label = reading.digit if label is None else label
        if self._kept is not None and self._kept[:2] == (strokes, label):  # a double click
            raise DrawingError(f"this drawing is kept already, as {self._kept[2].name}; draw the next one to keep it")
        path = keep_drawing(render_strokes(strokes), self._folder, label)
        self._kept = (strokes, label, path)
        self.kept = f"kept as {path.name} in {self._named}"
        return path

    def _on_message(self, _widget, content, _buffers) -> None:
        """The page's "keep" button: {"keep": true, "label": 0-9 or null}."""
        if not isinstance(content, dict) or content.get("keep") is not True:
            return
        try:
            self.keep(content.get("label"))
        except DrawingError as error:
            self.kept = str(error)
