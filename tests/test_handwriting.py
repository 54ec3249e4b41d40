"""MNIST-style preprocessing on synthetic pictures whose right answer is known."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlib.predict.handwriting import (
    MAX_PIXELS,
    THIN_LINE,
    ImageError,
    broadened,
    find_images,
    grey_levels,
    label_in_name,
    line_width,
    load_digit,
    mnist_style,
    own_resolution,
    printable,
    read_image,
    valid_unicode,
)


def bar(height=400, width=300, box=(100, 130, 300, 170), paper=235, ink=30) -> np.ndarray:
    """Dark ink on light paper: a vertical bar (rows 100-300, columns 130-170)."""
    picture = np.full((height, width), paper, np.uint8)
    top, left, bottom, right = box
    picture[top:bottom, left:right] = ink
    return picture


def centre_of_mass(digit):
    rows, columns = np.indices(digit.shape)
    weights = digit.astype(float)
    return (rows * weights).sum() / weights.sum(), (columns * weights).sum() / weights.sum()


def inked(digit, level=64):
    """Rows and columns of the ink, leaving out the soft edge mnist_style gives every stroke."""
    return np.nonzero(digit > level)


def test_dark_on_light_becomes_white_on_black_in_a_20px_box_centred_by_mass():
    digit = mnist_style(Image.fromarray(bar()))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows, columns = inked(digit)
    assert rows.max() - rows.min() + 1 == 20  # the longer side is 20 px
    assert 3 <= columns.max() - columns.min() + 1 <= 5  # 40/200 of 20 px, aspect ratio kept
    assert digit.max() == 255 and digit[0, 0] == 0  # bright ink, black field
    assert np.allclose(centre_of_mass(digit), (13.5, 13.5), atol=0.6)


def test_position_and_size_in_the_picture_do_not_matter():
    reference = mnist_style(Image.fromarray(bar()))
    moved = mnist_style(Image.fromarray(bar(height=900, width=700, box=(500, 20, 700, 60))))
    doubled = mnist_style(Image.fromarray(bar(height=800, width=600, box=(200, 260, 600, 340))))
    assert np.abs(moved.astype(int) - reference).max() <= 2
    assert np.abs(doubled.astype(int) - reference).max() <= 16  # resampling differs a little


def test_light_ink_on_dark_paper_is_not_inverted():
    reference = mnist_style(Image.fromarray(bar()))
    dark_paper = mnist_style(Image.fromarray(bar(paper=20, ink=230)))
    assert np.abs(dark_paper.astype(int) - reference).max() <= 2


def test_faint_background_noise_is_suppressed():
    rng = np.random.default_rng(0)
    noisy = bar().astype(int) + rng.integers(-15, 16, size=(400, 300))
    digit = mnist_style(Image.fromarray(np.uint8(np.clip(noisy, 0, 255))))
    rows, columns = inked(digit)
    assert rows.max() - rows.min() + 1 == 20 and columns.max() - columns.min() + 1 <= 6


def test_transparent_background_is_composited_on_white():
    rgba = np.zeros((200, 200, 4), np.uint8)  # fully transparent, black "behind"
    rgba[50:150, 90:110] = (10, 10, 80, 255)  # opaque blue ink
    digit = mnist_style(Image.fromarray(rgba, "RGBA"))
    rows, _ = inked(digit)
    assert rows.max() - rows.min() + 1 == 20 and digit[0, 0] == 0


def test_a_thin_line_gets_the_soft_edge_and_some_of_the_width_of_mnist_strokes():
    thin = bar(box=(100, 148, 300, 152))  # 4 of 200 px: 0.4 px once the bar is 20 px tall
    digit = mnist_style(Image.fromarray(thin)).astype(int)
    middle = digit[13]  # a row across the bar
    centre = int(np.argmax(middle))
    assert middle[centre] == 255  # full ink at its centre line
    assert 16 < middle[centre - 1] < 128 and 16 < middle[centre + 1] < 128  # wider, its edges soft
    assert (middle > 0).sum() == 3
    assert np.allclose(centre_of_mass(digit), (13.5, 13.5), atol=0.6)  # blurring moves no mass
    assert digit[0, 0] == 0 and digit[:, :5].max() == 0  # the paper stays black


def test_reading_broadens_hairlines_only():
    hairline = mnist_style(Image.fromarray(bar(box=(100, 148, 300, 152))))
    mnist_wide = mnist_style(Image.fromarray(bar(box=(100, 140, 300, 160))))
    assert line_width(hairline) < THIN_LINE <= line_width(mnist_wide)
    given = np.stack([hairline, mnist_wide, np.zeros_like(hairline)])
    kept = given.copy()
    seen = broadened(given)
    assert np.array_equal(given, kept)  # a new array
    assert np.array_equal(seen[1], mnist_wide) and np.array_equal(seen[2], given[2])  # wide lines, blank: as given
    middle = seen[0, 13].astype(int)
    centre = int(np.argmax(middle))
    assert middle[centre] == 255
    assert 64 < middle[centre - 1] < 128 and 64 < middle[centre + 1] < 128  # broader than prepared (< 64)
    assert 0 < middle[centre - 2] < 32 and 0 < middle[centre + 2] < 32
    assert (middle > 0).sum() == 5 and seen[0].astype(int).sum() > hairline.astype(int).sum()
    assert np.allclose(centre_of_mass(seen[0]), centre_of_mass(hairline), atol=0.05)  # no mass moved


def test_line_width_is_twice_the_area_over_the_perimeter():
    digit = np.zeros((28, 28), np.uint8)
    assert line_width(digit) == 0.0
    digit[4:24, 13:15] = 255  # 20 x 2: area 40, perimeter 44
    assert line_width(digit) == pytest.approx(80 / 44)
    digit[4:24, 13:15] = 127  # below half ink: no line
    assert line_width(digit) == 0.0


@pytest.mark.parametrize("mode", ["P", "CMYK", "RGB", "LA", "1"])
def test_every_common_mode_gives_the_same_digit(mode, tmp_path):
    reference = mnist_style(Image.fromarray(bar(ink=0, paper=255)))
    image = Image.fromarray(bar(ink=0, paper=255)).convert(mode)
    path = tmp_path / ("digit.tif" if mode == "CMYK" else "digit.png")
    image.save(path)
    assert np.abs(load_digit(path).astype(int) - reference).max() <= 2


def test_sixteen_bit_greys(tmp_path):
    reference = mnist_style(Image.fromarray(bar()))
    path = tmp_path / "deep.png"
    Image.fromarray(bar().astype(np.uint16) * 257).save(path)
    assert read_image(path).mode.startswith("I")
    assert np.abs(load_digit(path).astype(int) - reference).max() <= 2


def test_a_photo_stored_turned_is_read_as_its_exif_orientation_says(tmp_path):
    """A phone keeps a photo as its sensor lay and says how to turn it: read as stored, an upright digit lay on its
    side (a 7 read as 0). Read as every viewer shows it, it is the upright picture."""
    upright = bar(box=(100, 100, 300, 180))  # a tall bar in the left half: its turn is easy to see
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as the sensor lay
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90° clockwise to view
    stored.save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    shown = np.asarray(read_image(tmp_path / "photo.jpg").convert("L"))
    assert shown.shape == upright.shape
    assert np.abs(shown.astype(int) - upright).mean() < 3
    broken = tmp_path / "broken_exif.jpg"  # an EXIF block Pillow cannot read: the picture as stored
    stored.save(broken, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff", quality=95)
    assert read_image(broken).size == stored.size


def test_a_float_picture_in_zero_to_one_is_not_read_as_blank(tmp_path):
    reference = mnist_style(Image.fromarray(bar()))
    path = tmp_path / "float.tif"
    Image.fromarray(bar().astype(np.float32) / 255).save(path)
    assert read_image(path).mode == "F"
    assert np.abs(load_digit(path).astype(int) - reference).max() <= 2


def test_animated_gif_uses_the_first_frame(tmp_path):
    first = Image.fromarray(bar())
    second = Image.fromarray(np.full((400, 300), 235, np.uint8))  # blank
    path = tmp_path / "anim.gif"
    first.save(path, save_all=True, append_images=[second])
    assert np.abs(load_digit(path).astype(int) - mnist_style(first)).max() <= 2


@pytest.mark.parametrize("picture", [np.full((50, 50), 255, np.uint8), np.full((50, 50), 0, np.uint8),
                                     np.full((50, 50), 128, np.uint8) + np.uint8(np.arange(50) % 2)])
def test_blank_pictures_have_no_digit(picture):
    with pytest.raises(ImageError, match="no digit found"):
        mnist_style(Image.fromarray(picture), name="blank.png")


@pytest.mark.parametrize("width, height", [(50, 1), (1, 40), (1, 1)])
def test_a_picture_one_pixel_high_or_wide_is_too_small_to_hold_a_digit(width, height):
    with pytest.raises(ImageError, match=rf"^line\.png: {width}x{height} pixels is too small to hold a digit; "):
        mnist_style(Image.new("L", (width, height), 0), name="line.png")


def test_huge_images_are_refused_before_decoding(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 10
    path = tmp_path / "huge.png"
    Image.new("1", (side, side), 1).save(path)  # small on disk, huge in memory
    with pytest.raises(ImageError, match=r"huge\.png: \d+x\d+ pixels is more than the"):
        read_image(path)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.png: not an image Pillow can read"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageError, match=r"gone\.png: no such file"):
        read_image(tmp_path / "gone.png")


def test_find_images_expands_folders_and_reports_empty_ones(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "2.png").write_bytes(b"")
    (tmp_path / "a" / "1.JPG").write_bytes(b"")
    (tmp_path / "a" / "readme.txt").write_text("")
    (tmp_path / "empty").mkdir()
    paths, problems = find_images([tmp_path / "a", tmp_path / "empty", tmp_path / "x.png"])
    assert [p.name for p in paths] == ["1.JPG", "2.png", "x.png"]
    assert len(problems) == 1 and problems[0][0] == tmp_path / "empty"
    assert "empty: no images in this directory" in problems[0][1]


def test_find_images_lists_each_file_once_however_often_and_however_it_is_named(tmp_path, monkeypatch):
    """Issue #22 case 13: an image named twice, named beside its folder, or by another spelling of its path is one
    file, at its first place; a link of another name is a file of its own; an empty folder is reported once."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    for name in ("1.png", "2.png"):
        (tmp_path / "a" / name).write_bytes(b"")
    (tmp_path / "a" / "link.png").symlink_to("1.png")
    (tmp_path / "empty").mkdir()
    paths, problems = find_images(["a/2.png", "a", "a/2.png", "./a/1.png", tmp_path / "a" / "1.png", "a/../a/",
                                   "x.png", "x.png", "empty", "empty/", tmp_path / "empty"])
    assert paths == [Path("a/2.png"), Path("a/1.png"), Path("a/link.png"), Path("x.png")]
    assert [folder for folder, _, _ in problems] == [Path("empty")]


def test_an_input_that_cannot_be_looked_at_is_a_problem_in_its_place_not_a_traceback(tmp_path):
    """A name too long for the file system (and a folder without permission) raised OSError from is_dir; a folder
    without images was listed first whatever its place."""
    from digitlib.predict.handwriting import in_input_order

    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    (tmp_path / "b.png").write_bytes(b"")
    too_long = tmp_path / ("x" * 300 + ".png")
    paths, problems = find_images([tmp_path / "a.png", tmp_path / "empty", too_long, tmp_path / "b.png"])
    assert paths == [tmp_path / "a.png", tmp_path / "b.png"]
    assert [(p.path, p.place) for p in problems] == [(tmp_path / "empty", 1), (too_long, 1)]
    assert problems[1].message == f"{too_long}: cannot look at it (File name too long)"
    results = [Path("b.png"), *[p.path for p in problems], Path("a.png")]

    class Result:
        def __init__(self, path):
            self.path = path

    ordered = in_input_order([Result(r) for r in results], [Path("a.png"), Path("b.png")], problems)
    assert [r.path for r in ordered] == [Path("a.png"), tmp_path / "empty", too_long, Path("b.png")]


def test_grey_levels_are_in_unit_range():
    grey = grey_levels(Image.fromarray(bar()))
    assert grey.min() == pytest.approx(30 / 255) and grey.max() == pytest.approx(235 / 255)


def test_file_names_in_messages_are_printable_and_valid_unicode():
    """A newline, an ANSI escape, a right-to-left override and a byte that is not UTF-8 (0xe9) in one name."""
    name = "a\nb\x1b[31m\u202e" + os.fsdecode(b"\xe9") + "é.png"
    assert printable(name) == "a\\nb\\x1b[31m\\u202e\\xe9é.png"
    assert valid_unicode(name) == "a\nb\x1b[31m\u202e\\xe9é.png"
    assert str(ImageError(f"{name}: no such file")) == "a\\nb\\x1b[31m\\u202e\\xe9é.png: no such file"


def test_centring_by_mass_matches_the_weighted_mean_of_pixel_positions():
    """scipy's center_of_mass places digits exactly where the hand-written weighted mean did."""
    from digitlib.predict.handwriting import mnist_style

    generator = np.random.default_rng(0)
    for _ in range(50):
        picture = np.zeros((60, 40), dtype=np.uint8)
        top, left = generator.integers(0, 30), generator.integers(0, 20)
        picture[top: top + 25, left: left + 15] = generator.integers(0, 256, (25, 15))
        digit = mnist_style(picture).astype(np.float64)
        rows, columns = np.indices(digit.shape)
        centre = (rows * digit).sum() / digit.sum(), (columns * digit).sum() / digit.sum()
        assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1  # centred to the nearest pixel


@pytest.mark.parametrize("name, label", [
    ("photo_05782_label4.jpg", 4),  # the shipped samples' names
    ("label7.png", 7),
    ("my-digit label3.png", 3),
    ("scan.label2.v1.png", 2),
    ("Label5.PNG", 5),
    ("label4_label4.png", 4),  # said twice, the same
])
def test_a_label_token_in_the_file_name_is_the_true_digit(name, label):
    assert label_in_name(name) == label


@pytest.mark.parametrize("name", [
    "drawn_7.png",  # a digit, but no label token: never guessed
    "photo_05782.jpg",
    "labels4.png",
    "mylabel4.png",
    "label45.png",
    "label_4.png",
    "label.png",
    "label4_label5.png",  # two labels that disagree: none
    "label3/photo.png",  # only the file's own name counts
])
def test_names_without_exactly_one_label_token_have_no_label(name):
    assert label_in_name(name) is None


def test_a_picture_blown_up_pixel_by_pixel_is_read_at_its_own_resolution(mnist):
    small = 255 - mnist.x_test[0][2:26:3, 4:28:3]  # an 8 x 8 thumbnail of a 7, dark on light
    blown = Image.fromarray(small).resize((128, 128), Image.Resampling.NEAREST)
    np.testing.assert_array_equal(own_resolution(np.asarray(blown, np.float64)), small)
    np.testing.assert_array_equal(mnist_style(blown), mnist_style(Image.fromarray(small)))
    smooth = Image.fromarray(small).resize((128, 128), Image.Resampling.BICUBIC)  # blown up smoothly: as it is
    assert own_resolution(np.asarray(smooth, np.float64)).shape == (128, 128)


def test_only_whole_square_blocks_count_as_one_pixel():
    picture = np.random.default_rng(0).random((8, 6))
    blocks = np.repeat(np.repeat(picture, 3, axis=0), 3, axis=1)
    np.testing.assert_array_equal(own_resolution(blocks), picture)
    blocks[5, 7] = 0.5  # one pixel of one block differs
    assert own_resolution(blocks).shape == (24, 18)
    assert own_resolution(np.repeat(np.repeat(picture, 2, axis=0), 3, axis=1)).shape == (16, 18)  # 2 x 3 blocks
    margins = np.ones((400, 300))  # white margins repeat the first rows and columns, the middle does not
    margins[100:300, 100:200] = np.random.default_rng(1).random((200, 100))
    assert own_resolution(margins).shape == (400, 300)
