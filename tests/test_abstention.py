"""The not-a-digit detector (digitlib/predict/abstention.py) and the pictures that are not digits
(digitlib/synthetic/nondigits.py)."""

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import digitlib_in_process
from digitlib.layout import ABSTENTION_FILE
from digitlib.modelfile import ModelError
from digitlib.predict.abstention import (
    BANK_BYTES,
    MAX_REFUSED,
    SCORES,
    Detector,
    Outputs,
    Statistics,
    auroc,
    candidate_scores,
    class_statistics,
    describe_abstention,
    feature_width,
    fit_abstention,
    neighbour_distance,
    network_outputs,
    read_detector,
    save_detector,
    threshold_for,
    unit_length,
)


def test_auroc_is_the_chance_an_outlier_scores_higher_ties_counting_half():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    inliers, outliers = rng.integers(0, 20, 300).astype(float), rng.integers(5, 25, 200).astype(float)  # many ties
    expected = roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[inliers, outliers])
    assert auroc(inliers, outliers) == pytest.approx(expected, abs=1e-12)
    assert auroc([1.0, 2.0], [3.0, 4.0]) == 1.0 and auroc([3.0, 4.0], [1.0, 2.0]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5


@pytest.mark.parametrize("count", [1, 50, 99, 100, 101, 1000, 6000])
def test_the_threshold_refuses_at_most_one_percent_of_the_validation_digits(count):
    scores = np.random.default_rng(count).normal(size=count)
    threshold = threshold_for(scores)
    refused = int(np.sum(scores > threshold))
    assert refused <= MAX_REFUSED * count and refused == int(MAX_REFUSED * count)  # as many as allowed, no more
    assert np.sum(np.r_[scores, 1e9] > threshold_for(np.r_[scores, 1e9])) <= MAX_REFUSED * (count + 1)


def test_the_threshold_with_tied_scores_refuses_none_of_the_ties():
    assert np.sum(np.ones(500) > threshold_for(np.ones(500))) == 0
    with pytest.raises(ValueError, match="finite scores"):
        threshold_for([1.0, np.nan])


def test_scores_are_distance_to_the_nearest_class_energy_and_top_probability():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 200)
    centres = rng.normal(0, 10, size=(10, 6))
    features = centres[labels] + rng.normal(size=(len(labels), 6))
    means, precision = class_statistics(features, labels)
    assert np.allclose(means, centres, atol=0.3) and np.allclose(precision, np.eye(6), atol=0.2)
    logits = rng.normal(size=(3, 10))
    unit = unit_length(centres)
    probe = np.stack([unit[3], unit[3] + 0.1 * unit[5], -unit[3]])  # on a digit, near one, opposite
    scores = candidate_scores(Outputs(probe * 7.0, logits), Statistics(unit, np.eye(6)))  # scaled to length 1 first
    assert sorted(scores) == ["energy", "mahalanobis", "max_probability"]  # no bank: the former three
    assert np.allclose(scores["mahalanobis"], np.min(np.linalg.norm(unit_length(probe)[:, None] - unit[None], axis=2),
                                                     axis=1))
    assert scores["mahalanobis"][0] < scores["mahalanobis"][1] < scores["mahalanobis"][2]
    assert np.allclose(scores["energy"], -np.log(np.exp(logits).sum(axis=1)))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(scores["max_probability"], -softmax.max(axis=1))
    with pytest.raises(ValueError, match="all ten digits"):
        class_statistics(features[labels < 9], labels[labels < 9])


def test_the_neighbour_score_is_the_cosine_distance_to_the_nearest_bank_vector_and_combined_adds_mahalanobis():
    rng = np.random.default_rng(3)
    bank = unit_length(rng.normal(size=(50, 6))).astype(np.float16)
    probe = np.stack([bank[7] * 3.0, bank[7] + 0.3 * bank[9], -bank[7]]).astype(np.float64)  # on, near, opposite
    expected = 1 - np.max(unit_length(probe) @ bank.T.astype(np.float64), axis=1)
    assert neighbour_distance(probe, bank, block_bytes=2 * 50 * 4) == pytest.approx(expected, abs=1e-3)  # 2 rows
    assert neighbour_distance(probe, bank, block_bytes=1) == pytest.approx(expected, abs=1e-3)  # a row at a time
    whole = neighbour_distance(probe, bank)
    for bank_block in (1, 7, 49):  # the bank a few vectors at a time, the last block shorter: the same nearest
        assert neighbour_distance(probe, bank, bank_block=bank_block) == pytest.approx(whole, abs=1e-6)
    assert neighbour_distance(probe, bank)[0] == pytest.approx(0.0, abs=1e-3)  # a bank vector itself: distance 0
    assert neighbour_distance(probe[:0], bank).shape == (0,)
    means = unit_length(rng.normal(size=(10, 6)))
    standard = np.array([[0.1, 0.5], [0.2, 2.0]])
    scores = candidate_scores(Outputs(probe, rng.normal(size=(3, 10))), Statistics(means, np.eye(6), bank, standard))
    assert list(scores) == ["combined", "neighbour", "mahalanobis", "energy", "max_probability"]
    distance = np.min(np.linalg.norm(unit_length(probe)[:, None] - means[None], axis=2), axis=1)
    assert scores["neighbour"] == pytest.approx(expected, abs=1e-3)
    assert scores["mahalanobis"] == pytest.approx(distance)
    assert scores["combined"] == pytest.approx((scores["neighbour"] - 0.1) / 0.5 + (distance - 0.2) / 2.0)


def test_the_layered_score_adds_the_standardized_distance_to_the_nearest_convolutional_bank_vector():
    rng = np.random.default_rng(4)
    bank, maps = (unit_length(rng.normal(size=(40, width))).astype(np.float16) for width in (6, 12))
    probe = rng.normal(size=(3, 6))
    convolutional = np.stack([maps[5] * 2.0, maps[5] + 0.5 * maps[8], -maps[5]]).astype(np.float32)
    means = unit_length(rng.normal(size=(10, 6)))
    standard = np.array([[0.1, 0.5], [0.2, 2.0], [0.3, 0.25]])
    outputs = Outputs(probe, rng.normal(size=(3, 10)), convolutional)
    scores = candidate_scores(outputs, Statistics(means, np.eye(6), bank, standard, maps))
    assert list(scores) == list(SCORES) and SCORES[0] == "layered"
    distance = 1 - np.max(unit_length(convolutional) @ maps.T.astype(np.float64), axis=1)
    assert distance[0] == pytest.approx(0.0, abs=1e-3) and distance[2] > 0.1  # a bank vector: 0; its opposite: far
    assert scores["layered"] == pytest.approx(scores["combined"] + (distance - 0.3) / 0.25, abs=1e-2)
    without = candidate_scores(outputs, Statistics(means, np.eye(6), bank, standard[:2]))  # saved before it
    assert "layered" not in without and without["combined"] == pytest.approx(scores["combined"])


def test_the_bank_keeps_every_training_image_that_fits_else_a_seeded_sample():
    from digitlib.predict.abstention import BANK_BYTES, bank_rows

    assert np.array_equal(bank_rows(54_000, 128), np.arange(54_000))  # fast: 13.8 MB of float16
    room = BANK_BYTES // (2 * 1600)  # keras-example's 1,600 features
    sample = bank_rows(54_000, 1600, seed=3)
    assert len(sample) == room and np.array_equal(sample, np.unique(sample)) and sample.max() < 54_000
    assert np.array_equal(sample, bank_rows(54_000, 1600, seed=3)) and not np.array_equal(sample, bank_rows(54_000,
                                                                                                            1600))


def _detector(features: int = 4, bank: bool = True, layered: bool = True) -> Detector:
    rng = np.random.default_rng(2)
    statistics = Statistics(rng.normal(size=(10, features)), np.eye(features) * 2.0)
    if bank:
        statistics = Statistics(statistics.means, statistics.precision,
                                unit_length(rng.normal(size=(30, features))).astype(np.float16),
                                np.array([[0.1, 0.02], [3.0, 1.5], [0.2, 0.05]][:3 if layered else 2]),
                                unit_length(rng.normal(size=(20, 9))).astype(np.float16) if layered else None)
    score = ("layered" if layered else "combined") if bank else "mahalanobis"
    return Detector(score=score, threshold=7.5, statistics=statistics,
                    validation_refused=0.01, auroc=0.97, validation_images=300, tuning_images=600, tuning_refused=0.85)


@pytest.mark.parametrize("bank, layered", [(True, True), (True, False), (False, False)],
                         ids=["with both banks", "saved before the layered score", "saved before the neighbour scores"])
def test_a_saved_detector_reads_back_the_same(tmp_path, bank, layered):
    detector = _detector(bank=bank, layered=layered)
    path = save_detector(tmp_path, detector)
    assert path == tmp_path / ABSTENTION_FILE and [p.name for p in tmp_path.iterdir()] == [ABSTENTION_FILE]
    back = read_detector(tmp_path)
    assert (back.score, back.threshold, back.auroc, back.validation_images, back.tuning_refused) == (
        detector.score, 7.5, 0.97, 300, 0.85)
    for name, value in vars(detector.statistics).items():
        stored = getattr(back.statistics, name)
        assert (stored is None) if value is None else (np.array_equal(stored, value) and stored.dtype == value.dtype)
    assert read_detector(tmp_path / "elsewhere") is None  # no detector: none, not an error
    assert "AUROC of 0.970" in back.describe() and "threshold 7.5 refuses 1.0%" in back.describe()


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _fields(detector: Detector) -> dict:
    statistics = detector.statistics
    return {"score": np.array(detector.score), "threshold": np.float64(detector.threshold), "means": statistics.means,
            "precision": statistics.precision, "validation_refused": np.float64(0.01), "auroc": np.float64(0.9),
            "validation_images": np.int64(300), "tuning_images": np.int64(600), "tuning_refused": np.float64(0.8),
            "bank": statistics.bank, "standard": statistics.standard,
            "convolutional_bank": statistics.convolutional_bank}


@pytest.mark.parametrize("change, why", [
    ({"score": np.array("os.system")}, "unknown score 'os.system'"),
    ({"means": np.zeros((9, 4))}, "class means of shape (9, 4)"),
    ({"means": np.zeros((10, 4), np.float32)}, "type float32"),
    ({"precision": np.eye(5)}, "precision matrix of shape (5, 5)"),
    ({"threshold": np.float64(np.nan)}, "not finite"),
    ({"precision": np.full((4, 4), np.inf)}, "not finite"),
    ({"auroc": np.array(["high"])}, "auroc is not a number"),
    ({"score": np.array([{"a": 1}], dtype=object)}, "ValueError"),  # a pickle: never loaded
    ({"extra": np.zeros(3)}, "holds auroc, bank, convolutional_bank, extra, means"),
    ({"bank": np.zeros((5, 3), np.float16)}, "a bank of shape (5, 3)"),
    ({"bank": np.zeros((5, 4))}, "type float64, not (images, 4) float16"),
    ({"bank": np.zeros((0, 4), np.float16)}, "a bank of shape (0, 4)"),
    ({"bank": np.full((5, 4), np.nan, np.float16)}, "not finite"),
    ({"standard": np.array([[0.1, 0.0], [3.0, 1.5]])}, "positive spreads"),
    ({"standard": np.zeros(4)}, "standardization of shape (4,)"),
    ({"standard": np.array([[0.1, 0.02], [3.0, 1.5]])}, "standardization of shape (2, 2) and type float64, not (3, 2)"),
    ({"convolutional_bank": np.zeros((5, 9))}, "a convolutional bank of shape (5, 9) and type float64"),
    ({"convolutional_bank": np.zeros((0, 9), np.float16)}, "a convolutional bank of shape (0, 9)"),
    ({"convolutional_bank": np.full((5, 9), np.inf, np.float16)}, "not finite"),
])
def test_a_malformed_detector_file_is_refused_saying_what_to_do(tmp_path, change, why):
    (tmp_path / ABSTENTION_FILE).write_bytes(_npz(**{**_fields(_detector()), **change}))
    with pytest.raises(ModelError, match="not a not-a-digit detector") as refused:
        read_detector(tmp_path)
    assert why in str(refused.value) and "delete it to read without one" in str(refused.value)


def test_a_detector_file_without_a_convolutional_bank_chooses_from_the_scores_before_the_layered_one(tmp_path):
    fields = {k: v for k, v in _fields(_detector(layered=False)).items() if k != "convolutional_bank"}
    (tmp_path / ABSTENTION_FILE).write_bytes(_npz(**fields))
    assert read_detector(tmp_path).score == "combined" and read_detector(tmp_path).statistics.convolutional_bank is None
    (tmp_path / ABSTENTION_FILE).write_bytes(_npz(**{**fields, "score": np.array("layered")}))
    with pytest.raises(ModelError, match="unknown score 'layered'"):
        read_detector(tmp_path)


def test_a_detector_file_without_a_bank_chooses_from_the_former_scores_only(tmp_path):
    former = {k: v for k, v in _fields(_detector()).items() if k not in ("bank", "standard", "convolutional_bank")}
    (tmp_path / ABSTENTION_FILE).write_bytes(_npz(**{**former, "score": np.array("energy")}))
    assert read_detector(tmp_path).score == "energy" and read_detector(tmp_path).statistics.bank is None
    (tmp_path / ABSTENTION_FILE).write_bytes(_npz(**former))  # "layered" needs the banks it lacks
    with pytest.raises(ModelError, match="unknown score 'layered'"):
        read_detector(tmp_path)
    partial = {**former, "bank": _detector().statistics.bank}  # a bank without the rest: neither format
    (tmp_path / ABSTENTION_FILE).write_bytes(_npz(**partial))
    with pytest.raises(ModelError, match="holds auroc, bank, means"):
        read_detector(tmp_path)


def test_what_is_not_an_npz_is_refused(tmp_path):
    (tmp_path / ABSTENTION_FILE).write_text("not a zip")
    with pytest.raises(ModelError, match="BadZipFile"):
        read_detector(tmp_path)
    (tmp_path / ABSTENTION_FILE).unlink()
    (tmp_path / ABSTENTION_FILE).mkdir()
    with pytest.raises(ModelError, match="not a regular file|unreadable|directory"):
        read_detector(tmp_path)


def test_non_digits_are_made_the_same_from_the_same_name_and_differ_between_sets():
    from digitlib.synthetic.nondigits import FAMILIES, SOURCES, nondigit_set

    tuning, again, held_out = nondigit_set("tuning", 2), nondigit_set("tuning", 2), nondigit_set("held-out", 2)
    assert np.array_equal(tuning.images, again.images) and tuning.images.dtype == np.uint8
    assert len(tuning) + sum(tuning.unreadable.values()) == 2 * len(FAMILIES)
    assert not set(SOURCES["tuning"].fonts) & set(SOURCES["held-out"].fonts)
    assert SOURCES["tuning"].photo != SOURCES["held-out"].photo
    assert not np.array_equal(tuning.images[:2], held_out.images[:2])
    with pytest.raises(ValueError, match="choose one of: tuning, held-out"):
        nondigit_set("test")


def test_the_feature_width_is_what_the_network_gives_each_picture(trained, small_splits):
    model, _ = trained
    outputs = network_outputs(model, small_splits.x_test[:3])
    assert outputs.features.shape == (3, feature_width(model)) and outputs.logits.shape == (3, 10)
    import keras

    from digitlib.models import leaf_layers

    first_dense = next(layer for layer in leaf_layers(model) if isinstance(layer, keras.layers.Dense))
    assert outputs.convolutional.shape == (3, first_dense.kernel.shape[0])  # what the first dense layer reads


def test_the_convolutional_features_of_chosen_rows_are_those_rows_of_all(trained, small_splits):
    model, _ = trained
    images = small_splits.x_test[:50]
    every = network_outputs(model, images, batch_size=16)
    rows = np.array([0, 3, 15, 16, 17, 40, 49])  # within and across the 16-image chunks
    chosen = network_outputs(model, images, batch_size=16, convolutional=rows)
    np.testing.assert_array_equal(chosen.convolutional, every.convolutional[rows])
    np.testing.assert_array_equal(chosen.features, every.features)
    assert network_outputs(model, images, convolutional=False).convolutional is None


def test_fitting_sets_the_threshold_on_validation_digits_and_saves_the_detector(trained, small_splits, tmp_path):
    from digitlib.synthetic.nondigits import nondigit_set

    model, _ = trained
    detector = fit_abstention(model, small_splits, nondigit_set("tuning", 4).images, output_dir=tmp_path)
    assert detector.validation_images == len(small_splits.x_val) and detector.validation_refused <= MAX_REFUSED
    assert np.mean(detector.scores(model, small_splits.x_val) > detector.threshold) == detector.validation_refused
    assert 0.0 <= detector.auroc <= 1.0 and read_detector(tmp_path).threshold == detector.threshold
    maps = detector.statistics.convolutional_bank
    assert maps.dtype == np.float16 and detector.statistics.standard.shape == (3, 2)
    assert maps.shape[0] == min(len(small_splits.x_train), BANK_BYTES // (2 * maps.shape[1]))
    from dataclasses import replace

    assert fit_abstention(model, replace(small_splits, x_val=small_splits.x_val[:0]), np.zeros((1, 28, 28),
                                                                                               np.uint8)) is None
    no_sevens = small_splits.y_train != 7  # a tiny train_limit can leave a digit out: no detector, no error
    lacking = replace(small_splits, x_train=small_splits.x_train[no_sevens], y_train=small_splits.y_train[no_sevens])
    assert fit_abstention(model, lacking, np.zeros((1, 28, 28), np.uint8), output_dir=tmp_path / "none") is None
    assert not (tmp_path / "none").exists() and "all ten digits" in describe_abstention(None)
    import keras  # a last hidden layer wider than a covariance can be kept (strong version 1's was 6,272): no detector

    wide = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(4097),
                             keras.layers.Dense(10, activation="softmax")])
    assert fit_abstention(wide, small_splits, np.zeros((1, 28, 28), np.uint8), output_dir=tmp_path / "wide") is None
    assert not (tmp_path / "wide").exists() and "at most 4,096 features" in describe_abstention(None)


@pytest.mark.e2e
def test_predict_says_not_a_digit_past_the_threshold_and_json_carries_the_score(report_run, mnist, tmp_path):
    """The quick report's run holds the detector its notebook fitted; predict reads it from the model's folder."""
    from digitlib.synthetic.nondigits import nondigit_pictures

    detector = read_detector(report_run)
    assert detector is not None and detector.validation_refused <= MAX_REFUSED
    for k, (family, picture) in enumerate(nondigit_pictures("held-out", 3)):
        picture.save(tmp_path / f"{family}_{k}.png")
    for k in range(5):  # MNIST test digits, dark on light paper as a user's would be
        Image.fromarray(255 - mnist.x_test[k]).save(tmp_path / f"digit_label{mnist.y_test[k]}_{k}.png")
    answer = digitlib_in_process("predict", tmp_path, "--model", report_run / "model.keras", "--json")
    rows = [json.loads(line) for line in answer.stdout.splitlines()]
    read = [row for row in rows if "error" not in row]
    assert all(isinstance(row["score"], float) and isinstance(row["abstained"], bool) for row in read)
    assert all(row["abstained"] == (row["score"] > detector.threshold) for row in read)
    refused = [row for row in read if row["abstained"]]
    assert refused, "none of 15 letters, scribbles, papers and photo crops was refused"
    assert sum(row["abstained"] for row in read if "digit_label" in row["path"]) <= 1
    text = digitlib_in_process("predict", tmp_path, "--model", report_run / "model.keras")
    assert "no not-a-digit detector" not in text.stderr
    for row in refused:
        line = next(line for line in text.stdout.splitlines() if line.startswith(row["path"] + ": "))
        judged = f"  label {row['label']}: {'right' if row['correct'] else 'wrong'}" if "label" in row else ""
        assert line == (f"{row['path']}: not a digit? (score {row['score']:.3g}; reads most like {row['digit']} "
                        f"{row['probability']:.0%}){judged}")
    # the same model elsewhere, with no detector beside it: read as a digit, with a note; a broken one: refused
    shutil.copy(report_run / "model.keras", tmp_path / "model.keras")
    alone = digitlib_in_process("predict", tmp_path / refused[0]["path"].rsplit("/", 1)[1], "--model",
                                tmp_path / "model.keras", cwd=tmp_path)
    assert alone.returncode == 0 and "not a digit?" not in alone.stdout
    assert alone.stderr.startswith("digitlib: note: this model has no not-a-digit detector")
    (tmp_path / ABSTENTION_FILE).write_bytes(b"PK\x03\x04 broken")
    broken = digitlib_in_process("predict", tmp_path / "paper_9.png", "--model", tmp_path / "model.keras")
    assert broken.returncode == 2 and len(broken.stderr.splitlines()) == 1
    assert broken.stderr.startswith(f"digitlib: error: {tmp_path / ABSTENTION_FILE}: not a not-a-digit detector")


def test_a_functional_model_s_features_come_from_its_own_graph_and_a_foreign_detector_is_one_error():
    """A user's functional model (its layers branch and join) gives what its first dense and last layers receive;
    a detector fitted on another model's features is refused as such (it was a TypeError from replaying layers)."""
    import keras

    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(8, activation="relu")(flat)
    joined = keras.layers.Add()([hidden, keras.layers.Dense(8)(hidden)])  # replayed in order, Add would get one input
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(joined))
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    outputs = network_outputs(model, images)
    expected = keras.Model(inputs, [flat, joined]).predict_on_batch(images)
    np.testing.assert_allclose(outputs.convolutional, expected[0], rtol=1e-6)
    np.testing.assert_allclose(outputs.features, expected[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelError, match=r"fitted on 4 features, but this model has 8: it belongs to another model"):
        _detector(features=4).scores(model, images)
    single = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat))  # no hidden layer at all
    with pytest.raises(ModelError, match=r"fitted on 4 features, but this model has 784"):
        _detector(features=4).scores(single, images)
