"""The realism set (digitlib/synthetic/realism.py): deterministic, complete, labelled, legible to predict's
preparation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from digitlib.predict.handwriting import grey_levels, label_in_name, load_digit, read_image
from digitlib.synthetic import realism
from digitlib.train.prepare import prepare_images

REPOSITORY = Path(__file__).resolve().parent.parent
PER_DIGIT = 12  # 120 images: every font, writer, pen, glyph variant and resolution, in a few seconds


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> list[Path]:
    return realism.write_realism_set(tmp_path_factory.mktemp("realism"), seed=0, per_digit=PER_DIGIT)


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_images(small_set, tmp_path):
    again = realism.write_realism_set(tmp_path / "again", seed=0, per_digit=PER_DIGIT)
    assert [p.name for p in again] == [p.name for p in small_set]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again, small_set))
    other = realism.write_realism_set(tmp_path / "other", seed=1, per_digit=PER_DIGIT)
    assert sum(a.read_bytes() != b.read_bytes() for a, b in zip(other, small_set)) > 0.9 * len(small_set)


def test_every_digit_family_pen_typeface_writer_variant_resolution_and_file_type_is_present(small_set):
    samples = [realism.parse_name(path) for path in small_set]
    assert Counter(s.digit for s in samples) == {digit: PER_DIGIT for digit in range(10)}
    assert {s.family for s in samples} == set(realism.FAMILIES)
    assert {s.style for s in samples if s.family == realism.HAND} == set(realism.PENS)
    assert {s.style for s in samples if s.family == realism.FONT} == set(realism.FONTS)
    assert {s.writer for s in samples if s.family == realism.HAND} == {f"w{k:02d}" for k in range(realism.WRITERS)}
    assert {(s.digit, s.variant) for s in samples if s.family == realism.HAND} == {
        (digit, variant) for digit, variants in realism.GLYPHS.items() for variant in variants}
    for digit in range(10):  # each digit at every resolution
        assert {s.resolution for s in samples if s.digit == digit} == set(realism.RESOLUTIONS)
    assert {s.suffix for s in samples} == {"png", "jpg"}
    assert sum(s.family == realism.FONT for s in samples) == 10 * (PER_DIGIT // realism.FONT_SHARE)


def test_writers_keep_their_habits_and_every_pen_and_glyph_variant_has_writers():
    hands = realism.hands(0)
    assert len(hands) == realism.WRITERS and realism.hands(0) == hands
    assert {hand.pen for hand in hands} == set(realism.PENS)
    assert {(d, hand.variants[d]) for hand in hands for d in range(10)} == {
        (d, v) for d, variants in realism.GLYPHS.items() for v in variants}
    assert len({round(hand.slant, 3) for hand in hands}) == realism.WRITERS  # each writer slants their own way
    samples = realism.plan(0, per_digit=40)
    for sample in samples:
        if sample.family == realism.HAND:  # the name's pen and glyph are the writer's
            hand = hands[int(sample.writer[1:])]
            assert (sample.style, sample.variant) == (hand.pen, hand.variants[sample.digit])


def test_names_carry_the_true_digit_as_label_in_name_reads_it(small_set):
    for path in small_set:
        sample = realism.parse_name(path)
        assert label_in_name(path) == sample.digit
        assert sample.name == path.name
    with pytest.raises(ValueError, match="not a file name of the realism set"):
        realism.parse_name("photo_05782_label4.jpg")


def test_images_are_dark_ink_on_light_paper_and_predicts_preparation_accepts_them(small_set):
    digits = []
    for path in small_set:
        grey = grey_levels(read_image(path))
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        assert np.median(border) > 0.6, path.name  # light paper all round
        assert grey.min() < np.median(border) - 0.15, path.name  # dark ink on it
        digit = load_digit(path)  # what `digitlib predict` reads: the digit found, cropped and centred
        assert digit.shape == (28, 28) and digit.max() > 100, path.name  # a thin 1 stays faint
        digits.append(digit)
    assert prepare_images(np.stack(digits)).shape == (len(small_set), 28, 28, 1)


def test_low_resolution_images_really_carry_their_low_resolution(small_set):
    for path in small_set:
        sample = realism.parse_name(path)
        pixels = np.asarray(read_image(path).convert("L"), dtype=np.int16)
        if sample.resolution == 8:  # 8x8 pixels, each blown up to a block of 8x8
            assert pixels.shape == (8 * realism.BLOWN_UP, 8 * realism.BLOWN_UP)
            blocks = pixels.reshape(8, realism.BLOWN_UP, 8, realism.BLOWN_UP)
            assert (blocks == blocks[:, :1, :, :1]).all(), path.name
            assert len(np.unique(blocks[:, 0, :, 0])) > 4, path.name  # and those 64 pixels draw something
        elif sample.resolution < 64:
            assert pixels.shape == (sample.resolution, sample.resolution), path.name
        else:  # photos and scans are cropped taller or wider; the longer side is the resolution
            assert max(pixels.shape) == sample.resolution and min(pixels.shape) >= 0.75 * sample.resolution
        assert sample.suffix == "png" or sample.resolution >= realism.PHOTO_FROM, path.name


def test_the_set_stays_small_a_few_thousand_images_of_a_few_kilobytes(small_set):
    default = realism.plan()
    assert len(default) == 10 * realism.PER_DIGIT <= 5000
    assert len({s.name for s in default}) == len(default)
    assert {s.resolution for s in default} == set(realism.RESOLUTIONS)
    sizes = [path.stat().st_size for path in small_set]
    assert max(sizes) < 40_000 and sum(sizes) < 60 * 1024 * len(small_set) / 10
    with pytest.raises(ValueError, match="per_digit must be at least 1"):
        realism.plan(per_digit=0)


@pytest.mark.e2e  # a new process
def test_another_process_writes_the_same_bytes_without_keras_or_mnist(tmp_path):
    code = ("import sys, digitlib.synthetic.realism as r; r.write_realism_set(sys.argv[1], per_digit=2); "
            "print([m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax', 'matplotlib')])")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": str(REPOSITORY), "PYTHONHASHSEED": "random",
                                           "DIGITLIB_DATA_DIR": str(tmp_path / "no-mnist-here")})
    assert done.stdout.strip() == "[]"
    here = realism.write_realism_set(tmp_path / "here", per_digit=2)
    assert sorted(p.name for p in (tmp_path / "there").iterdir()) == sorted(p.name for p in here)
    assert all((tmp_path / "there" / p.name).read_bytes() == p.read_bytes() for p in here)


@pytest.mark.e2e
@pytest.mark.full  # make bench-realism's own check; make test reads images with digitlib predict (test_predict)
def test_the_bench_reads_the_set_with_digitlib_predict_and_compares_with_mnist(report_run, tmp_path):
    done = subprocess.run([sys.executable, str(REPOSITORY / "bench" / "realism.py"), "--model", f"tiny={report_run}",
                           "--per-digit", "3", "--results", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "realism.json").read_text())
    (model,) = result["models"]
    mnist = json.loads((report_run / "metrics.json").read_text())["test"]["accuracy"]
    assert model["name"] == "tiny" and model["mnist_test_accuracy"] == mnist
    assert model["realism"]["images"] == 30 == len(model["realism"]["digits_read"])
    right = [read == str(sample.digit) for read, sample in zip(model["realism"]["digits_read"], realism.plan(0, 3))]
    assert sum(right) == model["realism"]["correct"]
    assert model["gap_points"] == pytest.approx(100 * (mnist - model["realism"]["accuracy"]))
    by_resolution = model["realism"]["breakdown"]["resolution (px)"]
    assert sum(group["images"] for group in by_resolution.values()) == 30
    assert "By resolution (px)" in (tmp_path / "realism.md").read_text()
