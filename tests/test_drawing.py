"""draw_a_digit's Python side: strokes drawn into a picture, read as `digitlib predict` reads a file, kept as
label<d>_<n>.png; the canvas widget's traits and messages; the note shown where nobody can draw.

What the page does (pointer events, the buttons, the reading shown) is tested in a real JupyterLab in Chromium
(test_lab_browser.py, test_drawing_in_jupyterlab_reads_a_one_and_a_zero_and_keeps_the_drawing)."""

import json
import math
import os
import re

import numpy as np
import pytest
from PIL import Image

from conftest import digitlib_in_process
from digitlib.atomic import current_umask
from digitlib.predict.drawing import CANVAS, MAX_POINTS, MAX_STROKES, PEN, DrawingError, keep_drawing, render_strokes
from digitlib.predict.handwriting import label_in_name, mnist_style
from digitlib.predict.predictions import predict_images
from digitlib.report.drawing import CanvasNeedsLab, draw_a_digit
from digitlib.report.reading import read_picture, read_strokes, reading_figure

BAR = [[[140, 40 + 4 * step] for step in range(51)]]  # a vertical bar, 200 px tall, down the middle
LOOP = [[[140 + 60 * math.sin(math.tau * step / 60), 140 - 95 * math.cos(math.tau * step / 60)]
         for step in range(61)]]  # a closed oval, 120 x 190 px


def ink(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture) < 128


def test_a_stroke_is_drawn_with_a_round_pen_as_wide_as_mnists_stroke():
    picture = render_strokes(BAR)
    assert picture.size == (CANVAS, CANVAS) and picture.mode == "L"
    row = ink(picture)[140]
    assert abs(row.sum() - PEN) <= 1 and row[140]  # as wide as the pen, where it was drawn
    columns = np.flatnonzero(ink(picture).any(axis=0))
    rows = np.flatnonzero(ink(picture).any(axis=1))
    assert (rows.min(), rows.max()) == pytest.approx((40 - PEN / 2, 240 + PEN / 2), abs=1)  # round ends
    assert (columns.min(), columns.max()) == pytest.approx((140 - PEN / 2, 140 + PEN / 2), abs=1)
    dot = ink(render_strokes([[[50, 60]]]))
    assert abs(dot.sum() - math.pi * (PEN / 2) ** 2) < 0.1 * dot.sum() and dot[60, 50]  # a tap is a dot
    assert not ink(render_strokes([])).any() and not ink(render_strokes([[]])).any()


def test_the_pen_at_mnists_scale():
    """A digit drawn across the canvas's middle 200 px, as MNIST's fill 20 of 28, has strokes 2-3 px wide once
    prepared: MNIST's."""
    seen = mnist_style(render_strokes(BAR))
    widths = [(row >= 128).sum() for row in seen[8:20]]
    assert 2 <= np.median(widths) <= 3, widths


@pytest.mark.parametrize("strokes, said", [
    ("a drawing", "strokes must be a list of strokes, got str"),
    ([[1, 2]], "stroke 1 has a point that is not"),
    ([[[1, 2]], [[1, 2, 3]]], "stroke 2 has a point that is not"),
    ([[[True, 2]]], "stroke 1 has a point that is not"),
    ([[["1", 2]]], "stroke 1 has a point that is not"),
    ([[[1e300, 2]]], "stroke 1 has a point that is not"),
    ([{"x": 1}], "stroke 1 must be a list of"),
    ([[[0, 0]] * (MAX_POINTS + 1)], f"at most {MAX_POINTS:,} points"),
    ([[[0, 0]] * 15_000, ["not read"] * 15_000], f"at most {MAX_POINTS:,} points"),  # counted before it is read
    ([[]] * (MAX_STROKES + 1), f"at most {MAX_STROKES:,} strokes"),
])
def test_what_is_not_a_drawing_is_refused_saying_why(strokes, said):
    with pytest.raises(DrawingError, match=said):
        render_strokes(strokes)


def test_a_drawing_is_read_as_digitlib_predict_reads_its_kept_file(trained, tmp_path):
    """One preparation: the canvas's reading of the strokes and `digitlib predict`'s of the kept picture agree."""
    model, _ = trained
    reading = read_strokes(model, LOOP)
    path = keep_drawing(render_strokes(LOOP), tmp_path, 0)
    (predicted,) = predict_images(model, path)
    assert np.array_equal(reading.digit_image, predicted.digit_image)
    np.testing.assert_allclose(reading.probabilities, predicted.probabilities, atol=1e-6)
    assert reading.occlusion.shape == (28, 28) and np.abs(reading.occlusion).max() > 0
    assert reading.digit == predicted.digit and predicted.label == 0
    assert np.array_equal(read_picture(model, path).digit_image, reading.digit_image)  # a file, by its path


def test_nothing_drawn_is_no_reading(trained):
    model, _ = trained
    assert read_strokes(model, []) is None


def test_a_reading_as_the_page_gets_it_and_as_a_figure(trained):
    model, _ = trained
    reading = read_strokes(model, BAR)
    message = json.loads(json.dumps(reading.as_message()))  # JSON, as the widget sends it
    assert message["digit"] == reading.digit and len(message["probabilities"]) == 10
    assert sum(message["probabilities"]) == pytest.approx(1, abs=1e-3)
    assert message["seen"] == reading.digit_image.ravel().tolist() and len(message["occlusion"]) == 784
    assert max(map(abs, message["occlusion"])) == pytest.approx(1) and message["scale"] > 0
    assert message["alt"].startswith(f"Read as {reading.digit} at ")
    figure = reading_figure(reading, title="a bar")
    assert figure.alt == reading.alt and len(figure.axes) == 3


def test_keep_names_each_drawing_label_d_n_and_never_overwrites(tmp_path):
    folder = tmp_path / "mine"
    picture = render_strokes(BAR)
    first = keep_drawing(picture, folder, 1)
    assert first == folder / "label1_0.png" and label_in_name(first) == 1
    assert ink(Image.open(first)).sum() == ink(picture).sum()  # the drawing itself, black on white
    (folder / "label1_2.png").write_bytes(b"someone else's")
    assert [keep_drawing(picture, folder, 1).name for _ in range(3)] == ["label1_1.png", "label1_3.png",
                                                                          "label1_4.png"]
    assert (folder / "label1_2.png").read_bytes() == b"someone else's"
    assert keep_drawing(picture, folder, 7).name == "label7_0.png"
    assert sorted(p.name for p in folder.iterdir()) == [
        "label1_0.png", "label1_1.png", "label1_2.png", "label1_3.png", "label1_4.png", "label7_0.png"]  # no leftovers


@pytest.mark.parametrize("label", [10, -1, True, "1", None, 1.0])
def test_keep_takes_a_digit_as_its_label(tmp_path, label):
    with pytest.raises(DrawingError, match="a drawing's label is a digit 0-9"):
        keep_drawing(render_strokes(BAR), tmp_path, label)
    assert list(tmp_path.iterdir()) == []


def test_keep_works_where_the_file_system_has_no_hard_links_and_says_why_when_it_cannot_write(tmp_path,
                                                                                              monkeypatch):
    folder = tmp_path / "mine"
    keep_drawing(render_strokes(BAR), folder, 1)

    def no_hard_links(source, target, **options):  # exFAT, SMB: what os.link raises there
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("os.link", no_hard_links)
    kept = keep_drawing(render_strokes(BAR), folder, 1)
    assert kept.name == "label1_1.png" and ink(Image.open(kept)).sum() == ink(render_strokes(BAR)).sum()
    assert sorted(p.name for p in folder.iterdir()) == ["label1_0.png", "label1_1.png"]

    def unwritable(**where):  # where the drawing is first written (as root, a read-only folder is no test)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", unwritable)
    with pytest.raises(DrawingError, match=r"cannot keep the drawing in .*mine \(Permission denied\)"):
        keep_drawing(render_strokes(BAR), folder, 1)


def test_keep_never_writes_through_a_link_planted_where_it_writes_first(tmp_path):
    """The drawing was first written to .label<d>_<pid>.png.partial, a name anyone could guess: a link planted there
    made keep overwrite the file it pointed at, and the kept drawing a hard link to that file."""
    folder, victim = tmp_path / "mine", tmp_path / "victim.txt"
    folder.mkdir()
    victim.write_text("the user's")
    (folder / f".label1_{os.getpid()}.png.partial").symlink_to(victim)
    kept = keep_drawing(render_strokes(BAR), folder, 1)
    assert victim.read_text() == "the user's" and kept.stat().st_nlink == 1 and not kept.is_symlink()
    assert kept.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # as the user's other files, not mkstemp's 0600
    assert sorted(p.name for p in folder.iterdir()) == [f".label1_{os.getpid()}.png.partial", "label1_0.png"]


@pytest.mark.parametrize("hard_links", [True, False], ids=["linked", "no hard links"])
def test_a_drawing_that_cannot_be_written_whole_leaves_no_file_behind(tmp_path, monkeypatch, hard_links):
    """A full disk while writing left the hidden .partial file in the user's folder (and, without hard links, a
    label<d>_<n>.png cut short although the user was told it was not kept)."""
    import errno

    folder = tmp_path / "mine"
    folder.mkdir()
    real_fsync = os.fsync

    def full_disk(descriptor):
        if not hard_links and not os.readlink(f"/proc/self/fd/{descriptor}").endswith(".partial"):
            raise OSError(errno.ENOSPC, "No space left on device")
        if hard_links:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr("os.fsync", full_disk)
    if not hard_links:
        monkeypatch.setattr("os.link", lambda source, target, **options: (_ for _ in ()).throw(
            PermissionError(1, "no links")))
    with pytest.raises(DrawingError, match=r"cannot keep the drawing in .*mine \(No space left on device\)"):
        keep_drawing(render_strokes(BAR), folder, 1)
    assert list(folder.iterdir()) == []


def test_keep_refuses_a_folder_that_cannot_be_named_or_looked_at(tmp_path):
    for folder, said in (("~nosuchuser-digitlib/drawings", "no such home folder"),
                         (tmp_path / ("x" * 300), "cannot make the folder .* \\(File name too long\\)")):
        with pytest.raises(DrawingError, match=said):
            keep_drawing(render_strokes(BAR), folder, 1)


def test_keep_refuses_a_folder_that_cannot_be(tmp_path):
    (tmp_path / "a file").write_text("")
    for folder, said in ((tmp_path / "a file", "is not a folder"), (tmp_path / "a file" / "below", "cannot make"),
                         ("", "name a folder")):
        with pytest.raises(DrawingError, match=said):
            keep_drawing(render_strokes(BAR), folder, 1)


def test_where_nobody_can_draw_the_notebook_says_the_canvas_needs_jupyterlab(trained, tmp_path):
    """Outside a kernel (as under papermill, whose requests allow no input) no widget, and no folder made."""
    model, _ = trained
    shown = draw_a_digit(model, keep_in=tmp_path / "never")
    assert isinstance(shown, CanvasNeedsLab)
    assert shown._repr_markdown_().startswith("**The canvas needs JupyterLab.**") and "make lab" in repr(shown)
    assert not (tmp_path / "never").exists()


def test_the_canvas_reads_each_change_of_strokes_and_keeps_on_the_pages_message(trained, tmp_path):
    """The widget's kernel side, driven as the page drives it: `strokes` set, then the keep button's message."""
    from digitlib.report.canvas import DrawingCanvas

    model, _ = trained
    canvas = DrawingCanvas(model, keep_in=tmp_path / "mine")
    assert (canvas.size, canvas.pen, canvas.reading) == (CANVAS, PEN, {})
    canvas._on_message(canvas, {"keep": True, "label": None}, [])
    assert canvas.kept == "nothing to keep: draw a digit first"
    canvas.strokes = BAR
    bar = read_strokes(model, BAR)
    assert canvas.reading == bar.as_message()
    canvas._on_message(canvas, {"keep": True, "label": None}, [])  # labelled with the digit read
    assert (tmp_path / "mine" / f"label{bar.digit}_0.png").is_file()
    assert canvas.kept == f"kept as label{bar.digit}_0.png in {tmp_path / 'mine'}"
    canvas._on_message(canvas, {"keep": True, "label": 4}, [])  # the label the user chose
    assert (tmp_path / "mine" / "label4_0.png").is_file()
    canvas._on_message(canvas, {"keep": True, "label": 4}, [])  # a double click keeps no copy
    assert canvas.kept == "this drawing is kept already, as label4_0.png; draw the next one to keep it"
    canvas._on_message(canvas, {"keep": True, "label": "../x"}, [])
    assert canvas.kept.startswith("a drawing's label is a digit 0-9")
    canvas._on_message(canvas, {"something": "else"}, [])
    canvas.strokes = [[[1, 2, 3]]]
    assert canvas.kept.startswith("stroke 1 has a point that is not") and canvas.reading == {}  # not the old one's
    canvas._on_message(canvas, {"keep": True, "label": 4}, [])
    assert canvas.kept == "nothing to keep: draw a digit first"
    canvas.strokes = []
    assert canvas.reading == {}
    canvas.set_state({"reading": {"digit": 3}, "keep_in": "/somewhere/else"})  # the page's traits decide nothing
    canvas._on_message(canvas, {"keep": True, "label": None}, [])
    assert canvas.kept == "nothing to keep: draw a digit first"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [f"label{bar.digit}_0.png", "label4_0.png"]
    (tmp_path / "a file").write_text("")
    with pytest.raises(DrawingError, match="is not a folder"):
        DrawingCanvas(model, keep_in=tmp_path / "a file")


@pytest.mark.e2e  # loads a model in the command line
def test_digitlib_predict_json_scores_the_kept_drawings(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "model.keras")
    for strokes, label in ((BAR, 1), (LOOP, 0), (BAR, 1)):
        keep_drawing(render_strokes(strokes), tmp_path / "mine", label)
    result = digitlib_in_process("predict", "--json", "--model", tmp_path / "model.keras", tmp_path / "mine")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["path"].rsplit("/", 1)[1], row["label"]) for row in rows] == [
        ("label0_0.png", 0), ("label1_0.png", 1), ("label1_1.png", 1)]
    assert all(row["correct"] == (row["digit"] == row["label"]) for row in rows)


@pytest.mark.e2e
@pytest.mark.full  # a kernel, Keras and a model: 42 s here. make test: the note where nobody can draw (above), and
# interactive_frontend telling papermill's requests from a person's (test_training)
def test_run_by_papermill_the_notebook_says_the_canvas_needs_jupyterlab(report_run, tmp_path):
    """`digitlib report --notebook draw_a_digit`: no frontend, so no widget; the page says the canvas needs
    JupyterLab and shows the reading of a sample drawing, described in its alt text."""
    import html

    from conftest import digitlib_cli, run_dir_of

    result = digitlib_cli("report", "--json", "--notebook", "draw_a_digit", "--reports-dir", "reports",
                          "-p", "model_path", report_run, "-p", "keep_in", "kept", cwd=tmp_path)  # a run folder
    assert result.returncode == 0, result.stderr[-3000:]
    page = (run_dir_of(result, tmp_path) / "report.html").read_text(encoding="utf-8")
    assert "<strong>The canvas needs JupyterLab.</strong>" in page
    assert "application/vnd.jupyter.widget-view+json" not in page and "digitlib-canvas" not in page
    (alt,) = [html.unescape(text) for text in re.findall(r'<img[^>]* alt="([^"]*)"', page)]
    assert re.match(r"Read as \d at \d+% \(next: \d at \d+%\)\.", alt), alt
    assert not (tmp_path / "kept").exists()  # nothing kept, no folder made
