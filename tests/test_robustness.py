"""Robustness shifts: identity at level 0, deterministic, growing with severity; curves, summary and figures."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from digitlib.report.robustness import (
    REFERENCE_LEVEL,
    SHIFTS,
    robustness_curves,
    robustness_figure,
    robustness_subset,
    robustness_summary,
    shift_images,
    shifted_examples_figure,
)

LEVELS = range(1, 5)
DETERMINISTIC = {"scale", "thickness", "blur"}  # the same for every image, so no seed to vary


@pytest.fixture(scope="module")
def digits(mnist):
    """The first 300 test digits, prepared, with their labels."""
    from digitlib import prepare_images

    return prepare_images(mnist.x_test[:300]), mnist.y_test[:300]


class NearestNeighbour:
    """A stand-in model: the label of the nearest remembered digit (compared at 7x7, to be quick), as
    one-hot probabilities. On the digits it remembers it is an oracle; shifted digits fool it as they
    would a model."""

    def __init__(self, images, labels):
        self.remembered, self.labels, self.calls = self.coarse(images), labels, 0

    @staticmethod
    def coarse(images):
        return images.reshape(len(images), 7, 4, 7, 4).mean(axis=(2, 4)).reshape(len(images), -1)

    def predict_on_batch(self, batch):
        self.calls += 1
        distances = ((self.coarse(batch)[:, None, :] - self.remembered[None]) ** 2).sum(axis=2)
        return np.eye(10, dtype=np.float32)[self.labels[distances.argmin(axis=1)]]


def test_every_shift_is_named_and_has_the_identity_and_four_severities():
    assert list(SHIFTS) == ["rotation", "translation", "scale", "thickness", "gaussian_noise", "blur", "elastic",
                            "impulse_noise", "dotted_line", "stripe"]
    for name, shift in SHIFTS.items():
        assert shift.name == name and re.fullmatch(r"[a-z][a-z_]{0,39}", name)
        assert shift.title and shift.unit and len(shift.levels) == 5
    assert 1 <= REFERENCE_LEVEL <= 4


@pytest.mark.parametrize("shift", SHIFTS)
def test_level_zero_is_an_exact_copy(digits, shift):
    images, _ = digits
    clean = shift_images(images, shift, 0)
    assert clean is not images and clean.dtype == images.dtype
    np.testing.assert_array_equal(clean, images)


@pytest.mark.parametrize("shift", SHIFTS)
def test_every_severity_changes_the_images_and_keeps_their_shape_type_and_range(digits, shift):
    images, _ = digits
    for level in LEVELS:
        shifted = shift_images(images, shift, level)
        assert shifted.shape == images.shape and shifted.dtype == np.float32
        assert shifted.min() >= 0 and shifted.max() <= 1
        assert (shifted != images).any(axis=(1, 2, 3)).mean() > 0.9, f"{shift} level {level} left images as they were"


@pytest.mark.parametrize("shift", SHIFTS)
def test_the_same_seed_gives_the_same_images_and_another_seed_other_images(digits, shift):
    images, _ = digits
    first = shift_images(images, shift, 3, seed=7)
    for other in SHIFTS:  # results do not depend on which shifts ran before
        shift_images(images[:5], other, 2, seed=7)
    np.testing.assert_array_equal(shift_images(images, shift, 3, seed=7), first)
    assert np.array_equal(shift_images(images, shift, 3, seed=8), first) == (shift in DETERMINISTIC)


@pytest.mark.parametrize("shift", SHIFTS)
def test_the_images_move_further_from_the_clean_ones_with_every_severity(digits, shift):
    images, _ = digits
    distances = [np.abs(shift_images(images, shift, level) - images).mean() for level in LEVELS]
    assert np.all(np.diff(distances) > 0), distances


def test_elastic_resampling_reads_each_image_as_scipy_reads_the_stack():
    from scipy import ndimage

    from digitlib.report.robustness import _resample

    rng = np.random.default_rng(0)
    stack = rng.random((20, 28, 28), dtype=np.float32)
    rows, columns = rng.uniform(-4, 31, size=(2, 20, 28, 28))  # beyond the edges too
    images = np.broadcast_to(np.arange(20)[:, None, None], rows.shape)
    expected = ndimage.map_coordinates(stack, [images, rows, columns], order=1, mode="grid-constant")
    np.testing.assert_allclose(_resample(stack, rows, columns), expected, atol=1e-6)


def _orientation(images):
    """The angle (degrees) of each digit's principal axis, from its second moments of ink."""
    rows, columns = np.indices((28, 28))
    mass = images[..., 0].sum(axis=(1, 2))

    def moment(a, b):
        return (images[..., 0] * a * b).sum(axis=(1, 2)) / mass

    centre_row, centre_column = moment(rows, 1), moment(columns, 1)
    dr, dc = rows - centre_row[:, None, None], columns - centre_column[:, None, None]
    return np.degrees(0.5 * np.arctan2(2 * moment(dr, dc), moment(dc, dc) - moment(dr, dr)))


def _centre_of_mass(images):
    rows, columns = np.indices((28, 28))
    mass = images[..., 0].sum(axis=(1, 2))
    return np.stack([(images[..., 0] * axis).sum(axis=(1, 2)) / mass for axis in (rows, columns)], axis=1)


def test_rotation_turns_the_principal_axis_of_a_one_by_the_level_s_angle(digits):
    images, labels = digits
    ones = images[labels == 1]  # long and thin: their principal axis is well defined
    for level in LEVELS:
        turned = (_orientation(shift_images(ones, "rotation", level)) - _orientation(ones) + 90) % 180 - 90
        assert np.median(np.abs(turned)) == pytest.approx(SHIFTS["rotation"].levels[level], abs=4)
        assert np.isin(np.sign(turned), [-1, 1]).all() and len(set(np.sign(turned))) == 2  # both ways


def test_translation_moves_the_centre_of_mass_by_the_level_s_pixels(digits):
    images, _ = digits
    moved = [np.linalg.norm(_centre_of_mass(shift_images(images, "translation", level)) - _centre_of_mass(images),
                            axis=1) for level in LEVELS]
    for level, distances in zip(LEVELS, moved):
        assert np.median(distances) == pytest.approx(SHIFTS["translation"].levels[level], abs=0.5)
    assert np.all(np.diff([distances.mean() for distances in moved]) > 0)


def test_scale_shrinks_the_ink_by_the_square_of_the_factor(digits):
    images, _ = digits
    ink = images.sum()
    for level in LEVELS:
        factor = SHIFTS["scale"].levels[level]
        assert shift_images(images, "scale", level).sum() / ink == pytest.approx(factor ** 2, rel=0.1)


def test_thicker_strokes_hold_more_ink_and_noise_spreads_the_pixels_more_at_each_severity(digits):
    images, _ = digits
    ink = [shift_images(images, "thickness", level).sum() for level in LEVELS]
    assert images.sum() < ink[0] and np.all(np.diff(ink) > 0)
    spread = [(shift_images(images, "gaussian_noise", level) - images).std() for level in LEVELS]
    assert np.all(np.diff(spread) > 0)
    sharpness = [np.abs(np.diff(shift_images(images, "blur", level), axis=2)).mean() for level in LEVELS]
    assert np.all(np.diff(sharpness) < 0)


def test_impulse_noise_changes_about_the_level_s_fraction_of_pixels(digits):
    images, _ = digits
    for level in LEVELS:
        changed = (shift_images(images, "impulse_noise", level) != images).mean()
        fraction = SHIFTS["impulse_noise"].levels[level]
        assert fraction * 0.4 < changed < fraction  # half the hits land on their own colour


def test_shift_images_says_which_shifts_levels_and_images_it_takes(digits):
    images, _ = digits
    with pytest.raises(ValueError, match="choose one of rotation, translation"):
        shift_images(images, "fog", 1)
    for level in (-1, 5, 1.0):
        with pytest.raises(ValueError, match="from 0 \\(clean\\) to 4"):
            shift_images(images, "rotation", level)
    with pytest.raises(ValueError, match="digitlib.prepare_images"):
        shift_images((images * 255).astype(np.uint8), "rotation", 1)
    with pytest.raises(ValueError, match="digitlib.prepare_images"):
        shift_images(images[..., 0], "rotation", 1)
    with pytest.raises(ValueError, match="non-negative"):
        shift_images(images, "rotation", 1, seed=-1)


def test_the_subset_is_sorted_fixed_by_its_seed_and_everything_when_asked_for_more():
    labels = np.arange(10_000) % 10
    subset = robustness_subset(labels, 2000, seed=0)
    assert len(subset) == 2000 and np.all(np.diff(subset) > 0)
    np.testing.assert_array_equal(robustness_subset(labels, 2000, seed=0), subset)
    assert not np.array_equal(robustness_subset(labels, 2000, seed=1), subset)
    np.testing.assert_array_equal(robustness_subset(labels, 20_000), np.arange(10_000))
    with pytest.raises(ValueError, match="at least 1"):
        robustness_subset(labels, 0)


@pytest.fixture(scope="module")
def curves(digits):
    images, labels = digits
    model = NearestNeighbour(images, labels)
    return robustness_curves(model, images, labels, count=200, seed=3), model


def test_curves_have_one_row_per_shift_and_level_with_the_clean_accuracy_predicted_once(curves):
    table, model = curves
    assert list(table.columns) == ["shift", "title", "level", "value", "unit", "accuracy"]
    assert len(table) == 5 * len(SHIFTS) and model.calls == 1 + 4 * len(SHIFTS)
    assert table.groupby("shift").size().to_dict() == {name: 5 for name in SHIFTS}
    assert (table.loc[table["level"] == 0, "accuracy"] == 1.0).all()  # the oracle, on the digits it remembers
    assert table["accuracy"].between(0, 1).all() and (table.loc[table["level"] > 0, "accuracy"] < 1).any()
    np.testing.assert_array_equal(table.loc[table["shift"] == "blur", "value"], SHIFTS["blur"].levels)
    assert table.attrs == {"count": 200, "seed": 3}


def test_curves_are_the_same_for_the_same_seed(digits, curves):
    images, labels = digits
    again = robustness_curves(NearestNeighbour(images, labels), images, labels, count=200, seed=3)
    assert again.equals(curves[0])
    with pytest.raises(ValueError, match="300 images but 299 labels"):
        robustness_curves(NearestNeighbour(images, labels), images, labels[:-1])


def test_the_summary_is_what_metrics_json_records(curves):
    import jsonschema

    table, _ = curves
    summary = robustness_summary(table)
    assert list(summary) == ["images", "seed", "severity", "clean_accuracy", "accuracy", "mean_accuracy", "curves"]
    assert summary["images"] == 200 and summary["seed"] == 3 and summary["severity"] == REFERENCE_LEVEL
    assert summary["clean_accuracy"] == 1.0 and list(summary["accuracy"]) == list(SHIFTS)
    assert summary["mean_accuracy"] == pytest.approx(np.mean(list(summary["accuracy"].values())))
    assert json.loads(json.dumps(summary)) == summary
    jsonschema.validate(summary, _robustness_schema())
    # each shift's whole curve, read back as the table had it: the clean level first, then every severity
    assert list(summary["curves"]) == list(SHIFTS)
    for name, curve in summary["curves"].items():
        rows = table[table["shift"] == name].sort_values("level")
        assert curve["unit"] == SHIFTS[name].unit
        assert [level["value"] for level in curve["levels"]] == list(rows["value"]) == list(SHIFTS[name].levels)
        assert [level["accuracy"] for level in curve["levels"]] == list(rows["accuracy"])
        assert curve["levels"][REFERENCE_LEVEL]["accuracy"] == summary["accuracy"][name]
    before = {key: value for key, value in summary.items() if key != "curves"}  # a run made before curves were kept
    jsonschema.validate(before, _robustness_schema())
    with pytest.raises(jsonschema.ValidationError, match="does not match"):  # a shift's name is a name
        jsonschema.validate({**summary, "curves": {"<b>rotation</b>": summary["curves"]["rotation"]}},
                            _robustness_schema())
    assert robustness_summary(table, level=4)["severity"] == 4
    with pytest.raises(ValueError, match=r"one of \[1, 2, 3, 4\]"):
        robustness_summary(table, level=0)
    read_back = table.copy()
    read_back.attrs = {}  # as from a CSV file
    with pytest.raises(ValueError, match="count and seed"):
        robustness_summary(read_back)


@pytest.mark.parametrize("curve, why", [
    ({"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.9}]}, "is too short"),
    ({"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.9}, {"value": 15, "accuracy": 1.2}]}, "maximum"),
    ({"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.9}, {"value": "15", "accuracy": 0.8}]}, "number"),
    ({"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.9}, {"accuracy": 0.8}]}, "'value' is a required"),
    ({"unit": "<b>" * 20, "levels": [{"value": 0, "accuracy": 0.9}, {"value": 15, "accuracy": 0.8}]}, "too long"),
    ({"levels": [{"value": 0, "accuracy": 0.9}, {"value": 15, "accuracy": 0.8}]}, "'unit' is a required"),
    ({"unit": "px", "levels": [{"value": 0, "accuracy": 0.9}, {"value": 1, "accuracy": 0.8}], "title": "<script>"},
     "Additional properties"),
])
def test_curves_that_are_not_a_curve_of_accuracies_are_refused(curves, curve, why):
    import jsonschema

    summary = robustness_summary(curves[0])
    with pytest.raises(jsonschema.ValidationError, match=why):
        jsonschema.validate({**summary, "curves": {**summary["curves"], "rotation": curve}}, _robustness_schema())


def _robustness_schema() -> dict:
    from pathlib import Path

    import digitlib

    schema = json.loads((Path(digitlib.__file__).parent / "metrics.schema.json").read_text())
    return schema["properties"]["robustness"]


def test_the_figures_have_one_panel_per_shift_and_stay_small(curves, digits):
    import io

    table, _ = curves
    for clean_accuracy in (None, 0.99):
        figure = robustness_figure(table, clean_accuracy=clean_accuracy)
        assert len(figure.axes) == len(SHIFTS)
        assert [axes.get_title() for axes in figure.axes] == [shift.title for shift in SHIFTS.values()]
    strongest = table[table["level"] == 4].sort_values("accuracy")
    worst, best = strongest.iloc[0], strongest.iloc[-1]
    assert figure.alt == (
        f"Accuracy against severity under {len(SHIFTS)} distribution shifts, one panel each, on 200 test images: at "
        f"the strongest severity, from {worst['accuracy']:.1%} ({worst['title']}, {worst['value']:g} {worst['unit']}) "
        f"to {best['accuracy']:.1%} ({best['title']}, {best['value']:g} {best['unit']}); clean "
        f"{table.loc[table['level'] == 0, 'accuracy'].iloc[0]:.1%}, whole test set 99.0%.")
    examples = shifted_examples_figure(digits[0][0])
    assert examples.alt.startswith(f"One test digit under each of {len(SHIFTS)} shifts") and "rotation 60 degrees" in \
        examples.alt
    (montage,) = examples.axes  # one image of every shift at every level, drawn once
    assert [label.get_text().split("\n")[0] for label in montage.get_xticklabels()] == [
        shift.title for shift in SHIFTS.values()]
    assert len(montage.get_yticklabels()) == 5 and len(montage.texts) == 5 * len(SHIFTS)
    tiles = montage.images[0].get_array()
    assert tiles.shape == (5 * (28 + 9), len(SHIFTS) * (28 + 6))
    first = tiles[:28, 3:31]  # the clean digit, top left
    assert np.array_equal(np.asarray(first), digits[0][0][..., 0])
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(examples)
    canvas.draw()
    renderer = canvas.get_renderer()
    (title,) = [text for text in [*examples.texts, montage.title]
                if text.get_text().startswith("One test digit under each shift")]
    highest_tick = max(label.get_window_extent(renderer).y1 for label in montage.get_xticklabels())
    assert title.get_window_extent(renderer).y0 >= highest_tick  # the title above the shifts' names on top
    for drawn in (figure, examples):
        png = io.BytesIO()
        drawn.savefig(png, format="png")
        assert png.tell() < 250_000
