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
from ..predict.drawing import CANVAS, PEN, DrawingError, keep_drawing, keep_folder, render_strokes
from .reading import read_strokes

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
        self._model = model
        super().__init__(keep_in=str(keep_in))
        self.on_msg(self._on_message)

    @traitlets.observe("strokes")
    def _read(self, change) -> None:
        try:
            reading = read_strokes(self._model, change["new"])
        except DrawingError as error:
            self.kept = str(error)
            return
        self.reading = reading.as_message() if reading else {}

    def keep(self, label: int | None = None) -> Path:
        """Save the drawing as label<label>_<n>.png (label None: the digit read) and say so in `kept`."""
        if not self.reading:
            raise DrawingError("nothing to keep: draw a digit first")
        label = self.reading["digit"] if label is None else label
        path = keep_drawing(render_strokes(self.strokes), self._folder, label)
        self.kept = f"kept as {path.name} in {self.keep_in}"
        return path

    def _on_message(self, _widget, content, _buffers) -> None:
        """The page's "keep" button: {"keep": true, "label": 0-9 or null}."""
        if not isinstance(content, dict) or content.get("keep") is not True:
            return
        try:
            self.keep(content.get("label"))
        except DrawingError as error:
            self.kept = str(error)
