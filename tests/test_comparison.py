"""The comparison report on small fake run directories: significance, seeds, trust, shared mistakes."""

import json
import re
import warnings

import numpy as np
import pytest
from scipy import stats

from digitlib.params import validate_parameters
from digitlib.report import comparison as compare
from digitlib.report.results import save_test_predictions
from digitlib.report.significance import holm, mcnemar_exact, mean_interval, paired_difference_interval
from digitlib.rundir import RunDirectoryWarning
from digitlib.train.evaluation import evaluate_predictions
from test_rundir import valid_metrics, write_run

PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'  # markup in a user's parameter

# MNIST's test labels where this machine has them, which the comparison checks stored labels against; else
# stand-ins (nothing to check them against).
LABELS = compare.mnist_test_labels()
LABELS = np.arange(10_000) % 10 if LABELS is None else LABELS


def fake_run(reports, run_id, correct, *, seed=42, epochs=3, labels=LABELS, predictions=True, backend=None,
             recorded=None, **metrics):
    """A finished run scored on the first len(correct) test images, right exactly where `correct` says; `recorded`
    adds parameters to run.json's."""
    correct = np.asarray(correct, dtype=bool)
    truth = np.asarray(labels[:len(correct)])
    answers = np.where(correct, truth, (truth + 1) % 10)
    probabilities = np.full((len(correct), 10), 0.02)
    probabilities[np.arange(len(correct)), answers] = 0.82
    parameters = validate_parameters(model="seed", epochs=epochs, seed=seed)
    content = valid_metrics(float(correct.mean()), parameters)
    content["test"].update(images=len(correct), mistakes=int((~correct).sum()))
    record = {"parameters": {"model": "seed", "epochs": epochs, "seed": seed, **(recorded or {})},
              "metrics": {**content, **metrics}}
    run_dir = write_run(reports, run_id, **record, **({"backend": backend} if backend else {}))
    if predictions:
        save_test_predictions(run_dir, evaluate_predictions(probabilities, truth))
    return run_dir


def outcomes(count, wrong):
    """`count` images, all right but those at the positions in `wrong`."""
    correct = np.ones(count, dtype=bool)
    correct[list(wrong)] = False
    return correct


def test_common_mistakes_come_from_the_stored_predictions_over_the_images_all_runs_share(tmp_path, monkeypatch):
    # Written first, against the comparison that loaded every model.keras and predicted all 10,000 images.
    import keras

    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    fake_run(tmp_path, "run-1000", outcomes(1000, [3, 50, 77, 400, 900]), seed=1)  # 900 is beyond the shared 500
    fake_run(tmp_path, "run-500", outcomes(500, [3, 50, 77, 120, 499]), seed=2)
    fake_run(tmp_path, "run-old", outcomes(1000, range(0, 1000, 2)), seed=3, predictions=False)
    runs = compare.load_runs(tmp_path)

    images = np.zeros((10_000, 28, 28), dtype=np.uint8)
    figure = compare.common_mistakes_figure(runs, images, LABELS)  # as the notebook calls it
    assert figure._suptitle.get_text() == ("3 of the 500 test digits the runs share are missed by every run: "
                                           "possibly ambiguous or mislabeled (true → seed · 3 ep · seed 1); 1 run "
                                           "without recorded test predictions left out")

    found = compare.common_mistakes(runs, LABELS)
    assert found.shared == 500 and list(found.indices) == [3, 50, 77]
    assert [run.run_id for run in found.runs] == ["run-1000", "run-500"]
    assert [run.run_id for run in found.not_recorded] == ["run-old"]
    truth = LABELS[[3, 50, 77]]
    assert list(found.labels) == list(truth) and found.predictions.tolist() == [list((truth + 1) % 10)] * 2


def test_common_mistakes_say_when_there_is_nothing_to_show(tmp_path):
    fake_run(tmp_path, "a", outcomes(100, [5]), seed=1)
    fake_run(tmp_path, "b", outcomes(100, [6]), seed=2)
    images = np.zeros((10_000, 28, 28), dtype=np.uint8)
    figure = compare.common_mistakes_figure(compare.load_runs(tmp_path), images)
    assert figure._suptitle.get_text() == "None of the 100 test digits the runs share is missed by every run"
    old = tmp_path / "old"
    fake_run(old, "c", outcomes(100, [5]), predictions=False)
    figure = compare.common_mistakes_figure(compare.load_runs(old), images)
    assert figure._suptitle.get_text().startswith("No run kept its test predictions")
    with pytest.raises(ValueError, match="pass all 10,000 of MNIST's test images"):
        compare.common_mistakes_figure(compare.load_runs(old), images[:1000])


def test_predictions_of_other_images_or_a_damaged_file_count_as_not_recorded_with_a_warning(tmp_path):
    fake_run(tmp_path, "good", outcomes(100, [5]), seed=1)
    fake_run(tmp_path, "shuffled", outcomes(100, [5]), seed=2, labels=(LABELS + 3) % 10)
    (fake_run(tmp_path, "damaged", outcomes(100, [5]), seed=3) / "test_predictions.npz").write_bytes(b"not a zip")
    runs = compare.load_runs(tmp_path)
    with pytest.warns(RunDirectoryWarning) as caught:
        found = compare.common_mistakes(runs, LABELS)
    assert {run.run_id for run in found.not_recorded} == {"shuffled", "damaged"}
    assert any("test_predictions.npz is unreadable" in str(w.message) for w in caught)
    assert any("its labels are not MNIST's test labels at its indices" in str(w.message) for w in caught)


def test_a_pair_is_compared_on_its_shared_images_with_mcnemar_and_newcombe(tmp_path):
    a = outcomes(1000, list(range(10)) + [500, 501])  # 988 right
    b = outcomes(1000, list(range(4)) + list(range(600, 630)))  # 966 right
    fake_run(tmp_path, "a", a, seed=1)
    fake_run(tmp_path, "b", b, seed=2)
    (pair,) = compare.pairwise_comparisons(compare.load_runs(tmp_path))
    assert (pair.run_a.run_id, pair.run_b.run_id, pair.images) == ("a", "b", 1000)
    assert (pair.only_a, pair.only_b) == (30, 8)  # B misses 600-629 that A reads; A misses 4-9, 500, 501
    assert pair.accuracy_a == 0.988 and pair.accuracy_b == 0.966 and pair.difference == pytest.approx(0.022)
    assert pair.p_value == mcnemar_exact(30, 8) == pair.adjusted_p  # one test: Holm changes nothing
    assert pair.interval == paired_difference_interval(a, b) and pair.significant

    table = compare.pairwise_table(compare.load_runs(tmp_path))
    row = table.data.iloc[0]
    assert row["run A"] == "seed · 3 ep · seed 1 (a)" and row["shared images"] == "1,000"
    assert row["difference"] == "+2.20 pt" and row["verdict"] == "significant at 5%"
    assert (row["only A right"], row["only B right"]) == (30, 8)
    assert row["McNemar p"] == f"{mcnemar_exact(30, 8):.3g}"
    assert "every pair of the 2 runs" in table.caption


def test_holm_adjusts_over_every_pair(tmp_path):
    fake_run(tmp_path, "a", outcomes(1000, range(5)), seed=1)
    fake_run(tmp_path, "b", outcomes(1000, range(5, 25)), seed=2)
    fake_run(tmp_path, "c", outcomes(1000, range(100, 118)), seed=3)
    pairs = compare.pairwise_comparisons(compare.load_runs(tmp_path))
    assert [(p.run_a.run_id, p.run_b.run_id) for p in pairs] == [("a", "c"), ("a", "b"), ("c", "b")]
    raw = [p.p_value for p in pairs]
    np.testing.assert_allclose([p.adjusted_p for p in pairs], holm(raw))
    smallest = min(pairs, key=lambda p: p.p_value)
    assert smallest.adjusted_p == pytest.approx(min(1.0, 3 * smallest.p_value))  # the smallest of 3, times 3
    assert [p.significant for p in pairs] == [p.adjusted_p < 0.05 for p in pairs]


def with_validation(accuracy: float) -> dict:
    """fake_run's `training` metrics, its last epoch at `accuracy` on the validation split."""
    training = valid_metrics()["training"]
    training["history"]["val_accuracy"] = [0.9, accuracy]
    return {"training": training}


def test_beyond_twenty_runs_each_is_compared_with_the_run_of_highest_validation_accuracy(tmp_path):
    """Never the best on the test set: chosen there and then tested against the others there, 22% of sets of 25
    equally good runs showed a false "significant" (5% promised)."""
    for k in range(22):
        fake_run(tmp_path, f"run-{k:02d}", outcomes(500, range(k)), seed=k,
                 **with_validation(0.999 if k == 5 else 0.99 - k / 1000))
    runs = compare.load_runs(tmp_path)
    pairs = compare.pairwise_comparisons(runs)
    assert len(pairs) == 21 and {p.run_a.run_id for p in pairs} == {"run-05"}
    assert ("more than 20, so each is compared with one reference only, the run of highest validation accuracy "
            "(seed · 3 ep · seed 5, run-05)") in compare.pairwise_table(runs).caption
    figure = compare.significance_figure(runs)
    assert "each run against the reference" in figure.axes[0].get_title()
    assert len(figure.axes[0].get_yticklabels()) == 21 and len(figure.axes[0].get_xticklabels()) == 1
    assert figure.alt.startswith("Accuracy difference in percentage points, row minus column, of each of 21 runs "
                                 "against the reference (the highest validation accuracy), seed · 3 ep · seed 5: "
                                 f"{sum(p.significant for p in pairs)} of 21 pairs significant")
    largest = max(pairs, key=lambda pair: abs(pair.difference))
    assert figure.alt.endswith(f"over seed · 3 ep · seed 21 by 3.20 points on 500 test images (Holm p = "
                               f"{compare.p_text(largest.adjusted_p)}).")


def test_a_run_scored_on_fewer_test_images_is_neither_first_nor_the_reference(tmp_path):
    fake_run(tmp_path, "tiny", outcomes(100, []), seed=99, **with_validation(1.0))
    for k in range(21):
        fake_run(tmp_path, f"run-{k:02d}", outcomes(1000, range(k)), seed=k, **with_validation(0.99))
    runs = compare.load_runs(tmp_path)
    assert runs[0].run_id == "run-00" and runs[-1].run_id == "tiny"  # all 1,000-image runs, best first, then it
    assert {p.run_a.run_id for p in compare.pairwise_comparisons(runs)} == {"run-20"}  # ties: the newest id


def test_a_run_named_twice_is_compared_once(tmp_path):
    fake_run(tmp_path, "a", outcomes(1000, range(5)), seed=1)
    fake_run(tmp_path, "b", outcomes(1000, range(40)), seed=2)
    runs = compare.load_runs([tmp_path, tmp_path / "a"])
    assert [run.run_id for run in runs] == ["a", "b"] and len(compare.pairwise_comparisons(runs)) == 1


def test_intervals_hold_together_and_p_values_never_round_onto_the_level(tmp_path):
    """Holm adjusts the verdicts; the intervals, at 95% each, excluded 0 beside 'not significant'."""
    from digitlib.report.significance import paired_difference_interval

    assert compare.p_text(0.049983) == "0.04998" and compare.p_text(0.05) == "0.05" and compare.p_text(0.123) == "0.123"
    wrong = {"a": range(1000, 1020), "b": range(2000, 2030), "c": range(3000, 3051)}  # beside 100 shared mistakes
    right = {name: outcomes(10_000, [*range(100), *own]) for name, own in wrong.items()}
    for name, correct in right.items():
        fake_run(tmp_path, name, correct, seed=ord(name))
    pairs = compare.pairwise_comparisons(compare.load_runs(tmp_path))
    b_c = next(pair for pair in pairs if {pair.run_a.run_id, pair.run_b.run_id} == {"b", "c"})
    right_b, right_c = right["b"], right["c"]
    assert b_c.interval == paired_difference_interval(right_b, right_c, 1 - 0.05 / 3)
    assert not b_c.significant and b_c.interval[0] < 0 < paired_difference_interval(right_b, right_c)[0]
    caption = compare.pairwise_table(compare.load_runs(tmp_path)).caption
    assert "each interval at 98.33% (Bonferroni), so that all of them hold together at 95%" in caption


def test_the_significance_figure_stars_significant_cells_and_needs_two_runs(tmp_path):
    fake_run(tmp_path, "a", outcomes(1000, range(2)), seed=1)
    fake_run(tmp_path, "b", outcomes(1000, range(40)), seed=2)
    figure = compare.significance_figure(compare.load_runs(tmp_path))
    texts = sorted(text.get_text() for text in figure.axes[0].texts)
    assert texts == ["+3.80 *", "-3.80 *"]
    assert figure.alt == (
        "Accuracy difference in percentage points, row minus column, of every pair of 2 runs: 1 of 1 pair "
        "significant at 5% after Holm's correction; the largest, seed · 3 ep · seed 1 over seed · 3 ep · seed 2 by "
        f"3.80 points on 1,000 test images (Holm p = {mcnemar_exact(38, 0):.3g}).")
    assert compare.significance_figure(compare.load_runs(tmp_path / "a")) is None


def test_runs_without_predictions_are_listed_as_not_recorded(tmp_path):
    fake_run(tmp_path, "a", outcomes(100, [1]), seed=1)
    fake_run(tmp_path, "old", outcomes(100, [1, 2]), seed=2, predictions=False)
    table = compare.pairwise_table(compare.load_runs(tmp_path))
    (row,) = table.data.to_dict("records")
    assert row["run A"].endswith("(old)") and row["verdict"].startswith("not recorded")
    assert "1 run with recorded test predictions: nothing to compare; 1 without them" in table.caption


def test_seeds_of_one_configuration_are_grouped(tmp_path):
    accuracies = {1: 0.99, 2: 0.98, 3: 0.97}
    for seed, accuracy in accuracies.items():
        fake_run(tmp_path, f"seed-{seed}", outcomes(100, range(round(100 * (1 - accuracy)))), seed=seed)
    fake_run(tmp_path, "longer", outcomes(100, []), seed=1, epochs=5)
    fake_run(tmp_path, "on-jax", outcomes(100, [1]), seed=1, backend="jax")
    runs = compare.load_runs(tmp_path)
    groups = compare.seed_groups(runs)
    assert sorted(sorted(r.run_id for r in group) for group in groups) == [
        ["longer"], ["on-jax"], ["seed-1", "seed-2", "seed-3"]]
    table = compare.seed_groups_table(runs)
    assert list(table["seeds"]) == [1, 1, 3]
    grouped = table[table["seeds"] == 3].iloc[0]
    assert grouped.name == "seed · 3 ep" and grouped["seed values"] == "1, 2, 3"
    spread = np.std(list(accuracies.values()), ddof=1)
    assert grouped["test accuracy (mean ± sd)"] == f"98.00% ± {spread:.2%}"
    half = stats.t.ppf(0.975, 2) * spread / np.sqrt(3)  # Student's t with 2 degrees of freedom: 4.30
    assert grouped["95% interval of the mean (t)"] == f"{0.98 - half:.2%} – 100.00%" == "95.52% – 100.00%"  # ≤ 100%
    assert table.loc["seed · 5 ep", "test accuracy (mean ± sd)"] == "100.00% ± —"
    assert table.loc["seed · 5 ep", "95% interval of the mean (t)"] == "—"


def test_a_run_recorded_before_label_smoothing_shares_the_configuration_of_runs_trained_without_it(tmp_path):
    """Its metrics.json has no label_smoothing: it trained with 0, as the seed model's runs now do, so the two are
    seeds of one configuration and label smoothing is no difference between them."""
    fake_run(tmp_path, "now", outcomes(100, []), seed=1, recorded={"label_smoothing": 0.0})
    earlier = {k: v for k, v in validate_parameters(model="seed", epochs=3, seed=2).items() if k != "label_smoothing"}
    fake_run(tmp_path, "before", outcomes(100, [1]), seed=2, parameters=earlier)
    runs = compare.load_runs(tmp_path)
    table = compare.seed_groups_table(runs)
    assert list(table.index) == ["seed · 3 ep"] and list(table["seeds"]) == [2]
    assert "label_smoothing" not in compare.differences_table(runs).data.index


def test_the_mean_interval_is_students_t_over_the_seeds():
    low, high = mean_interval([0.97, 0.98, 0.99])
    assert (low, high) == pytest.approx((0.98 - 4.302653 * 0.01 / np.sqrt(3), 0.98 + 4.302653 * 0.01 / np.sqrt(3)))
    assert mean_interval([0.5, 0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="one seed has no spread"):
        mean_interval([0.98])


def test_only_the_parameters_that_differ_are_shown_with_backend_and_model_version(tmp_path):
    fake_run(tmp_path, "a", outcomes(100, []), seed=1, recorded={"data_dir": PAYLOAD})
    fake_run(tmp_path, "b", outcomes(100, [1]), seed=2, epochs=5, backend="jax")
    table = compare.differences_table(compare.load_runs(tmp_path))
    assert table.data.to_dict("index") == {
        "epochs": {"a": "3", "b": "5"}, "seed": {"a": "1", "b": "2"}, "data_dir": {"a": PAYLOAD, "b": "None"},
        "backend": {"a": "tensorflow", "b": "jax"}, "model version": {"a": "1", "b": "1"}}
    assert table.caption.startswith("Only the parameters that differ between the 2 runs; all other parameters are "
                                    "equal: model, batch_size, ")
    page = table.to_html()
    assert PAYLOAD not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # a path is text, not markup
    same = tmp_path / "same"
    fake_run(same, "c", outcomes(100, []), seed=1)
    fake_run(same, "d", outcomes(100, [1]), seed=1)
    table = compare.differences_table(compare.load_runs(same))
    assert list(table.data.index) == ["backend", "model version"] and table.caption.startswith("No parameter differs")


def _nudge(run_dir, position, digit, amount):
    """Move `amount` of image `position`'s probability from its likeliest digit to `digit`."""
    from digitlib.report.results import read_test_predictions

    _, evaluation = read_test_predictions(run_dir)
    probabilities = evaluation.probabilities.copy()
    probabilities[position, probabilities[position].argmax()] -= amount
    probabilities[position, digit] += amount
    save_test_predictions(run_dir, evaluate_predictions(probabilities, evaluation.labels))


def test_two_runs_that_differ_only_in_backend_get_an_agreement_receipt(tmp_path):
    fake_run(tmp_path, "on-tf", outcomes(200, [3]), seed=7)
    jax = fake_run(tmp_path, "on-jax", outcomes(200, [3]), seed=7, backend="jax")
    fake_run(tmp_path, "other-seed", outcomes(200, [4, 5]), seed=8, backend="jax")
    fake_run(tmp_path, "jax-no-predictions", outcomes(200, [4]), seed=9, backend="jax", predictions=False)
    fake_run(tmp_path, "tf-no-predictions", outcomes(200, [6]), seed=9)
    truth = LABELS[:200]
    _nudge(jax, 10, (truth[10] + 2) % 10, 0.5)  # 0.82 -> 0.32 and 0.02 -> 0.52: read as another digit
    _nudge(jax, 20, (truth[20] + 3) % 10, 0.25)  # 0.82 -> 0.57: the same digit
    runs = compare.load_runs(tmp_path)
    assert sorted(tuple(sorted(r.run_id for r in pair)) for pair in compare.backend_pairs(runs)) == [
        ("jax-no-predictions", "tf-no-predictions"), ("on-jax", "on-tf")]
    table = compare.backend_agreement_table(runs).data.set_index("run A")
    receipt = table.loc["seed · 3 ep · seed 7 (on-tf)"]
    assert (receipt["backend A"], receipt["run B"], receipt["backend B"]) == (
        "tensorflow", "seed · 3 ep · seed 7 (on-jax)", "jax")
    assert receipt["shared images"] == "200" and receipt["predictions that differ"] == "1 (0.50%)"
    assert float(receipt["largest probability difference"]) == pytest.approx(0.5)
    unrecorded = table.loc["seed · 3 ep · seed 9 (tf-no-predictions)"]
    assert unrecorded["predictions that differ"] == "not recorded"
    alone = tmp_path / "alone"
    fake_run(alone, "x", outcomes(100, []), seed=1)
    fake_run(alone, "y", outcomes(100, []), seed=2, backend="jax")
    empty = compare.backend_agreement_table(compare.load_runs(alone))
    assert empty.data.empty and empty.caption.startswith("No two of the runs differ only in backend")


def numbered_images():
    """MNIST-sized test images, each carrying its own index in two pixels, so a thumbnail says which image it is."""
    images = np.zeros((10_000, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(10_000) // 256, np.arange(10_000) % 256
    return images


def shown(axes_list):
    """The image index each thumbnail shows, and its title, in order."""
    return [(int(a.images[0].get_array()[0, 0]) * 256 + int(a.images[0].get_array()[0, 1]), a.get_title())
            for a in axes_list if a.images]


def test_the_images_one_run_reads_right_and_the_other_wrong_are_shown_both_ways(tmp_path):
    only_b_wrong = [2, 30, 31, 400]  # A reads these right, B wrong
    only_a_wrong = [7, 500]  # B reads these right, A wrong
    both_wrong = [9]
    fake_run(tmp_path, "a", outcomes(1000, only_a_wrong + both_wrong), seed=1)
    fake_run(tmp_path, "b", outcomes(1000, only_b_wrong + both_wrong), seed=2)
    fake_run(tmp_path, "c", outcomes(1000, range(100)), seed=3)  # third: not in the pair
    runs = compare.load_runs(tmp_path)
    found = compare.disagreements(runs)
    assert (found.run_a.run_id, found.run_b.run_id) == ("a", "b") and len(found.indices) == 1000
    assert list(found.indices[found.only_a]) == only_b_wrong and list(found.indices[found.only_b]) == only_a_wrong

    figure = compare.disagreement_figure(runs, numbered_images())
    first, second = figure.subfigs
    assert first._suptitle.get_text() == "4 test images A reads right and B wrong"
    assert second._suptitle.get_text() == "2 test images B reads right and A wrong"
    assert figure._suptitle.get_text().startswith("A = seed · 3 ep · seed 1 (a), B = seed · 3 ep · seed 2 (b); 1,000")
    truth = LABELS
    assert shown(first.axes) == [(i, f"{truth[i]}: A {truth[i]}, B {(truth[i] + 1) % 10}") for i in only_b_wrong]
    assert shown(second.axes) == [(i, f"{truth[i]}: A {(truth[i] + 1) % 10}, B {truth[i]}") for i in only_a_wrong]

    first_b, first_a = only_b_wrong[0], only_a_wrong[0]
    assert figure.alt == (
        f"4 test images A reads right and B wrong, the first a {truth[first_b]} B reads as "
        f"{(truth[first_b] + 1) % 10}; 2 test images B reads right and A wrong, the first a {truth[first_a]} A reads "
        f"as {(truth[first_a] + 1) % 10}; "
        "of the 1,000 test images both were scored on, A = seed · 3 ep · seed 1 (a), B = seed · 3 ep · seed 2 (b); "
        "each thumbnail titled with its true digit and both readings.")
    few = compare.disagreement_figure(runs, numbered_images(), count=3)  # bounded, with the total in the title
    assert few.alt.startswith("4 test images A reads right and B wrong (the first 3 shown), the first a ")
    assert few.subfigs[0]._suptitle.get_text() == "4 test images A reads right and B wrong: the first 3 shown"
    assert [index for index, _ in shown(few.subfigs[0].axes)] == only_b_wrong[:3]
    assert compare.disagreement_figure(compare.load_runs(tmp_path / "a"), numbered_images()) is None


def test_no_disagreement_one_way_is_said_so(tmp_path):
    fake_run(tmp_path, "a", outcomes(100, [1]), seed=1)
    fake_run(tmp_path, "b", outcomes(100, [1, 2]), seed=2)
    figure = compare.disagreement_figure(compare.load_runs(tmp_path), numbered_images())
    assert figure.subfigs[1]._suptitle.get_text() == "No test image B reads right and A wrong"
    assert "; no test image B reads right and A wrong; of the 100 test images" in figure.alt
    assert shown(figure.subfigs[1].axes) == []
    with pytest.raises(ValueError, match="pass all 10,000 of MNIST's test images"):
        compare.disagreement_figure(compare.load_runs(tmp_path), numbered_images()[:100])


def test_the_confusion_matrix_difference_is_b_minus_a(tmp_path):
    truth = LABELS[:1000]
    sevens, fours = np.flatnonzero(truth == 7), np.flatnonzero(truth == 4)
    fake_run(tmp_path, "a", outcomes(1000, fours[:2]), seed=1)  # reads two 4s as 5s
    fake_run(tmp_path, "b", outcomes(1000, sevens[:3]), seed=2)  # reads three 7s as 8s
    found = compare.disagreements(compare.load_runs(tmp_path))
    expected = np.zeros((10, 10), dtype=int)
    expected[7, 8], expected[7, 7], expected[4, 5], expected[4, 4] = 3, -3, -2, 2
    np.testing.assert_array_equal(found.confusion_difference, expected)
    figure = compare.confusion_difference_figure(compare.load_runs(tmp_path))
    assert figure.axes[0].get_title().startswith("Confusion matrix, B − A: +3 mistakes where B errs more often, "
                                                 "−2 where it errs less often")
    assert sorted(t.get_text() for t in figure.axes[0].texts if t.get_text()) == ["-2", "3"]  # no diagonal
    assert figure.alt == (
        "Confusion matrix of B minus A, A = seed · 3 ep · seed 1 (a), B = seed · 3 ep · seed 2 (b), on the 1,000 test "
        "images both were scored on: +3 mistakes where B errs more often, −2 where it errs less often; the largest "
        "change, 7 read as 8: B 3 times, A never.")
    assert compare.confusion_difference_figure(compare.load_runs(tmp_path / "a")) is None


def test_reliability_diagrams_and_robustness_are_overlaid_for_two_runs_or_more(tmp_path):
    fake_run(tmp_path, "a", outcomes(100, [1]), seed=1, robustness=ROBUSTNESS)
    fake_run(tmp_path, "b", outcomes(100, [1, 2]), seed=2,
             robustness={**ROBUSTNESS, "accuracy": {"rotate": 0.8, "blur": 0.9}, "mean_accuracy": 0.85})
    fake_run(tmp_path, "old", outcomes(100, [1, 2, 3]), seed=3, predictions=False)
    runs = compare.load_runs(tmp_path)
    axes = compare.reliability_overlay_figure(runs).axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines) == ["perfectly calibrated", "seed · 3 ep · seed 1 (ECE 17.00%)",
                           "seed · 3 ep · seed 2 (ECE 16.00%)"]
    # every image at confidence 0.82: one bin, at 99% and 98% accuracy
    assert list(lines["seed · 3 ep · seed 1 (ECE 17.00%)"].get_ydata()) == [pytest.approx(0.99)]
    assert "1 run without test predictions left out" in axes.get_title()
    assert compare.reliability_overlay_figure(runs).alt == (
        "Reliability diagrams of 2 runs overlaid, accuracy against confidence in 15 confidence bins, the diagonal "
        "perfect calibration: expected calibration error from 16.00% (seed · 3 ep · seed 2) to 17.00% (seed · 3 ep · "
        "seed 1); 1 run without test predictions left out.")

    figure = compare.robustness_overlay_figure(runs)  # runs made before the curves were kept: one severity each
    assert [axes.get_title() for axes in figure.axes] == ["Gaussian noise", "rotate", "Blur"]
    gaussian_noise, rotate, blur = figure.axes
    assert [t.get_text() for t in rotate.get_xticklabels()] == ["clean", "1", "2", "3"]
    (first, second) = rotate.get_lines()  # from the clean accuracy to the one at severity 3
    assert list(first.get_xdata()) == [0, 3] and first.get_linestyle() == "--"
    np.testing.assert_allclose(first.get_ydata(), [99, 91])
    np.testing.assert_allclose(second.get_ydata(), [99, 80])
    np.testing.assert_allclose(gaussian_noise.get_lines()[1].get_ydata(), [99, np.nan])  # b did not measure it
    assert "1 run not recorded" in figure._suptitle.get_text()
    assert figure.alt == (
        "Accuracy against severity under 3 shifts, one panel each, of 2 runs (each at its summary's severity only): "
        "seed · 3 ep · seed 1, mean 93.0% at severity 3, lowest rotate 91.0%; seed · 3 ep · seed 2, mean 85.0% at "
        "severity 3, lowest rotate 80.0%; 1 run not recorded.")
    one = compare.load_runs(tmp_path / "a")
    assert compare.reliability_overlay_figure(one) is None and compare.robustness_overlay_figure(one) is None


def robustness_with_curves(accuracies: dict[str, list[float]], seed: int = 0) -> dict:
    """metrics.json's robustness as a training run records it now (robustness_summary), with these curves."""
    import pandas as pd

    from digitlib.report.robustness import SHIFTS, robustness_summary

    table = pd.DataFrame([{"shift": shift, "title": SHIFTS[shift].title, "level": level,
                           "value": float(SHIFTS[shift].levels[level]), "unit": SHIFTS[shift].unit, "accuracy": value}
                          for shift, values in accuracies.items() for level, value in enumerate(values)])
    table.attrs.update(count=1000, seed=seed)
    return robustness_summary(table)


def test_robustness_is_overlaid_across_severities_where_runs_kept_their_curves(tmp_path):
    fake_run(tmp_path, "curves", outcomes(100, []), seed=1, robustness=robustness_with_curves(
        {"rotation": [0.99, 0.97, 0.9, 0.7, 0.4], "blur": [0.99, 0.99, 0.98, 0.96, 0.93]}))
    fake_run(tmp_path, "point", outcomes(100, [1]), seed=2,
             robustness={**ROBUSTNESS, "severity": 2, "accuracy": {"rotation": 0.85}, "mean_accuracy": 0.85})
    fake_run(tmp_path, "other", outcomes(100, [1, 2]), seed=3, robustness=robustness_with_curves(
        {"rotation": [0.98, 0.95, 0.8, 0.6, 0.3], "blur": [0.98, 0.97, 0.95, 0.9, 0.85]}))
    runs = compare.load_runs(tmp_path)  # the curves pass metrics.json's schema
    assert runs[0].metrics["robustness"]["curves"]["rotation"]["levels"][1] == {"value": 15.0, "accuracy": 0.97}
    figure = compare.robustness_overlay_figure(runs)
    rotation, blur = figure.axes
    assert (rotation.get_title(), rotation.get_xlabel()) == ("Rotation", "degrees")
    assert [t.get_text() for t in rotation.get_xticklabels()] == ["0", "15", "30", "45", "60"]
    curves, point, other = rotation.get_lines()  # best first
    assert list(curves.get_xdata()) == [0, 1, 2, 3, 4] and curves.get_linestyle() == "-"
    np.testing.assert_allclose(curves.get_ydata(), [99, 97, 90, 70, 40])
    np.testing.assert_allclose(other.get_ydata(), [98, 95, 80, 60, 30])
    assert list(point.get_xdata()) == [0, 2] and point.get_linestyle() == "--"  # made before: its one severity
    np.testing.assert_allclose(point.get_ydata(), [99, 85])
    np.testing.assert_allclose(blur.get_lines()[1].get_ydata(), [99, np.nan])
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["seed · 3 ep · seed 1: every severity, 1,000 images, mean 94.0% at severity 2",
                      "seed · 3 ep · seed 2: severity 2 only, 1,000 images, mean 85.0% at severity 2",
                      "seed · 3 ep · seed 3: every severity, 1,000 images, mean 87.5% at severity 2"]
    assert figure.alt == (
        "Accuracy against severity under 2 shifts, one panel each, of 3 runs (2 with every severity, 1 with its "
        "summary's severity only): seed · 3 ep · seed 1, mean 94.0% at severity 2, lowest rotation 90.0%, at the "
        "strongest severity from 40.0% (rotation) to 93.0% (blur); seed · 3 ep · seed 2, mean 85.0% at severity 2, "
        "lowest rotation 85.0%; seed · 3 ep · seed 3, mean 87.5% at severity 2, lowest rotation 80.0%, at the "
        "strongest severity from 30.0% (rotation) to 85.0% (blur).")


@pytest.mark.parametrize("curves", [
    {"rotation": {"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.99}]}},  # one level is no curve
    {"rotation": {"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.99}, {"value": 15, "accuracy": 1.5}]}},
    {"rotation": {"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.9}, {"value": "<b>", "accuracy": 0.8}]}},
    {"<b>x</b>": {"unit": "degrees", "levels": [{"value": 0, "accuracy": 0.9}, {"value": 15, "accuracy": 0.8}]}},
    {"rotation": {"unit": "x" * 41, "levels": [{"value": 0, "accuracy": 0.9}, {"value": 15, "accuracy": 0.8}]}},
])
def test_a_run_whose_robustness_curves_do_not_validate_is_skipped(tmp_path, curves):
    fake_run(tmp_path, "a", outcomes(100, []), seed=1, robustness=ROBUSTNESS)  # made before curves: still read
    bad = fake_run(tmp_path, "bad", outcomes(100, [1]), seed=2, robustness={**ROBUSTNESS, "curves": curves})
    with pytest.warns(RunDirectoryWarning, match=f"skipping {bad}: metrics.json "):
        assert [run.run_id for run in compare.load_runs(tmp_path)] == ["a"]


CALIBRATION = {"ece": 0.012, "nll": 0.03, "brier": 0.02, "bins": 15, "temperature": 1.3,
               "ece_after_temperature": 0.004}
ROBUSTNESS = {"images": 1000, "seed": 0, "severity": 3, "clean_accuracy": 0.99,
              "accuracy": {"gaussian_noise": 0.95, "rotate": 0.91}, "mean_accuracy": 0.93}


def test_trust_shows_calibration_and_robustness_side_by_side(tmp_path):
    fake_run(tmp_path, "measured", outcomes(100, []), seed=1, calibration=CALIBRATION, robustness=ROBUSTNESS)
    fake_run(tmp_path, "no-split", outcomes(100, [1]), seed=2,
             calibration={**CALIBRATION, "temperature": None, "ece_after_temperature": None})
    fake_run(tmp_path, "older", outcomes(100, [1, 2]), seed=3)
    table = compare.trust_table(compare.load_runs(tmp_path))
    assert table.loc["measured"].to_dict() == {
        "model": "seed · 3 ep · seed 1", "test accuracy": "100.00%", "ECE": "1.20%",
        "ECE after temperature": "0.40% (T = 1.30)", "mean accuracy under shifts": "93.00%", "severity": 3,
        "shifted images": "1,000"}
    assert table.loc["no-split", "ECE after temperature"].startswith("— (no validation split")
    assert table.loc["no-split", "mean accuracy under shifts"] == "not recorded"
    assert set(table.loc["older"].drop(["model", "test accuracy"])) == {"not recorded"}


MARKED = "<img src=x onerror=alert(4)>"  # a run folder's name, given as a path: the run's id


def _trained(seconds, validation, recall=None):
    """metrics.json's training and per-class parts: this long, these validation accuracies, this recall per digit."""
    training = {**valid_metrics()["training"], "train_seconds": seconds}
    training["history"] = {**training["history"], "val_accuracy": validation}
    per_class = {str(d): {"precision": 1.0, "recall": (recall or {}).get(d, 1.0), "f1": 1.0, "support": 10}
                 for d in range(10)}
    return {"training": training, "per_class": per_class}


def test_every_figure_says_what_it_shows_with_the_runs_own_numbers_and_a_name_of_markup_stays_text(tmp_path, capsys):
    import nbformat
    from bs4 import BeautifulSoup
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from digitlib.run.runner import render_html
    from test_pages import PNG

    curves = robustness_with_curves({"rotation": [0.99, 0.9, 0.8, 0.6, 0.3], "blur": [0.99, 0.99, 0.98, 0.9, 0.8]})
    fake_run(tmp_path, "a", outcomes(1000, [3, 5, 7]), seed=1, robustness=curves,
             **_trained(10.0, [0.9, 0.95, 0.97], {4: 0.95}))
    fake_run(tmp_path / "elsewhere", MARKED, outcomes(1000, [3] + list(range(10, 30))), seed=1,
             robustness={**ROBUSTNESS, "severity": 2}, **_trained(4.25, [0.93, 0.96, 0.95], {8: 0.9}))
    fake_run(tmp_path, "c", outcomes(1000, [3] + list(range(100, 160))), seed=2, **_trained(40.0, [0.8, 0.85, 0.86]))
    runs = compare.load_runs([tmp_path / "a", tmp_path / "elsewhere" / MARKED, tmp_path / "c"])
    marked = f"seed · 3 ep · seed 1 ({MARKED})"  # its label repeats the best run's: its id tells them apart
    truth = LABELS
    images = numbered_images()
    figures = [compare.significance_figure(runs), compare.confusion_difference_figure(runs),
               compare.disagreement_figure(runs, images, count=2, columns=2), compare.reliability_overlay_figure(runs),
               compare.robustness_overlay_figure(runs), compare.accuracy_time_figure(runs),
               compare.per_digit_figure(runs), compare.curves_figure(runs),
               compare.common_mistakes_figure(runs, images, count=2)]  # few thumbnails: quick to draw
    significance, confusion, both_ways, reliability, robustness, cost, digits, learning, shared = figures
    assert significance.alt.endswith(f"the largest, seed · 3 ep · seed 1 (a) over seed · 3 ep · seed 2 by 5.80 points "
                                     f"on 1,000 test images (Holm p = {min(1, 3 * mcnemar_exact(60, 2)):.3g}).")
    assert f"B = seed · 3 ep · seed 1 ({MARKED}), on the 1,000 test images" in confusion.alt
    assert both_ways.alt.startswith(f"20 test images A reads right and B wrong (the first 2 shown), the first a "
                                    f"{truth[10]} B reads as {(truth[10] + 1) % 10}; 2 test images B reads right and "
                                    "A wrong")
    # every image at confidence 0.82, so each run's calibration error is its accuracy's distance from 82%
    assert reliability.alt.endswith(f"from {0.939 - 0.82:.2%} (seed · 3 ep · seed 2) to {0.997 - 0.82:.2%} "
                                    "(seed · 3 ep · seed 1 (a)).")
    assert f"{marked}, mean 93.0% at severity 2, lowest rotate 91.0%" in robustness.alt
    assert "at the strongest severity from 30.0% (rotation) to 80.0% (blur)" in robustness.alt
    assert cost.alt == ("Test accuracy against training time (log scale) of 3 runs: the most accurate, seed · 3 ep · "
                        f"seed 1 (a), 99.70% in 10.0 s; the quickest, {marked}, 97.90% in 4.2 s.")
    assert digits.alt == (f"Recall per digit (%) of 3 runs, one row each: the lowest, 90.0% for digit 8 ({marked}); "
                          "over the runs, digit 8 is the hardest, 96.7% on average.")
    assert learning.alt == ("Validation accuracy per epoch of 3 runs: best 97.00% (seed · 3 ep · seed 1 (a)) at "
                            "epoch 3 of 3.")
    assert shared.alt == ("1 test digit of the 1,000 the 3 runs share is missed by every run (all shown, each titled "
                          f"with its true digit and the best run's reading, seed · 3 ep · seed 1 (a)): {truth[3]} read "
                          f"as {(truth[3] + 1) % 10}.")

    # as the notebook shows them: a PNG (a pixel here; drawing them all takes seconds) with the figure's alt text
    outputs = [new_output("display_data", data={"image/png": PNG}, metadata=figure._repr_mimebundle_()[1])
               for figure in figures]
    notebook = tmp_path / "comparison.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("", outputs=outputs)]), notebook)
    written = render_html(notebook, tmp_path / "report.html").read_text()
    assert "alt text" not in capsys.readouterr().err  # no warning: every image says what it shows
    page = BeautifulSoup(written, "html.parser")
    assert [image["alt"] for image in page.find_all("img")] == [figure.alt for figure in figures]  # read back as text
    assert written.count("<img") == len(figures) and written.count("&lt;img src=x onerror=alert(4)&gt;") == 5


def test_the_runs_table_shows_each_accuracys_95_percent_interval(tmp_path):
    fake_run(tmp_path, "a", outcomes(1000, range(7)), seed=1)
    table = compare.runs_table(compare.load_runs(tmp_path))
    assert table.loc["a", "test accuracy"] == "99.30%" and table.loc["a", "95% interval"] == "98.56% – 99.66%"
    assert table.loc["a", "test images"] == 1000


SECTIONS = ["The runs, best first", "What differs between the runs", "Which differences are significant",
            "Seeds of one configuration", "The same run on another backend", "Where the mistakes moved",
            "What one reads right and the other wrong", "How far to trust each run", "Reliability diagrams",
            "Robustness to shifts", "Accuracy against training time", "Per-digit accuracy", "Learning curves",
            "Digits every model gets wrong: possibly ambiguous or mislabeled"]


def test_the_notebook_tells_the_sections_in_order():
    from conftest import REPOSITORY

    notebook = json.loads((REPOSITORY / "notebooks" / "compare_runs.ipynb").read_text())
    headings = [line[3:] for cell in notebook["cells"] if cell["cell_type"] == "markdown"
                for line in "".join(cell["source"]).splitlines() if line.startswith("## ")]
    assert headings == SECTIONS


def test_the_notebook_checks_stored_labels_against_the_mnist_in_its_data_dir(tmp_path, mnist_dir, monkeypatch):
    """With -p data_dir and no other copy of MNIST on the machine, the significance sections check each run's stored
    labels against data_dir's (before, they looked at $DIGITLIB_DATA_DIR and Keras' download only, and warned that
    labels were checked against metrics.json only). Its code cells run here up to the shared mistakes' section."""
    from conftest import REPOSITORY

    monkeypatch.delenv("DIGITLIB_DATA_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras-download"))
    assert compare.mnist_test_labels() is None
    truth = compare.mnist_test_labels(mnist_dir)
    fake_run(tmp_path / "runs", "a", outcomes(1000, range(5)), seed=1, labels=truth)
    fake_run(tmp_path / "runs", "b", outcomes(1000, range(5, 40)), seed=2, labels=truth)
    shifted = fake_run(tmp_path / "runs", "shifted", outcomes(1000, range(3)), seed=3, labels=np.roll(truth, 1))
    notebook = json.loads((REPOSITORY / "notebooks" / "compare_runs.ipynb").read_text())
    cells = ["".join(cell["source"]).replace("%matplotlib inline", "") for cell in notebook["cells"]
             if cell["cell_type"] == "code" and "parameters" not in cell["metadata"].get("tags", [])]
    cells = cells[:[i for i, cell in enumerate(cells) if "significance_figure" in cell][0] + 1]
    namespace = {"runs": str(tmp_path / "runs"), "title": "Labels", "data_dir": str(mnist_dir), "output_dir": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cell in cells:
            exec(cell, namespace)
    messages = [str(warning.message) for warning in caught]
    assert not [message for message in messages if "checked against metrics.json only" in message], messages
    assert f"{shifted}: test_predictions.npz: its labels are not MNIST's test labels at its indices; its test " \
           "predictions count as not recorded" in messages


@pytest.mark.e2e
@pytest.mark.full  # make test runs the comparison notebook at the end of its sweeps (test_sweep, test_cluster)
def test_the_comparison_notebook_runs_end_to_end_on_stored_predictions(tmp_path, mnist, mnist_dir):
    from bs4 import BeautifulSoup

    from conftest import digitlib_cli, run_dir_of
    from digitlib.run.pages import images_without_alt

    reports = tmp_path / "runs"
    mistakes = [int(i) for i in np.flatnonzero(mnist.y_test[:1000] == 7)[:4]]
    fake_run(reports, "first", outcomes(1000, mistakes[:3]), seed=1, labels=mnist.y_test,
             calibration=CALIBRATION, robustness=ROBUSTNESS)
    fake_run(reports, "second", outcomes(1000, mistakes + list(range(900, 930))), seed=2, labels=mnist.y_test,
             robustness=robustness_with_curves({"rotation": [0.99, 0.9, 0.7, 0.5, 0.3],
                                                "blur": [0.99, 0.98, 0.97, 0.9, 0.8]}))
    fake_run(reports, "third", outcomes(500, mistakes), seed=3, labels=mnist.y_test)
    fake_run(reports, "older", outcomes(1000, range(50)), seed=4, epochs=5, predictions=False)
    result = digitlib_cli("report", "--json", "--notebook", "compare_runs", "-p", "runs", reports,
                          "-p", "data_dir", mnist_dir, "-p", "title", "Fake runs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "alt text" not in result.stderr, result.stderr[-3000:]  # render_html's warning: every figure has one
    run_dir = run_dir_of(result, tmp_path)
    executed = json.loads((run_dir / "notebook.ipynb").read_text())
    outputs = [output for cell in executed["cells"] if cell["cell_type"] == "code" for output in cell["outputs"]]
    assert not [output for output in outputs if output["output_type"] == "error"]
    html = (run_dir / "report.html").read_text()
    for heading in SECTIONS:
        assert heading in html, heading
    assert "significant at 5%" in html and "not recorded" in html
    # significance, confusion difference, both-ways thumbnails, reliability, robustness, cost, digits, curves, shared
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 9
    page = BeautifulSoup(html, "html.parser")
    assert images_without_alt(page) == []
    alts = [image["alt"] for image in page.find_all("img")]
    assert "Training accuracy per epoch of 4 runs: best 97.00% (seed · 3 ep · seed 1) at epoch 3 of 3." in alts
    assert any(alt.startswith("Accuracy against severity under 4 shifts, one panel each, of 2 runs (1 with every "
                              "severity, 1 with its summary's severity only)") for alt in alts), alts
    assert "No two of the runs differ only in backend" in html and "all other parameters are equal" in html


@pytest.mark.parametrize("field, value", [
    ("accuracy", "NaN"),  # passed minimum 0 and maximum 1
    ("images", "1000000000000"),  # the 95% interval of a trillion images
    ("epochs", '"3"'),  # metrics' parameters: a string where the label wants a number
    ("model", '{"name": "seed"}'),  # a dict where the label wants a name
    ("seed", '"1"'),  # sorted against the other runs' integer seeds
])
def test_a_run_whose_metrics_would_break_the_comparison_is_skipped_and_the_others_compared(tmp_path, field, value):
    fake_run(tmp_path, "a", outcomes(1000, range(5)), seed=1)
    fake_run(tmp_path, "b", outcomes(1000, range(5, 40)), seed=2)
    bad = fake_run(tmp_path, "bad", outcomes(1000, range(3)), seed=3)
    text = (bad / "metrics.json").read_text()
    where = text.index('"parameters"') if field in ("epochs", "model", "seed") else text.index('"test"')
    start = text.index(f'"{field}": ', where) + len(field) + 4
    end = min(text.index(",", start), text.index("}", start))
    (bad / "metrics.json").write_text(text[:start] + value + text[end:])
    with pytest.warns(RunDirectoryWarning, match=f"skipping {bad}: metrics.json "):
        runs = compare.load_runs(tmp_path)
    assert [run.run_id for run in runs] == ["a", "b"]
    compare.runs_table(runs)
    assert len(compare.pairwise_table(runs).data) == 1 and len(compare.seed_groups_table(runs)) == 1
    compare.trust_table(runs), compare.accuracy_time_figure(runs), compare.per_digit_figure(runs)
    compare.curves_figure(runs), compare.significance_figure(runs)


def _rotation(robustness: dict, **changes) -> dict:
    """`robustness` with its rotation curve's unit or its second level's value changed."""
    rotation = robustness["curves"]["rotation"]
    levels = [rotation["levels"][0], {**rotation["levels"][1], **changes.pop("level", {})}, *rotation["levels"][2:]]
    return {**robustness, "curves": {**robustness["curves"], "rotation": {**rotation, "levels": levels, **changes}}}


@pytest.mark.parametrize("tamper", [
    lambda m: m["training"].update(train_seconds=10**400),  # OverflowError in the cost figure
    lambda m: m["training"].update(train_seconds=1e300),
    lambda m: m["calibration"].update(temperature=10**400),  # OverflowError in the trust table
    lambda m: m["calibration"].update(temperature=1e300),
    lambda m: m.update(robustness=_rotation(m["robustness"], level={"value": 10**400})),  # OverflowError, a tick
    lambda m: m["robustness"].update(severity=5.0),  # TypeError in the robustness overlay
    lambda m: m["robustness"].update(severity=10**9),  # minutes, labelling a billion ticks
    lambda m: m["test"].update(images=1000.0),  # ValueError in the runs table's interval
], ids=["seconds-int", "seconds-float", "temperature-int", "temperature-float", "level-value", "severity-float",
        "severity-billion", "images-float"])
@pytest.mark.timeout(60)
def test_a_run_whose_numbers_no_figure_can_draw_is_refused_when_read_and_the_others_compared(tmp_path, tamper):
    import io

    measured = {"calibration": CALIBRATION, "robustness": robustness_with_curves(
        {"rotation": [0.99, 0.97, 0.9, 0.7, 0.4], "blur": [0.99, 0.99, 0.98, 0.96, 0.93]})}
    fake_run(tmp_path, "a", outcomes(1000, range(5)), seed=1, **measured)
    fake_run(tmp_path, "b", outcomes(1000, range(5, 40)), seed=2, **measured)
    bad = fake_run(tmp_path, "bad", outcomes(1000, range(3)), seed=3, **measured)
    metrics = json.loads((bad / "metrics.json").read_text())
    tamper(metrics)
    (bad / "metrics.json").write_text(json.dumps(metrics))
    with pytest.warns(RunDirectoryWarning, match=f"skipping {bad}: metrics.json ") as caught:
        runs = compare.load_runs(tmp_path)
    assert len(caught) == 1 and [run.run_id for run in runs] == ["a", "b"]
    compare.runs_table(runs).to_html(), compare.trust_table(runs).to_html()
    for figure in (compare.accuracy_time_figure(runs), compare.robustness_overlay_figure(runs)):
        figure.savefig(io.BytesIO(), format="png")


def test_a_units_dollar_signs_are_drawn_as_written_never_read_as_math(tmp_path):
    """A curve's unit is a run's text: "$x^$" read as mathtext failed the figure when drawn (ValueError)."""
    import io

    for seed in (1, 2):
        robustness = robustness_with_curves({"rotation": [0.99, 0.97, 0.9, 0.7, 0.4]}, seed=seed)
        fake_run(tmp_path, f"run-{seed}", outcomes(100, [seed]), seed=seed, robustness=_rotation(robustness,
                                                                                                 unit="$x^$"))
    figure = compare.robustness_overlay_figure(compare.load_runs(tmp_path))
    figure.savefig(io.BytesIO(), format="png")
    assert figure.axes[0].get_xlabel() == "$x^$" and not figure.axes[0].xaxis.label.get_parse_math()


def test_stored_labels_must_be_mnists_and_as_many_as_metrics_json_says(tmp_path, mnist_dir):
    """Predictions of other images (labels that are digits, but not MNIST's at their indices) or of another test set
    than metrics.json scored would compare runs on different images: they count as not recorded, with a warning."""
    assert compare.mnist_test_labels() is not None  # conftest points $DIGITLIB_DATA_DIR at the MNIST files
    fake_run(tmp_path, "a", outcomes(1000, range(5)), seed=1)
    fake_run(tmp_path, "b", outcomes(1000, range(5, 40)), seed=2)
    fake_run(tmp_path, "shifted", outcomes(1000, range(3)), seed=3, labels=np.roll(LABELS, 1))
    fewer = fake_run(tmp_path, "fewer", outcomes(1000, range(4)), seed=4)
    metrics = json.loads((fewer / "metrics.json").read_text())
    metrics["test"].update(images=2000, mistakes=4)
    metrics["per_class"] = {digit: {**row, "support": 200} for digit, row in metrics["per_class"].items()}
    (fewer / "metrics.json").write_text(json.dumps(metrics))
    runs = compare.load_runs(tmp_path)
    with pytest.warns(RunDirectoryWarning) as caught:
        pairs = compare.pairwise_comparisons(runs)
    assert [(pair.run_a.run_id, pair.run_b.run_id) for pair in pairs] == [("a", "b")]
    messages = sorted(str(warning.message) for warning in caught)
    assert messages == [
        f"{tmp_path}/fewer: test_predictions.npz holds 1,000 test images, metrics.json scored 2,000; its test "
        "predictions count as not recorded",
        f"{tmp_path}/shifted: test_predictions.npz: its labels are not MNIST's test labels at its indices; its test "
        "predictions count as not recorded"]


def test_the_pairwise_caption_shows_a_run_folder_full_of_markup_as_text(tmp_path):
    marked = "<img src=x onerror=alert(1)>"
    folders = [fake_run(tmp_path, marked, outcomes(500, []), seed=99, **with_validation(0.999))]  # named by path
    folders += [fake_run(tmp_path, f"run-{k:02d}", outcomes(500, range(k)), seed=k, **with_validation(0.99))
                for k in range(20)]
    caption = compare.pairwise_table(compare.load_runs(folders)).caption
    assert "&lt;img src=x onerror=alert(1)&gt;" in caption and marked not in caption
