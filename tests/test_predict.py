"""`digitlib predict` and the prediction path on the user's own pictures."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitlib
from conftest import REPOSITORY, as_if_typed_in_a_terminal, digitlib_in_process
from digitlib.synthetic.photos import photo_of_digit

ONE = np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12)))  # a 28x28 stroke, like a "1"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, mnist):
    """The fast model trained briefly on 12,000 images, saved as a run would save it."""
    splits = digitlib.prepare_splits(mnist, validation_split=0.0, seed=0, train_limit=12000, test_limit=2000)
    digitlib.set_reproducible(0)
    model = digitlib.build_model("fast")
    digitlib.fit_model(model, splits, epochs=3, batch_size=128, learning_rate=0.005, schedule="one-cycle",
                       stream=io.StringIO())
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def tiny_classifier():
    """An untrained model of the right shapes, 28x28x1 images to ten probabilities: quick to build and save."""
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])


# what predict says with a model that has no not-a-digit detector beside it (digitlib/predict/abstention.py)
NO_DETECTOR = ("digitlib: note: this model has no not-a-digit detector (runs trained before it, a model kept "
               "elsewhere, or one too wide for it), so every mark is read as a digit\n")


def predict(*arguments, cwd=None):
    """`digitlib predict ARGUMENTS`, in this process (its model loads with this process's Keras backend)."""
    return digitlib_in_process("predict", *arguments, cwd=cwd)


@pytest.mark.e2e
def test_photos_of_test_digits_read_almost_as_well_as_the_clean_digits(model_file, mnist):
    """1,000 MNIST test digits as dark-on-light JPEG photos of 64-512 px, through the predict path."""
    model = digitlib.load_trained_model(model_file)
    rng = np.random.default_rng(1)
    chosen = rng.choice(10000, size=1000, replace=False)
    clean = digitlib.evaluate_model(model, digitlib.prepare_images(mnist.x_test[chosen]), mnist.y_test[chosen])
    photos = np.stack([digitlib.mnist_style(photo_of_digit(mnist.x_test[i], rng)) for i in chosen])
    read = digitlib.evaluate_model(model, digitlib.prepare_images(photos), mnist.y_test[chosen])
    print(f"clean {clean.accuracy:.3f}, photos {read.accuracy:.3f}")
    assert clean.accuracy > 0.95
    assert read.accuracy >= clean.accuracy - 0.015


@pytest.mark.e2e
def test_predicts_the_shipped_samples(model_file):
    result = predict("notebooks/samples", "--model", model_file, "--json", cwd=REPOSITORY)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 9 and all(set(row) >= {"path", "digit", "probability", "top"} for row in rows)
    photos = [row for row in rows if "label" in row]  # photo_05782_label4.jpg: the drawn ones carry none
    assert len(photos) == 6 and all(row["label"] == int(row["path"].rsplit("_label", 1)[1][0]) for row in photos)
    assert all(row["correct"] == (row["digit"] == row["label"]) for row in photos)
    drawn = {"drawn_1.png": 1, "drawn_4_transparent.png": 4, "drawn_7.png": 7}  # what each one shows
    expected = {Path(row["path"]).name: row.get("label", drawn.get(Path(row["path"]).name)) for row in rows}
    assert {Path(row["path"]).name: row["digit"] for row in rows} == expected  # all nine, the flagged 1 too
    assert all(len(row["top"]) == 3 and row["top"][0]["digit"] == row["digit"] for row in rows)


@pytest.mark.e2e
def test_text_output_and_top_k(model_file, tmp_path):
    photo_of_digit(ONE, np.random.default_rng(0)).save(tmp_path / "one.png")
    result = predict(tmp_path / "one.png", "--model", model_file, "--top", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{tmp_path / 'one.png'}: ") and "top 2: " in result.stdout
    from_folder = predict(tmp_path / "one.png", "--model", model_file.parent, "--top", "2")  # the run folder
    assert (from_folder.returncode, from_folder.stdout) == (0, result.stdout), from_folder.stderr


@pytest.mark.e2e
def test_bad_inputs_are_reported_per_file_and_the_rest_still_predicted(model_file, tmp_path):
    good = tmp_path / "good.png"
    photo_of_digit(ONE, np.random.default_rng(0)).save(good)
    (tmp_path / "text.png").write_text("hello")
    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    (tmp_path / "empty").mkdir()
    result = predict(good, tmp_path / "missing.png", tmp_path / "text.png", tmp_path / "blank.png",
                         tmp_path / "empty", "--model", model_file)
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1 and result.stdout.startswith(str(good))
    errors = result.stderr.strip().splitlines()
    for expected in ["missing.png: no such file", "text.png: not an image Pillow can read",
                     "blank.png: no digit found", "empty: no images in this directory"]:
        assert any(expected in line for line in errors), (expected, errors)
    assert len(errors) == 5 and errors[0] == NO_DETECTOR.strip() and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_json_reports_errors_as_objects(model_file, tmp_path):
    result = predict(tmp_path / "missing.png", "--model", model_file, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"path": str(tmp_path / "missing.png"),
                                         "error": f"{tmp_path / 'missing.png'}: no such file"}


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.keras", "model file not found"),
    (lambda d: d, "model file not found: {}/model.keras"),  # a folder without a saved model
    (lambda d: (d / "fake.keras").write_text("not a model") and d / "fake.keras", "not a Keras model file"),
])
def test_bad_model_paths_are_usage_errors(tmp_path, make, message):
    result = predict(tmp_path, "--model", make(tmp_path))
    message = message.format(tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_with_no_finished_model_predict_says_to_train_one_first_and_why_none_qualified(tmp_path):
    from test_rundir import trained_run

    result = predict(tmp_path, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("digitlib: error: no finished training run in reports; run `make report` (or "
                             "`digitlib report`) first to train a model on the whole training set, or point --model "
                             "(in the notebook: model_path) at a saved model.keras\n")
    trained_run(tmp_path / "reports", "20261125-100000-quick", "strong", 0.98, train_limit=3000)
    result = predict(tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("digitlib: error: no finished model to read with in reports: of its 1 finished "
                                    "training run, 1 trained on part of the training set (train_limit); run `make "
                                    "report` (or `digitlib report`) first"), result.stderr


@pytest.mark.e2e
def test_predict_reads_with_the_best_model_and_names_it_on_stderr(tiny_classifier, tmp_path):
    """The strong run outranks the fast one's higher validation accuracy; --json's stdout stays one object per
    image; --model reads with the given file and says nothing; --reports-dir looks elsewhere."""
    from test_rundir import trained_run

    reports = tmp_path / "reports"
    fast = trained_run(reports, "20261125-100000-fast", "fast", 0.995)
    fast.joinpath("model.keras").write_text("not a model: reading with it would fail")
    strong = trained_run(reports, "20261125-080000-strong", "strong", 0.98)
    tiny_classifier.save(strong / "model.keras")
    Image.fromarray(255 - ONE).save(tmp_path / "one.png")
    result = predict("one.png", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ("digitlib: reading with strong, run 20261125-080000-strong, validation accuracy 98.00%\n"
                             + NO_DETECTOR)
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == ["one.png"]
    text = predict(tmp_path / "one.png", "--reports-dir", reports, cwd=tmp_path.parent)
    assert text.returncode == 0 and text.stdout.startswith(f"{tmp_path / 'one.png'}: "), text.stderr
    assert text.stderr == ("digitlib: reading with strong, run 20261125-080000-strong, validation accuracy 98.00%\n"
                           + NO_DETECTOR)
    given = predict("one.png", "--model", strong / "model.keras", "--reports-dir", tmp_path / "nowhere",
                        cwd=tmp_path)
    assert (given.returncode, given.stderr) == (0, NO_DETECTOR) and given.stdout.startswith("one.png: ")


@pytest.mark.e2e
def test_usage_errors_exit_2(model_file, tmp_path):
    assert predict(tmp_path, "--model", model_file, "--top", "11").returncode == 2
    assert predict().returncode == 2  # no image given: argparse's usage error


@pytest.mark.e2e
def test_awkward_formats_through_the_cli(model_file, tmp_path, mnist):
    """16-bit, palette, CMYK, RGBA and animated images are read; a huge one is refused, alone."""
    from digitlib.predict.handwriting import MAX_PIXELS

    digit = np.asarray(photo_of_digit(mnist.x_test[0], np.random.default_rng(2), size=(120, 120)))
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "deep16.png")
    Image.fromarray(digit).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(digit).convert("CMYK").save(tmp_path / "cmyk.tif")
    rgba = np.zeros((120, 120, 4), np.uint8)
    rgba[..., 3] = 255 - digit  # ink where the photo is dark, transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    Image.fromarray(digit).save(tmp_path / "animated.gif", save_all=True,
                                append_images=[Image.new("L", (120, 120), 255)])
    side = int(MAX_PIXELS ** 0.5) + 10
    Image.new("1", (side, side), 1).save(tmp_path / "huge.png")
    result = predict(tmp_path, "--model", model_file, "--json")
    assert result.returncode == 1
    rows = {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}
    assert "pixels is more than the 50,000,000 allowed" in rows.pop("huge.png")["error"]
    assert sorted(rows) == ["animated.gif", "cmyk.tif", "deep16.png", "palette.png", "transparent.png"]
    assert {row.get("digit") for row in rows.values()} == {int(mnist.y_test[0])}, rows


def test_a_name_the_terminal_cannot_spell_is_escaped_not_a_traceback(tiny_classifier, tmp_path, monkeypatch):
    """An ASCII or Latin-1 terminal (PYTHONIOENCODING=ascii here) gets \\xfc for what it cannot spell, on stdout as on
    stderr, and the reading: it was a UnicodeEncodeError after the model had loaded."""
    from digitlib.run import cli

    tiny_classifier.save(tmp_path / "model.keras")
    Image.fromarray(255 - ONE).save(tmp_path / "ünï€.png")
    (tmp_path / "ü.png").write_text("not a picture")
    terminal, errors = io.BytesIO(), io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(terminal, encoding="ascii"))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(errors, encoding="ascii"))
    assert cli.main(["predict", str(tmp_path / "ünï€.png"), str(tmp_path / "ü.png"), "--model",
                     str(tmp_path / "model.keras")]) == 1  # one picture was not read
    sys.stdout.flush()
    sys.stderr.flush()
    assert terminal.getvalue().decode("ascii").startswith(f"{tmp_path}/\\xfcn\\xef\\u20ac.png: ")
    assert f"{tmp_path}/\\xfc.png: not an image Pillow can read" in errors.getvalue().decode("ascii")


@pytest.mark.parametrize("inflated_mib, compresslevel, message", [
    pytest.param(600, 1, "600 MiB once uncompressed, more than the 512 MiB allowed",  # 2.7 MB on disk, written
                 marks=pytest.mark.e2e),  # in seconds
    (64, 9, "model.weights.h5 would inflate 1,0"),  # 64 KB on disk; Keras stores its members uncompressed
])
def test_a_zip_bomb_model_is_refused_before_keras_inflates_it(tiny_classifier, tmp_path, inflated_mib, compresslevel,
                                                              message):
    tiny_classifier.save(tmp_path / "real.keras")
    folder = tmp_path / "bomb"
    folder.mkdir()
    with zipfile.ZipFile(tmp_path / "real.keras") as real, \
            zipfile.ZipFile(folder / "model.keras", "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as bomb:
        for name in ("metadata.json", "config.json"):
            bomb.writestr(name, real.read(name))
        with bomb.open("model.weights.h5", "w", force_zip64=True) as weights:
            for _ in range(inflated_mib):
                weights.write(bytes(2**20))
    result = predict(tmp_path, "--model", folder / "model.keras")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "zip bomb" in result.stderr and len(result.stderr.splitlines()) == 1
    assert [p.name for p in folder.iterdir()] == ["model.keras"]


@pytest.mark.e2e
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifos_are_refused_instead_of_waited_on(model_file, tmp_path):
    """A FIFO named like an image, given or in a folder, or named like a model, would block its reader forever."""
    photo_of_digit(ONE, np.random.default_rng(0)).save(tmp_path / "good.png")
    os.mkfifo(tmp_path / "in-folder.png")
    os.mkfifo(tmp_path / "given.png")
    result = predict(tmp_path, tmp_path / "given.png", "--model", model_file)
    assert result.returncode == 1 and result.stdout.count("\n") == 1, result.stderr
    errors = result.stderr.replace(NO_DETECTOR, "").splitlines()
    assert len(errors) == 2 and all(line.endswith(": not a regular file; pass an ordinary file, not a FIFO, "
                                                  "device or socket") for line in errors), errors
    assert sum("given.png" in line for line in errors) == 1  # found in the folder and given: one file, read once
    os.mkfifo(tmp_path / "model.keras")
    result = predict(tmp_path / "good.png", "--model", tmp_path / "model.keras")
    assert result.returncode == 2 and "model.keras: not a regular file" in result.stderr, result.stderr


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="watches /proc to see the command start")
def test_ctrl_c_during_predict_says_interrupted_and_claims_no_run(model_file, tmp_path):
    photo_of_digit(ONE, np.random.default_rng(0)).save(tmp_path / "0.png")
    for copy in range(1, 1000):
        (tmp_path / f"{copy}.png").write_bytes((tmp_path / "0.png").read_bytes())
    command = subprocess.Popen([sys.executable, "-m", "digitlib", "predict", tmp_path, "--model", model_file],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=as_if_typed_in_a_terminal)
    deadline = time.monotonic() + 120
    while os.readlink(f"/proc/{command.pid}/fd/2") != os.devnull:  # predict hides TensorFlow's start-up from here on
        assert command.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    while command.poll() is None and time.monotonic() < deadline:  # again if a library swallowed the first one
        command.send_signal(signal.SIGINT)
        time.sleep(0.5)
    stdout, stderr = command.communicate(timeout=120)
    # main() returns 130; CPython still ends by SIGINT if the interrupt landed in code that TensorFlow's import runs
    # through PyRun_String (it flags that KeyboardInterrupt as unhandled). A shell shows both as exit status 130.
    assert command.returncode in (130, -signal.SIGINT) and stdout == "", stderr
    assert stderr.splitlines()[-1] == "digitlib: interrupted" and "run" not in stderr, stderr


@pytest.mark.e2e
def test_file_names_can_neither_forge_lines_nor_reach_the_terminal_raw(model_file, tmp_path):
    """A newline, an ANSI escape and a byte that is not UTF-8 in file names, through the text and JSON outputs."""
    photo = photo_of_digit(ONE, np.random.default_rng(0))
    names = ["forged\n7: 100.0%.png", "\x1b[31mred.png", os.fsdecode(b"latin-1 \xe9.png")]
    for name in names:
        photo.save(tmp_path / name, format="PNG")
    (tmp_path / "bad\x1b[2J.png").write_text("not an image")
    command = [sys.executable, "-m", "digitlib", "predict", tmp_path, "--model", model_file]
    text = subprocess.run(command, capture_output=True, timeout=300)  # the bytes a terminal would get
    stdout, stderr = text.stdout.decode("utf-8"), text.stderr.decode("utf-8")  # strictly: valid UTF-8
    assert text.returncode == 1 and "\x1b" not in stdout + stderr, stdout + stderr
    lines = stdout.splitlines()
    assert len(lines) == 3, lines  # one per image
    for shown in ["forged\\n7: 100.0%.png", "\\x1b[31mred.png", "latin-1 \\xe9.png"]:
        assert any(line.startswith(f"{tmp_path / shown}: ") for line in lines), (shown, lines)
    assert stderr == f"{NO_DETECTOR}digitlib: {tmp_path}/bad\\x1b[2J.png: not an image Pillow can read\n"
    rows = [json.loads(line) for line in predict(tmp_path, "--model", model_file, "--json").stdout.splitlines()]
    assert sorted(Path(row["path"]).name for row in rows) == [
        "\x1b[31mred.png", "bad\x1b[2J.png", "forged\n7: 100.0%.png", "latin-1 \\xe9.png"]
    json.dumps(rows, ensure_ascii=False).encode("utf-8")  # strictly: no lone surrogate


def test_predictions_json_is_utf8_whatever_the_file_names(tmp_path):
    """predictions.json is written as run.json is (digitlib.atomic.write_json): a file name's bytes that are not UTF-8
    (lone surrogates in Python, which json.dumps writes as \\udce9, not UTF-8 once read back) are recorded as the
    \\xe9 the terminal shows, in an error text too (digitlib's own are escaped already; a caller's may not be)."""
    from digitlib.predict.predictions import Prediction

    name = tmp_path / os.fsdecode(b"caf\xe9.png")
    predictions = [Prediction(path=name, error=f"{name}: moved away")]
    saved = digitlib.save_predictions(tmp_path, predictions).read_bytes().decode("utf-8")  # strictly: valid UTF-8
    assert "udce9" not in saved
    assert json.loads(saved) == [{"path": f"{tmp_path}/caf\\xe9.png", "error": f"{tmp_path}/caf\\xe9.png: moved away"}]


def test_legacy_hdf5_models_are_refused_by_suffix_and_by_signature(tiny_classifier, tmp_path):
    """Keras loads HDF5 models without its safe mode (CVE-2025-9905), whatever their name."""
    photo_of_digit(ONE, np.random.default_rng(0)).save(tmp_path / "one.png")
    tiny_classifier.save(tmp_path / "legacy.h5")  # Keras 3 still writes it, with a warning
    (tmp_path / "renamed.keras").write_bytes((tmp_path / "legacy.h5").read_bytes())
    for model in ["legacy.h5", "renamed.keras"]:
        result = predict(tmp_path / "one.png", "--model", tmp_path / model)
        assert result.returncode == 2 and result.stderr.startswith(
            f"digitlib: error: {tmp_path / model}: a legacy HDF5 model, which Keras loads without its safe mode "
            "(CVE-2025-9905); re-save it as .keras with a Keras you trust"), result.stderr
        assert len(result.stderr.splitlines()) == 1


def _read(path: str, digit: int, label: int | None = None, sure: float = 0.9):
    probabilities = np.full(10, (1 - sure) / 9)
    probabilities[digit] = sure
    return digitlib.Prediction(path=Path(path), probabilities=probabilities, digit_image=np.zeros((28, 28), np.uint8),
                               label=label)


def test_a_labelled_prediction_knows_whether_it_is_right_and_says_so_in_json():
    right, wrong, unlabelled = _read("a_label4.png", 4, 4), _read("b_label8.png", 3, 8), _read("c.png", 1)
    assert (right.correct, wrong.correct, unlabelled.correct) == (True, False, None)
    assert right.as_dict()["label"] == 4 and right.as_dict()["correct"] is True
    assert wrong.as_dict()["label"] == 8 and wrong.as_dict()["correct"] is False
    assert set(unlabelled.as_dict()) == {"path", "digit", "probability", "top", "score", "abstained"}
    assert (unlabelled.as_dict()["score"], unlabelled.as_dict()["abstained"]) == (None, False)  # no detector


def test_json_scores_keep_six_significant_digits_small_or_large():
    from digitlib.predict.predictions import json_score

    assert json_score(0.03761458396911621) == 0.0376146  # a neighbour distance: not 0.037615
    assert json_score(18.674612345) == 18.6746 and json_score(-6.4199999) == -6.42 and json_score(None) is None


def test_accuracy_over_the_labelled_images_only():
    from digitlib.predict.predictions import labelled_accuracy

    failed = digitlib.Prediction(path=Path("d_label2.png"), error="d_label2.png: no digit found", label=2)
    score = labelled_accuracy([_read("a_label4.png", 4, 4), _read("b_label8.png", 3, 8), _read("c.png", 1), failed])
    assert (score.correct, score.labelled, score.accuracy) == (1, 2, 0.5)
    assert str(score) == "1 of 2 images whose names carry a label read right (50.0%)"
    assert labelled_accuracy([_read("c.png", 1)]) is None


def test_the_table_shows_the_label_and_marks_wrong_readings():
    from digitlib.report.figures import _RIGHT, _WRONG

    html = digitlib.predictions_table([_read("a_label4.png", 4, 4), _read("b_label8.png", 3, 8),
                                       _read("c.png", 1)]).to_html()
    assert ">label<" in html and "wrong" in html and _WRONG in html and _RIGHT in html
    plain = digitlib.predictions_table([_read("c.png", 1)]).to_html()
    assert ">label<" not in plain  # files without a label: the table as before


def test_the_figure_colours_each_labelled_image_right_or_wrong():
    from matplotlib.colors import to_hex

    from digitlib.report.figures import _RIGHT, _WRONG

    figure = digitlib.predictions_figure([_read("a_label4.png", 4, 4), _read("b_label8.png", 3, 8)])
    titles = [axes.get_title() for axes in figure.axes[2::3]]
    assert titles == ["4 (90.0%) · label 4: right", "3 (90.0%) · label 8: wrong"]
    assert [to_hex(axes.title.get_color()) for axes in figure.axes[2::3]] == [_RIGHT, _WRONG]
    bars = figure.axes[5].patches
    assert to_hex(bars[3].get_facecolor()) == _WRONG and bars[8].get_hatch()
    assert figure.alt == ("2 images, each as given, as the model sees it (28×28) and its ten probabilities: "
                          "a_label4.png read as 4 (90.0%, label 4: right) and b_label8.png read as 3 (90.0%, label 8: "
                          "wrong); 0 of 2 below 80% confidence; 1 of the 2 labelled in their names read right.")
    markup = digitlib.predictions_figure([_read('"><img src=x onerror=alert(1)>.png', 7, sure=0.5)])
    assert markup.alt.startswith('1 image, ') and '"><img src=x onerror=alert(1)>.png read as 7 (50.0%)' in markup.alt
    assert "1 of 1 below 80% confidence" in markup.alt  # the text as it is: the report's template escapes it


def test_a_file_name_with_dollar_signs_is_drawn_as_it_is_not_as_math():
    """matplotlib reads $...$ as math: cost_$3_$4.png failed to draw (a papermill cell error), $\\mathbf{7}$.png
    drew a bold 7 instead of its name."""
    import io

    for name in ("cost_$3_$4.png", "$\\mathbf{7}$.png"):
        figure = digitlib.predictions_figure([_read(name, 7)])
        figure.savefig(io.BytesIO(), format="png")  # raised ValueError: ParseFatalException for the first name
        title = figure.axes[0].title
        assert title.get_text() == name and not title._parse_math


@pytest.mark.parametrize("weights, message", [
    ("nan", "the model reads NaN or infinite probabilities (its training diverged, or its weights are broken): "
            "read with another model"),
    ("logits", "the model's outputs are not probabilities (they do not add up to 1: a model without its softmax?): "
               "read with another model"),
])
def test_a_model_that_reads_no_probabilities_is_refused_in_one_line(tmp_path, weights, message):
    """A diverged model printed {"probability": NaN} (not JSON) and `0 (nan%)` with exit 0; one without its softmax
    printed `1 (128.7%)`."""
    import keras

    activation = "softmax" if weights == "nan" else None
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation)])
    if weights == "nan":
        model.layers[-1].kernel.assign(np.full((784, 10), np.nan, np.float32))
    else:
        model.layers[-1].bias.assign(np.arange(10, dtype=np.float32))
    model.save(tmp_path / "model.keras")
    Image.fromarray(255 - ONE).save(tmp_path / "one.png")
    for number in ([], ["--number"]):
        result = predict(str(tmp_path / "one.png"), "--model", str(tmp_path / "model.keras"), "--json", *number)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.splitlines()[-1] == f"digitlib: error: {message}"


@pytest.mark.full  # two interpreters that load Keras; the writing errors themselves are plain Python
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(tiny_classifier, tmp_path):
    """stdout on a full disk raised OSError (ENOSPC) as a traceback; stdout closed (`>&-`) raised AttributeError."""
    tiny_classifier.save(tmp_path / "model.keras")
    Image.fromarray(255 - ONE).save(tmp_path / "one.png")
    command = [sys.executable, "-m", "digitlib", "predict", str(tmp_path / "one.png"), "--model",
               str(tmp_path / "model.keras")]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open("/dev/full", "w") as full:
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, env=environment, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "digitlib: error: cannot write the output (No space left on device)"
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    closed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment,
                            timeout=300, preexec_fn=lambda: os.close(1))
    assert (closed.returncode, "Traceback" in closed.stderr) == (0, False)


def test_labels_in_file_names_reach_the_command_line(tiny_classifier, tmp_path):
    """Text: each labelled line says right or wrong, then the accuracy over them; --json: a label field."""
    tiny_classifier.save(tmp_path / "model.keras")
    images = tmp_path / "digits"
    images.mkdir()
    for name in ("one_label1.png", "drawn_7.png"):
        Image.fromarray(255 - ONE).save(images / name)
    text = predict(images, "--model", tmp_path / "model.keras")
    rows = [json.loads(line) for line in predict(images, "--model", tmp_path / "model.keras", "--json")
            .stdout.splitlines()]
    assert text.returncode == 0, text.stderr
    by_name = {Path(row["path"]).name: row for row in rows}
    assert by_name["one_label1.png"]["label"] == 1 and "label" not in by_name["drawn_7.png"]
    right = by_name["one_label1.png"]["digit"] == 1
    assert by_name["one_label1.png"]["correct"] is right
    drawn, one, score = text.stdout.splitlines()  # in the order of their names
    assert one.endswith(f"  label 1: {'right' if right else 'wrong'}") and "  label " not in drawn
    assert score == f"{int(right)} of 1 images whose names carry a label read right ({int(right):.1%})"


def test_a_page_shows_the_first_images_and_the_most_doubtful_of_the_rest():
    """Issue #22 case 11: what the prediction notebook shows of many images is bounded, never one row per image."""
    from digitlib.predict.predictions import shown_predictions

    readings = [_read(f"{i}.png", 1, sure={12: 0.3, 17: 0.4, 29: 0.35}.get(i, 0.9)) for i in range(30)]
    readings[20] = digitlib.Prediction(path=Path("20.png"), error="20.png: no digit found")
    readings[25] = _read("25_label7.png", 1, label=7)
    shown = shown_predictions(readings, limit=10)
    assert [p.path.stem for p in shown.predictions] == ["0", "1", "2", "3", "4", "12", "17", "20", "25_label7", "29"]
    assert (shown.total, shown.left_out) == (30, 20)
    assert str(shown) == ("10 of the 30 images (20 left out): the first 5, then the 5 most worth a second look "
                          "(unreadable, read wrong, or read least surely)")
    pictures = shown_predictions(readings, limit=10, readable_only=True)  # the unreadable file has no picture
    assert [p.path.stem for p in pictures.predictions] == ["0", "1", "2", "3", "4", "5", "12", "17", "25_label7", "29"]
    assert (pictures.total, pictures.left_out) == (29, 19)
    assert str(pictures).startswith("10 of the 29 images read (19 left out): the first 5, then the 5 most worth a "
                                    "second look (read wrong, or read least surely)")
    few = shown_predictions(readings[:9], limit=10)
    assert few.predictions == readings[:9] and few.left_out == 0 and str(few) == "all 9 images"


@pytest.mark.e2e
@pytest.mark.full  # make test: what the page shows (above) and the notebook on the samples (prediction_run)
def test_the_prediction_notebook_reads_hundreds_of_images_onto_a_bounded_page(report_run, tmp_path):
    """Issue #22 case 11: the notebook drew one figure row and one styled table row per image; 2,000 images had
    not finished after 500 s at 8.8 GB. 300 images, their folder and one of them named again (case 13), through
    `digitlib report`: it finishes, the page shows at most SHOWN_PICTURES pictures and SHOWN_ROWS table rows, and
    predictions.json holds every image once."""
    import base64

    import nbformat

    from conftest import digitlib_cli, run_dir_of

    images = tmp_path / "digits"
    images.mkdir()
    rng = np.random.default_rng(0)
    for number in range(300):
        photo_of_digit(np.roll(ONE, int(rng.integers(-4, 5)), axis=1), rng, size=(40, 80)).save(
            images / f"{number:03d}.png")
    result = digitlib_cli("report", "--json", "--notebook", "predict_your_digits", "--reports-dir", "reports",
                          "-p", "images", json.dumps([str(images), str(images / "007.png")]),
                          "-p", "model_path", report_run / "model.keras", cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = run_dir_of(result, tmp_path)
    from digitlib.predict.predictions import SHOWN_PICTURES, SHOWN_ROWS

    assert [Path(row["path"]).name for row in json.loads((run_dir / "predictions.json").read_text())] == [
        f"{number:03d}.png" for number in range(300)]
    outputs = [output for cell in nbformat.read(run_dir / "notebook.ipynb", as_version=4).cells
               for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs)
    assert f"The table lists {SHOWN_ROWS} of the 300 images ({300 - SHOWN_ROWS} left out)" in text, text
    assert f"Pictures of {SHOWN_PICTURES} of the 300 images read ({300 - SHOWN_PICTURES} left out)" in text, text
    tables = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert max(table.count('class="row_heading') for table in tables) == SHOWN_ROWS  # one per image listed
    figures = [output["data"]["image/png"] for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) == 1
    picture = Image.open(io.BytesIO(base64.b64decode(figures[0])))
    dpi = picture.info["dpi"][1]
    rows = picture.height / (2.1 * dpi)  # predictions_figure gives each picture a row 2.1 inches high
    assert SHOWN_PICTURES - 0.5 < rows < SHOWN_PICTURES + 0.5, (picture.size, dpi)


def test_an_image_listed_twice_or_beside_its_folder_is_read_once_and_tabled(tiny_classifier, tmp_path):
    """Issue #22 case 13: the notebook's table (pandas) refused two rows of one name with a KeyError. Each file is
    read once, at the place it is first named; the table and predictions.json have one row per file."""
    images = tmp_path / "digits"
    images.mkdir()
    for name in ("a_label1.png", "b.png"):
        Image.fromarray(255 - ONE).save(images / name)
    predictions = digitlib.predict_images(tiny_classifier, [images / "b.png", images, images / "b.png",
                                                            f"{images}/./a_label1.png"])
    assert [p.path for p in predictions] == [images / "b.png", images / "a_label1.png"]
    assert all(p.error is None for p in predictions)
    html = digitlib.predictions_table(predictions).to_html()
    assert html.count("b.png</th>") == 1 and html.count("a_label1.png</th>") == 1
    saved = json.loads(digitlib.save_predictions(tmp_path, predictions).read_text())
    assert [row["path"] for row in saved] == [str(images / "b.png"), str(images / "a_label1.png")]


@pytest.mark.e2e
def test_the_prediction_notebook_shows_labels_and_their_accuracy(prediction_run):
    """The shipped samples through the notebook: six carry a label, the three drawn ones none."""
    run_dir = prediction_run
    html = (run_dir / "report.html").read_text()
    assert ">label<" in html and re.search(r"\d of 6 images whose names carry a label read right", html)
    saved = json.loads((run_dir / "predictions.json").read_text())
    assert sorted(row.get("label") is not None for row in saved) == [False] * 3 + [True] * 6



def test_the_default_model_is_the_best_run_or_a_model_error_saying_what_to_run(tmp_path):
    """What the CLI and the notebook's default (model_path None) read with, without loading Keras."""
    from digitlib.modelfile import ModelError
    from digitlib.predict.predictions import default_model
    from test_rundir import trained_run

    with pytest.raises(ModelError, match="no finished training run in .*; run `make report`"):
        default_model(tmp_path)
    strong = trained_run(tmp_path, "20261125-080000-strong", "strong", 0.98)
    trained_run(tmp_path, "20261125-100000-fast", "fast", 0.995)
    assert default_model(tmp_path).path == strong / "model.keras"


@pytest.mark.e2e
@pytest.mark.full  # make test: default_model's choice (above) and predict reading with it, in this process
def test_the_prediction_notebook_reads_with_the_best_model_by_default(tiny_classifier, tmp_path):
    """model_path None: the notebook, beside a reports folder as in a checkout, reads with its best run."""
    import shutil

    import nbformat
    import papermill

    from digitlib.layout import NOTEBOOKS
    from test_rundir import trained_run

    strong = trained_run(tmp_path / "reports", "20261125-080000-strong", "strong", 0.98)
    tiny_classifier.save(strong / "model.keras")
    trained_run(tmp_path / "reports", "20261125-100000-fast", "fast", 0.995).joinpath("model.keras").write_text("x")
    (tmp_path / "notebooks").mkdir()
    notebook = shutil.copy(NOTEBOOKS / "predict_your_digits.ipynb", tmp_path / "notebooks")
    papermill.execute_notebook(notebook, tmp_path / "out.ipynb", cwd=tmp_path / "notebooks", kernel_name="python3",
                               parameters={"images": str(NOTEBOOKS / "samples")}, progress_bar=False)
    outputs = "".join(output.get("text", "") for cell in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
                      for output in cell.get("outputs", []))
    assert "Reading with strong, run 20261125-080000-strong, validation accuracy 98.00%" in outputs


class _WhereTheInkIs:
    """A stand-in for a network that reads position only: its probability of digit k grows with the ink in columns
    k, k + 10 and k + 20 of the 28x28 picture (what `predict_on_batch` answers; enough to see which views a reading
    averages, and what a view moved past the edge holds)."""

    def predict_on_batch(self, images):
        ink = np.pad(np.asarray(images)[..., 0].sum(axis=1), ((0, 0), (0, 2)))  # (N, 30): each column's ink
        scores = np.exp(3 * ink.reshape(len(ink), 3, 10).sum(axis=1))
        return scores / scores.sum(axis=1, keepdims=True)


def test_a_users_picture_is_read_as_the_mean_of_the_picture_and_its_four_one_pixel_moves():
    from digitlib.predict.predictions import READ_SHIFTS, read_probabilities

    network = _WhereTheInkIs()

    def by_hand(pictures):  # each move made by slicing a padded copy, written apart from the library's
        padded = np.pad(pictures, ((0, 0), (1, 1), (1, 1), (0, 0)))
        return np.mean([network.predict_on_batch(padded[:, 1 - r:29 - r, 1 - c:29 - c]) for r, c in READ_SHIFTS],
                       axis=0)

    picture = np.zeros((2, 28, 28, 1), np.float32)
    picture[0, 10:18, 13] = 1.0  # a bar in column 13: read 3, and 2 or 4 when moved left or right
    picture[1, 10:18, 27] = 1.0  # a bar in the last column, which moving right pushes out: blank, not wrapped round
    read = read_probabilities(network, picture)
    assert read == pytest.approx(by_hand(picture))
    assert read[0].argmax() == 3 and read[0, 2] == pytest.approx(read[0, 4]) and read[0, 2] > 0.1  # both moves
    assert network.predict_on_batch(picture)[0, 2] < 0.01  # which the picture alone does not read
    assert read[1, 0] == pytest.approx(read[1, 1])  # column 0 got no ink from the right edge
    assert read_probabilities(network, picture[:0]).shape == (0, 10)


@pytest.mark.e2e  # fits a not-a-digit detector: seconds
def test_a_prediction_shows_its_digit_as_the_model_reads_it_and_scores_it_as_prepared(trained, small_splits, tmp_path):
    from digitlib.predict.abstention import fit_abstention
    from digitlib.predict.handwriting import broadened, load_digit
    from digitlib.predict.predictions import predict_images
    from digitlib.synthetic.nondigits import nondigit_set
    from digitlib.train.prepare import prepare_images

    model, _ = trained
    picture = np.full((200, 200), 235, np.uint8)
    picture[20:180, 99:101] = 30  # a 1 drawn with a fine pen: a hairline once 20 px tall
    path = tmp_path / "fine_label1.png"
    Image.fromarray(picture).save(path)
    prepared = load_digit(path)
    assert not np.array_equal(broadened(prepared[np.newaxis])[0], prepared)
    detector = fit_abstention(model, small_splits, nondigit_set("tuning", 4).images)
    (prediction,) = predict_images(model, path, detector)
    assert np.array_equal(prediction.digit_image, broadened(prepared[np.newaxis])[0])
    assert prediction.score == pytest.approx(float(detector.scores(model, prepare_images(prepared[np.newaxis]))[0]),
                                             rel=1e-5)


def test_a_hairline_is_read_broadened_and_a_line_as_wide_as_mnists_as_it_is():
    from digitlib.predict.handwriting import broadened
    from digitlib.predict.predictions import READ_SHIFTS, read_digits

    class Recording(_WhereTheInkIs):  # keeps every picture it is asked to read
        def __init__(self):
            self.seen = []

        def predict_on_batch(self, images):
            self.seen.append(np.array(images))
            return super().predict_on_batch(images)

    network = Recording()
    picture = np.zeros((2, 28, 28), np.uint8)
    picture[0, 6:22, 13] = 255  # 1 px wide: a hairline
    picture[1, 6:22, 12:15] = 255  # 3 px wide: as MNIST writes
    given = picture.copy()
    seen, _ = read_digits(network, picture)
    assert np.array_equal(picture, given)  # the prepared digits (scored as given) are not changed
    views = np.concatenate(network.seen)
    assert len(views) == len(READ_SHIFTS) * 2
    broad = broadened(picture[:1])[0]
    assert not np.array_equal(broad, picture[0])
    np.testing.assert_array_equal(views[0, ..., 0], broad / np.float32(255))  # the hairline read broadened
    np.testing.assert_array_equal(views[1, ..., 0], picture[1] / np.float32(255))  # the wide line read as it is
    np.testing.assert_array_equal(seen, np.stack([broad, picture[1]]))  # and shown as read
