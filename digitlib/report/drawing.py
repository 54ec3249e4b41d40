"""draw_a_digit.ipynb's canvas where someone can draw, and a sentence where nobody can.

:func:`draw_a_digit` gives the notebook its canvas (:class:`digitlib.report.canvas.DrawingCanvas`) in JupyterLab or
another Jupyter frontend, and a note saying that the canvas needs one where there is none (papermill,
`digitlib report`, nbconvert): a widget there would be a dead box in the HTML. Importing this module imports no
widget library: the report of a machine without the `lab` extra runs.
"""

from __future__ import annotations

import os

from ..layout import DRAWINGS_DIR
from ..train.training import interactive_frontend


class CanvasNeedsLab:
    """What draw_a_digit shows where nobody can draw: a sentence, not a widget that no page would bring to life."""

    TEXT = ("**The canvas needs JupyterLab.** This notebook ran without a frontend (papermill, `digitlib report` "
            "or nbconvert), where nobody can draw, so no canvas is shown. Open it with `make lab` (JupyterLab, "
            "with the `lab` extra's anywidget) and run it there to draw a digit and watch it read.")

    def _repr_markdown_(self) -> str:
        return self.TEXT

    def __repr__(self) -> str:
        return self.TEXT.replace("**", "")


def draw_a_digit(model, keep_in: str | os.PathLike = DRAWINGS_DIR):
    """A canvas to draw a digit on, read as you draw; "keep" saves the drawing as keep_in/label<d>_<n>.png. Where no
    one can draw (:func:`digitlib.train.training.interactive_frontend` is False), a :class:`CanvasNeedsLab` note."""
    if not interactive_frontend():
        return CanvasNeedsLab()
    try:
        from .canvas import DrawingCanvas
    except ImportError as missing:
        raise ImportError(f"the canvas needs anywidget ({missing}): install the lab extra "
                          "(make lab does, or: pip install -e '.[lab]')") from None
    return DrawingCanvas(model, keep_in)
