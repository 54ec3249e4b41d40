"""Reading a whole number (`digitlib predict --number`): finding the digits in a picture, then reading them."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from conftest import digitlib_in_process
from digitlib.predict.handwriting import _ink, grey_levels
from digitlib.predict.number import DOUBTFUL, NumberReading, find_digits, find_marks, read_numbers
from digitlib.synthetic.numbers import SPACED, TOUCHING, compose, mnist_ink, number_picture, writer_ink


def _iou(a, b) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return width * height / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height)


def _narrow(mnist, digits):
    """MNIST test digits of these values, each clearly narrower than tall (no doubt that it is one digit)."""
    chosen = []
    for digit in digits:
        for image in mnist.x_test[mnist.y_test == digit]:
            ink = mnist_ink(image)
            if ink.shape[1] < 0.8 * ink.shape[0]:
                chosen.append(ink)
                break
    return chosen


def _found(picture):
    return find_digits(_ink(grey_levels(picture)))


def test_spaced_digits_are_found_in_order_at_their_boxes(mnist):
    rng = np.random.default_rng(1)
    picture, boxes = number_picture([[mnist_ink(mnist.x_test[i]) for i in range(6)]], SPACED, rng)
    found = _found(picture)
    assert len(found) == 6
    assert all(_iou(segment.box, box) > 0.7 for segment, box in zip(found, boxes[0])), (found, boxes)
    assert {segment.line for segment in found} == {0}


def test_the_realism_writers_digits_are_found_too():
    rng = np.random.default_rng(2)
    picture, boxes = number_picture([[writer_ink(d, d) for d in (2, 0, 2, 6)]], SPACED, rng)
    found = _found(picture)
    assert len(found) == 4 and [_iou(s.box, b) > 0.5 for s, b in zip(found, boxes[0])] == [True] * 4, found


def test_two_lines_are_read_top_to_bottom_each_left_to_right(mnist):
    rng = np.random.default_rng(3)
    inks = _narrow(mnist, (1, 4, 7, 9, 4))
    picture, boxes = number_picture([inks[:3], inks[3:]], SPACED, rng)
    found = _found(picture)
    assert [s.line for s in found] == [0, 0, 0, 1, 1]
    assert all(_iou(s.box, b) > 0.7 for s, b in zip(found, boxes[0] + boxes[1]))
    assert NumberReading(path=None, digits=()).text == ""


def _ring(height=40, width=28, thickness=4) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    radius = ((rows - (height - 1) / 2) / (height / 2)) ** 2 + ((columns - (width - 1) / 2) / (width / 2)) ** 2
    inner = ((rows - (height - 1) / 2) / (height / 2 - thickness)) ** 2 + \
        ((columns - (width - 1) / 2) / (width / 2 - thickness)) ** 2
    return ((radius <= 1) & (inner > 1)).astype(float)


def test_a_broken_stroke_and_a_flag_apart_are_one_digit_each_and_specks_are_dropped():
    ink = np.zeros((80, 200))
    ink[20:40, 30:34] = ink[43:60, 30:34] = 1.0  # a 1 with a gap in its stroke
    ink[20:60, 80:108] = _ring()  # a 0
    ink[20:24, 130:150] = 1.0  # a 5's flag, lifted off its body
    ink[27:60, 128:140] = np.where(_ring(33, 12, 3) > 0, 1.0, 0.0)
    ink[70, 180] = 1.0  # a speck of dirt
    found = find_digits(ink)
    assert [s.box for s in found] == [(30, 20, 34, 60), (80, 20, 108, 60), (128, 20, 150, 60)]
    assert all(s.ink.shape == (s.box[3] - s.box[1], s.box[2] - s.box[0]) for s in found)


def test_two_touching_digits_are_one_mark_cut_in_two_where_the_ink_is_thinnest():
    ink = np.zeros((80, 120))
    ink[20:60, 20:48] = _ring()
    ink[20:60, 50:78] = _ring()
    ink[38:42, 46:52] = 1.0  # joined by a short stroke, as a pen joins two digits
    marks = find_marks(ink)
    assert len(marks) == 1 and len(marks[0].cuttings) > 1  # wide enough to be in doubt: the model chooses
    first, *_ = marks[0].cuttings
    assert len(first) == 2
    cut = first[0].box[2]
    assert 48 <= cut <= 50, first  # through the join, not through a ring


def _rings_joined(count: int = 2) -> np.ndarray:
    """`count` rings (0s) side by side, each joined to the next by a short stroke."""
    ink = np.zeros((80, 40 + 30 * count))
    for k in range(count):
        ink[20:60, 20 + 30 * k:48 + 30 * k] = _ring()
        if k:
            ink[38:42, 16 + 30 * k:22 + 30 * k] = 1.0
    return ink


def test_touching_digits_are_also_cut_with_the_cut_moved_to_columns_about_its_least_ink():
    from digitlib.predict.number import CUT_CHOICES

    (mark,) = find_marks(_rings_joined(2))
    cut = mark.cuttings[0][0].box[2]  # the least ink's, as above
    halves = {c[0].box[2] for c in mark.cuttings if len(c) == 2}
    assert cut in halves and 3 <= len(halves) <= CUT_CHOICES
    assert all(abs(column - cut) <= (78 - 20) // 6 + 1 for column in halves)  # within the cut's reach
    thirds = [c for c in mark.cuttings if len(c) == 3]  # one digit more: its cuts moved too
    assert len({(c[0].box[2], c[1].box[2]) for c in thirds}) > 1


def test_a_rule_across_the_page_is_cut_at_its_least_ink_only_not_every_way():
    from digitlib.predict.number import MOST_MOVED

    ink = np.zeros((60, 1200))
    ink[20:30, 10:1190] = 1.0  # as wide as 182 digits of its height
    (mark,) = find_marks(ink)
    assert len(mark.cuttings[0]) > MOST_MOVED and len(mark.cuttings) <= 3


def test_a_rule_wider_than_a_number_is_refused_not_read_as_thousands_of_digits():
    """A 7,000-px rule 9 px high was read as an 8,871-digit number (25 s, 1.2 GB); one a million px wide, under
    the pixel limit, would have run out of memory."""
    from digitlib.predict.handwriting import ImageError

    ink = np.zeros((30, 7000))
    ink[10:19, 10:6990] = 1.0
    with pytest.raises(ImageError, match=r"^more digits than a number has \(200 at most; a long line or rule is "
                                         r"read as many\): crop the picture to the number$"):
        find_marks(ink)


def test_a_digit_the_width_calls_one_is_cut_in_two_at_its_least_ink_only():
    ink = np.zeros((80, 120))
    ink[20:60, 20:60] = _ring(40, 40)  # a wide 0: in doubt (wider than 0.9 of its height), one digit by its width
    (mark,) = find_marks(ink)
    assert [len(cutting) for cutting in mark.cuttings] == [1, 2]  # as one digit, and as two (none: no such piece)
    cut = mark.cuttings[1][1].box[0]  # where the right piece starts
    profile = ink.sum(axis=0)
    assert profile[cut] == profile[30:50].min() < profile[20:60].max()  # at least ink, about its middle


def test_each_different_digit_of_a_marks_cuttings_is_prepared_and_read_once(trained):
    from digitlib.predict.handwriting import broadened
    from digitlib.predict.number import _segmented, _unique_segments, read_pictures
    from digitlib.predict.predictions import read_digits

    model, _ = trained
    picture = Image.fromarray(np.uint8(255 - 255 * _rings_joined(3)))  # moving one cut leaves a digit as it was
    marks, prepared = _segmented(picture, "rings")
    unique = list(_unique_segments(marks))
    assert len(prepared) == len(unique) < sum(len(cut) for mark in marks for cut in mark.cuttings)
    digits = read_pictures(model, [picture])[0]
    assert digits and any(digits[0].box == cut[0].box for cut in marks[0].cuttings)
    for digit in digits:  # each digit read is its own segment's picture and reading
        (k,) = [k for k, (_, box) in enumerate(unique) if box == digit.box]
        assert np.array_equal(digit.digit_image, broadened(prepared[k:k + 1])[0])  # as the model reads it
        np.testing.assert_allclose(digit.probabilities, read_digits(model, prepared[k:k + 1])[1][0],
                                   atol=1e-5)


def test_a_wide_digit_is_not_read_cut_where_a_piece_would_be_its_own_short_stroke():
    ink = np.zeros((80, 120))
    ink[36:60, 20:52] = _ring(24, 32)  # a 6 written wide: its loop,
    ink[20:40, 54:58] = 1.0  # its stem, rising to the right of the loop,
    ink[36:40, 48:56] = 1.0  # joined to it
    marks = find_marks(ink)
    assert len(marks) == 1 and marks[0].cuttings[0][0].box == (20, 20, 58, 60)
    assert 58 - 20 > DOUBTFUL * 40  # wide enough to be in doubt
    # yet never read cut in two: the left half of the loop would span 24 of the mark's 40 rows (TALL: 0.75)
    assert len(marks[0].cuttings) == 1


def test_composed_touching_digits_do_touch(mnist):
    rng = np.random.default_rng(4)
    field, boxes = compose([_narrow(mnist, (4, 7, 1))], TOUCHING, rng, height=40)
    from scipy import ndimage

    assert ndimage.label(field > 0.25, structure=np.ones((3, 3)))[1] == 1
    assert len(boxes[0]) == 3


def test_a_blank_page_or_an_unreadable_file_is_one_error_each(tmp_path):
    Image.new("L", (300, 100), 230).save(tmp_path / "blank.png")
    (tmp_path / "empty.png").write_bytes(b"")
    readings = read_numbers(None, [tmp_path / "blank.png", tmp_path / "empty.png"])  # no digit reaches a model
    assert [r.error for r in readings] == [
        f"{tmp_path / 'blank.png'}: no digits found (the picture is blank or has no contrast)",
        f"{tmp_path / 'empty.png'}: not an image Pillow can read"]
    assert readings[0].as_dict() == {"path": str(tmp_path / "blank.png"), "error": readings[0].error}
    dots = np.full((400, 400), 230, np.uint8)
    dots[5::12, 5::12] = 20  # 1,156 dots, all alike: a page of noise, not a number
    Image.fromarray(dots).save(tmp_path / "dots.png")
    (reading,) = read_numbers(None, [tmp_path / "dots.png"])
    assert re.fullmatch(re.escape(f"{tmp_path / 'dots.png'}: ") + r"1,\d{3} separate marks, more than a number has "
                        r"\(200 at most\): crop the picture to the number", reading.error)


def test_predict_number_prints_one_line_per_picture_and_json_with_boxes(trained, mnist, tmp_path):
    model, _ = trained
    model.save(tmp_path / "model.keras")
    rng = np.random.default_rng(5)
    picture, boxes = number_picture([_narrow(mnist, (1, 4, 7))], SPACED, rng)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    picture.save(pictures / "a_number.png")
    Image.new("L", (300, 100), 230).save(pictures / "blank.png")
    null_device = os.stat(os.devnull)
    text = digitlib_in_process("predict", pictures, "--number", "--model", tmp_path / "model.keras")
    assert text.returncode == 1  # as for any picture that cannot be read
    assert (os.stat(os.devnull).st_ino, os.stat(os.devnull).st_rdev) == (null_device.st_ino, null_device.st_rdev)
    assert re.fullmatch(rf"{re.escape(str(pictures / 'a_number.png'))}: (\d{{3}}) "
                        r"\(\d \d+\.\d%, \d \d+\.\d%, \d \d+\.\d%\)\n", text.stdout), text.stdout
    assert text.stderr.splitlines()[-1] == f"digitlib: {pictures / 'blank.png'}: no digits found (the picture " \
                                           "is blank or has no contrast)"
    rows = [json.loads(line) for line in digitlib_in_process(
        "predict", pictures, "--number", "--json", "--model", tmp_path / "model.keras").stdout.splitlines()]
    number, blank = sorted(rows, key=lambda row: row["path"])  # a_number.png, blank.png
    assert set(blank) == {"path", "error"}
    assert len(number["number"]) == 3 and number["number"] == "".join(str(d["digit"]) for d in number["digits"])
    assert all(_iou(d["box"], box) > 0.7 and 0 <= d["probability"] <= 1 and d["line"] == 0
               for d, box in zip(number["digits"], boxes[0]))


def test_a_number_blown_up_pixel_by_pixel_is_read_at_its_own_resolution_with_boxes_in_its_pixels(trained, mnist):
    from digitlib.predict.number import read_pictures

    model, _ = trained
    picture, _ = number_picture([_narrow(mnist, (1, 4, 7))], SPACED, np.random.default_rng(5))
    blown = picture.resize((picture.width * 4, picture.height * 4), Image.Resampling.NEAREST)
    (small,), (large,) = read_pictures(model, [picture]), read_pictures(model, [blown])
    assert len(large) == 3 and [d.digit for d in large] == [d.digit for d in small]
    assert [d.box for d in large] == [tuple(4 * v for v in d.box) for d in small]
    np.testing.assert_array_equal(np.stack([d.digit_image for d in large]), np.stack([d.digit_image for d in small]))


@pytest.mark.e2e  # fits a not-a-digit detector and reads with the command line twice: seconds
def test_with_a_detector_each_digit_carries_its_score_and_a_doubted_mark_says_so(trained, small_splits, mnist,
                                                                                 tmp_path):
    import dataclasses

    from digitlib.predict.abstention import fit_abstention, save_detector
    from digitlib.predict.number import _segmented, _unique_segments, read_pictures
    from digitlib.synthetic.nondigits import nondigit_set
    from digitlib.train.prepare import prepare_images

    model, _ = trained
    run = tmp_path / "run"
    run.mkdir()
    detector = fit_abstention(model, small_splits, nondigit_set("tuning", 4).images)
    model.save(run / "model.keras")
    picture, _ = number_picture([_narrow(mnist, (1, 4, 7))], SPACED, np.random.default_rng(5))
    (digits,) = read_pictures(model, [picture], detector)
    marks, prepared = _segmented(picture, "picture 1")  # each digit scored as prepared (read and shown broadened)
    boxes = [box for _, box in _unique_segments(marks)]
    own = np.stack([prepared[boxes.index(d.box)] for d in digits])
    expected = detector.scores(model, prepare_images(own))
    assert [digit.score for digit in digits] == pytest.approx(expected.tolist(), rel=1e-5)
    assert [digit.abstained for digit in digits] == [bool(score > detector.threshold) for score in expected]
    (plain,) = read_pictures(model, [picture])
    assert [d.digit for d in plain] == [d.digit for d in digits] and all(d.score is None for d in plain)

    save_detector(run, dataclasses.replace(detector, threshold=float(expected.min()) - 1.0))  # doubts every mark
    picture.save(tmp_path / "a_number.png")
    text = digitlib_in_process("predict", tmp_path / "a_number.png", "--number", "--model", run / "model.keras")
    assert text.returncode == 0 and text.stdout.count("not a digit? (score ") == 3, text.stdout
    assert text.stdout.startswith(f"{tmp_path / 'a_number.png'}: {''.join(str(d.digit) for d in digits)} (")
    (row,) = [json.loads(line) for line in digitlib_in_process(
        "predict", tmp_path / "a_number.png", "--number", "--json", "--model", run / "model.keras").stdout.splitlines()]
    assert [d["abstained"] for d in row["digits"]] == [True] * 3
    assert [d["score"] for d in row["digits"]] == pytest.approx(expected.tolist(), rel=1e-5)


def test_the_figure_boxes_each_digit_and_says_the_reading_in_its_alt(tmp_path):
    from digitlib.predict.number import DigitReading
    from digitlib.report.figures import numbers_figure

    Image.new("L", (120, 60), 230).save(tmp_path / "<b>year&.png")
    sure = np.eye(10)[2] * 0.9 + 0.01
    digits = tuple(DigitReading((10 * k, 5, 10 * k + 8, 40), 0, sure, np.zeros((28, 28), np.uint8)) for k in range(2))
    figure = numbers_figure([NumberReading(tmp_path / "<b>year&.png", digits),
                             NumberReading(tmp_path / "x.png", error="x.png: no digits found")])
    assert figure.alt == ("1 picture read as whole numbers, each with its digits boxed and read: <b>year&.png as "
                          "22 (2 digits, the least sure 91.0%).")
    assert len(figure.axes[0].patches) == 2
    with pytest.raises(ValueError, match="nothing to show"):
        numbers_figure([NumberReading(tmp_path / "x.png", error="no digits")])
