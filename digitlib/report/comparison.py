"""Comparing finished runs side by side: accuracy and how sure it is, what differs between them, which
differences are real, seeds, the same run on another backend, where two runs' mistakes differ (the
confusion matrix's difference, and the images one reads right and the other wrong), trustworthiness
(calibration and robustness, overlaid), cost, per-digit skill, curves and shared mistakes.

Everything about single test images comes from the predictions each run stored when it was scored
(``test_predictions.npz``): no model is loaded and nothing is predicted again. Runs made before runs
kept them are shown as "not recorded", never dropped without a word.
"""

from __future__ import annotations

import html
import itertools
import os
import warnings
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ..backends import EARLIER_RUNS_BACKEND
from ..layout import METRICS_FILE, PREDICTIONS_FILE, RUN_FILE
from ..params import as_recorded, model_label, shown_value
from ..rundir import (
    InvalidRun,
    Run,
    RunDirectoryWarning,
    backend_of,
    identity_of,
    read_run,
    read_runs,
    skip_warning,
    validation_accuracy,
)
from ..train.evaluation import DIGITS, Evaluation
from .calibration import BINS, expected_calibration_error, reliability_bins
from .figures import DescribedFigure, _count, _listed, digit_grid
from .results import read_test_predictions
from .robustness import SHIFTS
from .significance import accuracy_interval, holm, mcnemar_exact, mean_interval, paired_difference_interval
from .tables import _in_full

LEVEL = 0.05  # every verdict's significance level, after Holm's correction
MAX_ALL_PAIRS = 20  # beyond this many runs, each is compared with one reference only (20 runs: 190 pairs)
NOT_RECORDED = "not recorded"


def load_runs(sources: str | os.PathLike | list[str | os.PathLike]) -> list[Run]:
    """Successful training runs from run directories, or from a reports folder (all of its runs).

    Each run is read back as untrusted data (:func:`digitlib.rundir.read_run`): a directory whose
    files do not validate is skipped with a warning.
    """
    from ..modelfile import TRAIN_FIRST  # the errors below say what a user with no finished run does

    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    runs = []
    for item in map(Path, items):
        if (item / RUN_FILE).exists():
            try:
                runs.append(read_run(item))
            except InvalidRun as problem:
                skip_warning(item, problem)
        elif item.is_dir():
            runs += read_runs(item)
        else:
            missing = "" if item.exists() else f" (it does not exist: {TRAIN_FIRST} to train a run)"
            raise ValueError(f"{item}: neither a run directory nor a folder of runs{missing}")
    runs = [run for run in runs if run.metrics is not None and run.contract.trains]
    runs = list({run.directory.resolve(): run for run in reversed(runs)}.values())[::-1]  # a run named twice: once
    if not runs:
        raise ValueError(f"no finished training runs in {', '.join(map(str, items))}; {TRAIN_FIRST} to train "
                         "one, or point runs at run directories that finished")
    return _best_first(runs)


def _best_first(runs: list[Run]) -> list[Run]:
    """The runs scored on the most test images first (a run of 100 images at 100% is no best), each group by its
    test accuracy: an order to read them in, never a choice (:func:`_reference_first` chooses without the test)."""
    return sorted(runs, key=lambda r: (-r.metrics["test"]["images"], -r.metrics["test"]["accuracy"]))


def _reference_first(recorded):
    """`recorded` (runs with their predictions) with the reference first: beyond MAX_ALL_PAIRS runs, the one each
    other run is compared with. Of the runs scored on the most test images, the highest last-epoch validation
    accuracy (runs without a validation split after those with), then the newest; never the test accuracy: a
    reference chosen on the test set and then tested against the others on it reads significant far more often
    than 5% (22% of sets of 25 equally good runs had a false "significant")."""
    most = max(len(indices) for _, (indices, _) in recorded)

    def rank(item):
        run, (indices, _) = item
        try:
            validation = validation_accuracy(run.metrics)
        except InvalidRun:  # its last epoch diverged: as a run without one
            validation = None
        return len(indices) == most, validation is not None, validation or 0.0, run.started, run.run_id

    reference = max(recorded, key=rank)
    return [reference, *(item for item in recorded if item is not reference)]


def p_text(value: float) -> str:
    """A p-value in 3 significant digits, more where fewer would cross the significance level (0.049983 is
    0.04998, never 0.05 beside "significant at 5%")."""
    for digits in range(3, 8):
        shown = f"{value:.{digits}g}"
        if (float(shown) < LEVEL) == (value < LEVEL):
            return shown
    return f"{value:.8g}"


def _points(value: float) -> str:
    """A difference in percentage points, signed: 2 decimals, or 1 significant digit below 0.005 (+0.003, never
    +0.00 for a bound that is not 0)."""
    shown = f"{100 * value:+.2f}"
    return f"{100 * value:+.1g}" if value and float(shown) == 0 else f"{100 * value + 0.0:+.2f}"


def label(run: dict[str, Any]) -> str:
    p = run.metrics["parameters"]
    return f"{model_label(p)} · {p['epochs']} ep · seed {p['seed']}"


def _percent(value: float | None, digits: int = 2) -> str:
    return NOT_RECORDED if value is None else f"{value:.{digits}%}"


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run, best first: what it was, how well it did (with its 95% interval), what it cost."""
    rows = []
    for run in runs:
        m = run.metrics
        low, high = accuracy_interval(round(m["test"]["accuracy"] * m["test"]["images"]), m["test"]["images"])
        loss = m["test"]["loss"]  # None: not finite (the network diverged)
        rows.append({
            "run": run.run_id, "model": model_label(m["parameters"]), "epochs": m["training"]["epochs"],
            "batch size": m["parameters"]["batch_size"], "seed": m["parameters"]["seed"],
            "test accuracy": f"{m['test']['accuracy']:.2%}", "95% interval": f"{low:.2%} – {high:.2%}",
            "test images": m["test"]["images"], "test loss": "—" if loss is None else f"{loss:.4f}",
            "train seconds": round(m["training"]["train_seconds"], 1),
            "parameters": m["training"]["model_parameters"], "device": m["environment"]["device"]["name"],
        })
    return pd.DataFrame(rows).set_index("run")


# --- what differs between the runs --------------------------------------------------------------------

def differences_table(runs: list[Run]):
    """Only the parameters whose values differ between the runs, one row each and one column per run, then each
    run's backend and model version; the caption names the parameters all of them share. A parameter a run did
    not record (it was added later) counts with the value it trained with, as the run's identity counts it."""
    given = [as_recorded(run.parameters) for run in runs]
    names = list(dict.fromkeys(name for parameters in given for name in parameters))
    values = {name: [parameters.get(name) for parameters in given] for name in names}
    differ = [name for name in names if len({repr(value) for value in values[name]}) > 1]
    rows = {name: [shown_value(value) for value in values[name]] for name in differ}
    rows["backend"] = [backend_of(run) for run in runs]
    rows["model version"] = [str(1 if run.model_version is None else run.model_version) for run in runs]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[run.run_id for run in runs])
    equal = [name for name in names if name not in differ]
    if not differ:
        caption = f"No parameter differs between the {len(runs)} runs"
    else:
        caption = f"Only the parameter{'s' * (len(differ) > 1)} that differ between the {len(runs)} runs"
    caption += (f"; all other parameters are equal: {', '.join(equal)}" if equal and differ
                else f": {', '.join(equal)}" if equal else "")
    return _in_full(table).set_caption(html.escape(caption + ". Backend and model version are shown always."))

# --- the stored test predictions ---------------------------------------------------------------------

TEST_LABELS_FILE = "t10k-labels-idx1-ubyte.gz"


def mnist_test_labels(data_dir: str | os.PathLike | None = None) -> np.ndarray | None:
    """MNIST's 10,000 test labels, checked by their SHA-256, from the copy on this machine: `data_dir`, else
    $DIGITLIB_DATA_DIR, else the one Keras downloaded (~/.keras/datasets); None when there is none: nothing is
    downloaded for them. Of the four IDX files, only the 5 kB labels file is read. Raises DataError for a copy
    that is not MNIST's."""
    from ..train.data import DATA_DIR_ENV, KERAS_NPZ

    directory = data_dir or os.environ.get(DATA_DIR_ENV)
    if directory:
        return _test_labels_in(str(Path(directory).expanduser().resolve()))
    downloaded = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    return _test_labels_in(str(downloaded.resolve())) if (downloaded / KERAS_NPZ).is_file() else None


@cache
def _test_labels_in(directory: str) -> np.ndarray:
    from ..layout import IDX_FILES
    from ..train.data import load_mnist, read_idx, verify_sha256

    labels = Path(directory) / TEST_LABELS_FILE
    if labels.is_file():
        verify_sha256(labels, IDX_FILES[TEST_LABELS_FILE])
        return read_idx(labels, 1)
    return load_mnist(directory).y_test  # Keras' mnist.npz, checked by load_mnist


def _labels_here() -> np.ndarray | None:
    """MNIST's test labels on this machine (:func:`mnist_test_labels`), or None with a warning that stored test
    predictions are checked against their metrics.json only."""
    from ..train.data import DATA_DIR_ENV, DataError

    try:
        labels = mnist_test_labels()
    except DataError as problem:
        labels, why = None, str(problem)
    else:
        why = f"${DATA_DIR_ENV} is not set and Keras has downloaded no copy"
    if labels is None:
        warnings.warn(f"stored test labels are checked against metrics.json only, not against MNIST's: {why}",
                      stacklevel=3)
    return labels


def _check_predictions(run: dict[str, Any], indices: np.ndarray, evaluation: Evaluation,
                       labels: np.ndarray | None) -> None:
    """Raise :class:`InvalidRun` unless the stored predictions are of the test images metrics.json scored (as many)
    and, with MNIST's test `labels`, labelled as MNIST labels the images at their indices."""
    images = run.metrics["test"]["images"]
    if len(indices) != images:
        raise InvalidRun(f"{PREDICTIONS_FILE} holds {len(indices):,} test images, {METRICS_FILE} scored {images:,}")
    if labels is not None and (indices.max() >= len(labels)
                               or not np.array_equal(np.asarray(labels)[indices], evaluation.labels)):
        raise InvalidRun(f"{PREDICTIONS_FILE}: its labels are not MNIST's test labels at its indices")


def stored_predictions(run: dict[str, Any], labels: np.ndarray | None = None
                       ) -> tuple[np.ndarray, Evaluation] | None:
    """A run's stored test predictions, ``(indices, Evaluation)``; None when it kept none, or (with a
    warning) when its file does not validate, holds another number of test images than metrics.json scored, or
    (given MNIST's test `labels`) labels that are not MNIST's: the comparison goes on without them."""
    try:
        found = read_test_predictions(run.directory)
        if found is not None:
            _check_predictions(run, *found, labels)
        return found
    except InvalidRun as problem:
        warnings.warn(f"{run.directory}: {problem}; its test predictions count as {NOT_RECORDED}",
                      RunDirectoryWarning, stacklevel=2)
        return None


def _with_predictions(runs: list[Run], labels: np.ndarray | None = None):
    """(runs with predictions and their predictions, best first; runs without). The stored labels are checked
    against MNIST's test `labels`, by default those on this machine (:func:`mnist_test_labels`)."""
    labels = _labels_here() if labels is None else np.asarray(labels)
    recorded, missing = [], []
    for run in _best_first(runs):
        predictions = stored_predictions(run, labels)
        (missing if predictions is None else recorded).append(run if predictions is None else (run, predictions))
    return recorded, missing


def _on_shared_images(recorded) -> tuple[np.ndarray, list[Evaluation]]:
    """The test images every one of `recorded` (runs with their predictions) was scored on, as MNIST indices in
    ascending order, and each run's predictions of exactly those images, in that order."""
    shared = recorded[0][1][0]
    for _, (indices, _) in recorded[1:]:
        shared = np.intersect1d(shared, indices)
    shared = np.sort(shared)
    evaluations = []
    for _, (indices, evaluation) in recorded:
        order = np.argsort(indices)
        positions = order[np.searchsorted(indices, shared, sorter=order)]
        evaluations.append(Evaluation(evaluation.probabilities[positions], evaluation.labels[positions]))
    return shared, evaluations


def _correct_on(predictions: tuple[np.ndarray, Evaluation], shared: np.ndarray) -> np.ndarray:
    indices, evaluation = predictions
    where = np.searchsorted(indices, shared, sorter=np.argsort(indices))
    positions = np.argsort(indices)[where]
    return evaluation.predictions[positions] == evaluation.labels[positions]


# --- which differences are significant ---------------------------------------------------------------

@dataclass(frozen=True)
class PairComparison:
    """Two runs scored on the same test images: how their accuracies differ and whether that is chance."""

    run_a: dict[str, Any]
    run_b: dict[str, Any]
    images: int  # test images both were scored on
    accuracy_a: float  # on those images
    accuracy_b: float
    interval: tuple[float, float]  # of accuracy_a - accuracy_b (Newcombe), at 95% for all of a comparison's pairs
    only_a: int  # images only run A reads right
    only_b: int
    p_value: float  # McNemar's exact test
    adjusted_p: float  # Holm-adjusted over every pair of the comparison

    @property
    def difference(self) -> float:
        return self.accuracy_a - self.accuracy_b

    @property
    def significant(self) -> bool:
        return self.adjusted_p < LEVEL


def pairwise_comparisons(runs: list[Run], labels: np.ndarray | None = None) -> list[PairComparison]:
    """Every pair of runs with stored predictions (run A the one read first, :func:`_best_first`), or, beyond
    MAX_ALL_PAIRS runs, each run against the reference (:func:`_reference_first`, run A); compared on the test
    images both were scored on. Each pair's interval holds at 1 - 5%/pairs, so that all hold together at 95%.

    McNemar's exact test gives each pair's p-value, and Holm's correction adjusts them over all pairs.
    A pair with no test image in common is left out. Stored labels that are not MNIST's test `labels` (by
    default, those on this machine: :func:`mnist_test_labels`) count as not recorded.
    """
    return _compare(_with_predictions(runs, labels)[0])


def _compare(recorded) -> list[PairComparison]:
    if len(recorded) > MAX_ALL_PAIRS:
        reference, *others = _reference_first(recorded)
        pairs = [(reference, other) for other in others]
    else:
        pairs = list(itertools.combinations(recorded, 2))
    confidence = 1 - LEVEL / max(len(pairs), 1)  # Bonferroni: every interval holds at once, at 95% in all
    measured = []
    for (run_a, predictions_a), (run_b, predictions_b) in pairs:
        shared = np.intersect1d(predictions_a[0], predictions_b[0])
        if not len(shared):
            continue
        right_a, right_b = _correct_on(predictions_a, shared), _correct_on(predictions_b, shared)
        only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
        measured.append(dict(run_a=run_a, run_b=run_b, images=len(shared), accuracy_a=float(right_a.mean()),
                             accuracy_b=float(right_b.mean()),
                             interval=paired_difference_interval(right_a, right_b, confidence),
                             only_a=only_a, only_b=only_b, p_value=mcnemar_exact(only_a, only_b)))
    adjusted = holm([pair["p_value"] for pair in measured])
    return [PairComparison(**pair, adjusted_p=float(p)) for pair, p in zip(measured, adjusted)]


def _scope(recorded, missing) -> str:
    if len(recorded) < 2:
        scope = f"{len(recorded)} run with recorded test predictions: nothing to compare"
    elif len(recorded) > MAX_ALL_PAIRS:
        reference = _reference_first(recorded)[0][0]
        scope = (f"{len(recorded)} runs: more than {MAX_ALL_PAIRS}, so each is compared with one reference only, "
                 f"the run of highest validation accuracy ({label(reference)}, {reference.run_id})")
    else:
        scope = f"every pair of the {len(recorded)} runs with recorded test predictions"
    return scope + (f"; {len(missing)} without them ({NOT_RECORDED})" if missing else "")


def pairwise_table(runs: list[Run], labels: np.ndarray | None = None):
    """One row per pair: accuracies on the shared images, their difference with its 95% interval, the
    images only one of them reads right, McNemar's p, Holm's adjusted p and the verdict at 5%.
    Runs without stored predictions (valid, and of MNIST's test `labels`) get a row that says so."""
    recorded, missing = _with_predictions(runs, labels)
    rows = [{
        "run A": f"{label(pair.run_a)} ({pair.run_a.run_id})",
        "run B": f"{label(pair.run_b)} ({pair.run_b.run_id})",
        "shared images": f"{pair.images:,}",
        "accuracy A": f"{pair.accuracy_a:.2%}", "accuracy B": f"{pair.accuracy_b:.2%}",
        "difference": f"{100 * pair.difference:+.2f} pt",
        "95% interval, all pairs": f"{_points(pair.interval[0])} to {_points(pair.interval[1])} pt",
        "only A right": pair.only_a, "only B right": pair.only_b,
        "McNemar p": p_text(pair.p_value), "Holm p": p_text(pair.adjusted_p),
        "verdict": f"{'significant' if pair.significant else 'not significant'} at {LEVEL:.0%}",
    } for pair in _compare(recorded)]
    rows += [{"run A": f"{label(run)} ({run.run_id})", "run B": "—",
              "verdict": f"{NOT_RECORDED}: the run kept no test predictions"} for run in missing]
    columns = ["run A", "run B", "shared images", "accuracy A", "accuracy B", "difference", "95% interval, all pairs",
               "only A right", "only B right", "McNemar p", "Holm p", "verdict"]
    table = pd.DataFrame(rows, columns=columns).astype(object).fillna("—")
    tests = len(rows) - len(missing)
    return (_in_full(table).hide(axis="index")
            .set_caption(html.escape(
                f"Pairwise differences in test accuracy: {_scope(recorded, missing)}. Holm-adjusted over {tests} "
                f"tests; each interval at {100 * (1 - LEVEL / max(tests, 1)):.4g}% (Bonferroni), so that all of them "
                "hold together at 95%.")))


def _names(runs: list[Run]) -> list[str]:
    """Short, distinct names for a figure's axes: the run's label, with its id where labels repeat."""
    labels = [label(run) for run in runs]
    return [f"{name} ({run.run_id})" if labels.count(name) > 1 else name for name, run in zip(labels, runs)]


def significance_figure(runs: list[Run], labels: np.ndarray | None = None) -> DescribedFigure | None:
    """The accuracy difference (row minus column, points) of every compared pair, with a star where
    it is significant at 5% after Holm's correction; None when fewer than two runs kept predictions
    (valid, and of MNIST's test `labels`)."""
    recorded = _with_predictions(runs, labels)[0]
    pairs = _compare(recorded)
    if not pairs:
        return None
    vs_best = len(recorded) > MAX_ALL_PAIRS
    ordered = list({id(run): run for pair in pairs for run in (pair.run_a, pair.run_b)}.values())
    rows = [pair.run_b for pair in pairs] if vs_best else ordered
    columns = [pairs[0].run_a] if vs_best else ordered
    difference = np.full((len(rows), len(columns)), np.nan)
    marks = np.full(difference.shape, "", dtype=object)
    position = {id(run): i for i, run in enumerate(rows)}, {id(run): j for j, run in enumerate(columns)}
    for pair in pairs:
        for row, column, sign in ((pair.run_a, pair.run_b, 1), (pair.run_b, pair.run_a, -1)):
            if id(row) in position[0] and id(column) in position[1]:
                i, j = position[0][id(row)], position[1][id(column)]
                difference[i, j] = sign * 100 * pair.difference + 0.0  # no "-0.00"
                marks[i, j] = f"{difference[i, j]:+.2f}{' *' if pair.significant else ''}"
    extent = max(float(np.nanmax(np.abs(difference))), 0.01)
    # room for the names: a run's id joins its label where labels repeat, and the columns' names stand upright
    across, down = (max(map(len, _names(group))) for group in (rows, columns))
    figure = DescribedFigure(_significance_alt(pairs, ordered, vs_best),
                             figsize=(2.2 + 1.1 * len(columns) + max(2.5, 0.07 * across),
                                      0.45 * len(rows) + max(1.4, 0.5 + 0.07 * down)), layout="constrained")
    axes = figure.add_subplot()
    sns.heatmap(pd.DataFrame(difference, index=_names(rows), columns=_names(columns)), annot=marks, fmt="",
                cmap="RdBu", vmin=-extent, vmax=extent, ax=axes, cbar_kws={"label": "row − column (points)"})
    scope = f"each run against the reference, {_names(columns)[0]} ({len(rows) + 1} runs)" if vs_best else "every pair"
    axes.set(xlabel="", ylabel="", title=f"Accuracy difference, {scope}; * significant at 5% after Holm")
    return figure


def _significance_alt(pairs: list[PairComparison], ordered: list[Run], vs_best: bool) -> str:
    """'Accuracy difference in percentage points, row minus column, of every pair of 3 runs: 1 of 3 pairs
    significant at 5% after Holm's correction; the largest, A over B by +0.40 points (Holm p = 0.012).'"""
    name = dict(zip(map(id, ordered), _names(ordered)))
    scope = (f"each of {len(ordered) - 1} runs against the reference (the highest validation accuracy), "
             f"{name[id(pairs[0].run_a)]}" if vs_best
             else f"every pair of {len(ordered)} runs")
    largest = max(pairs, key=lambda pair: abs(pair.difference))
    ahead, behind = (largest.run_a, largest.run_b) if largest.difference >= 0 else (largest.run_b, largest.run_a)
    return (f"Accuracy difference in percentage points, row minus column, of {scope}: "
            f"{sum(pair.significant for pair in pairs)} of {_count(len(pairs), 'pair')} significant at {LEVEL:.0%} "
            f"after Holm's correction; the largest, {name[id(ahead)]} over {name[id(behind)]} by "
            f"{100 * abs(largest.difference):.2f} points on {largest.images:,} test images (Holm p = "
            f"{p_text(largest.adjusted_p)}).")


# --- seeds of one configuration -----------------------------------------------------------------------

def seed_groups(runs: list[Run]) -> list[list[Run]]:
    """Runs that differ only in their seed (same other parameters, backend and model version), grouped,
    best mean accuracy first; a run alone is a group of one."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        unseeded = replace(run, parameters={**run.parameters, "seed": 0})
        groups.setdefault(identity_of(unseeded), []).append(run)
    groups = {key: sorted(group, key=lambda r: r.metrics["parameters"]["seed"]) for key, group in groups.items()}
    return sorted(groups.values(), key=lambda group: -np.mean([r.metrics["test"]["accuracy"] for r in group]))


def _configuration(run: dict[str, Any], varying: set[str]) -> str:
    p = as_recorded(run.metrics["parameters"])
    extra = [f"{name} {p.get(name)}" for name in sorted(varying - {"model", "members", "epochs", "seed", "data_dir"})]
    return " · ".join([model_label(p), f"{p['epochs']} ep", *extra])


def seed_groups_table(runs: list[Run]) -> pd.DataFrame:
    """One row per configuration: how many seeds ran it, the mean ± standard deviation (n − 1) of their
    test accuracy, the 95% interval of that mean (Student's t over the seeds: :func:`mean_interval`), and which
    runs they are. One seed has no spread: "—"."""
    groups = seed_groups(runs)
    parameters = [as_recorded(run.metrics["parameters"]) for group in groups for run in group]
    varying = {name for name in set().union(*parameters) if len({repr(p.get(name)) for p in parameters}) > 1}
    rows = []
    for group in groups:
        accuracies = np.array([run.metrics["test"]["accuracy"] for run in group])
        spread = f" ± {accuracies.std(ddof=1):.2%}" if len(group) > 1 else " ± —"
        rows.append({
            "configuration": _configuration(group[0], varying),
            "backend": backend_of(group[0]),
            "seeds": len(group), "seed values": ", ".join(str(run.metrics["parameters"]["seed"]) for run in group),
            "test accuracy (mean ± sd)": f"{accuracies.mean():.2%}{spread}",
            "95% interval of the mean (t)": _mean_interval(accuracies),
            "runs": ", ".join(run.run_id for run in group),
        })
    return pd.DataFrame(rows).set_index("configuration")


def _mean_interval(accuracies: np.ndarray) -> str:
    if len(accuracies) < 2:
        return "—"
    low, high = mean_interval(accuracies)
    return f"{max(low, 0.0):.2%} – {min(high, 1.0):.2%}"  # a t interval knows no bounds; accuracy does


# --- the same run on another backend -------------------------------------------------------------------

def backend_pairs(runs: list[Run]) -> list[tuple[Run, Run]]:
    """Pairs of runs that differ only in their Keras backend: the same parameters (seed included) and model
    version, so the same training on another backend; the more accurate run first."""
    ordered = _best_first(runs)
    same = [identity_of(replace(run, backend=EARLIER_RUNS_BACKEND)) for run in ordered]
    return [(ordered[i], ordered[j]) for i, j in itertools.combinations(range(len(ordered)), 2)
            if same[i] == same[j] and backend_of(ordered[i]) != backend_of(ordered[j])]


@dataclass(frozen=True)
class BackendAgreement:
    """Two runs of one configuration on two backends, read on the test images both were scored on."""

    run_a: Run
    run_b: Run
    images: int  # test images both were scored on
    differ: int  # of them, how many each reads as another digit
    largest: float  # the largest |p_a - p_b| over every image and digit


def backend_agreement(runs: list[Run], labels: np.ndarray | None = None) -> list[BackendAgreement | tuple[Run, Run]]:
    """For every pair of runs that differ only in backend (:func:`backend_pairs`), how far their stored test
    predictions agree; a pair one of whose runs kept no (valid) predictions stays a plain pair of runs."""
    pairs = backend_pairs(runs)
    recorded = dict((id(run), found) for run, found in _with_predictions(
        [run for pair in pairs for run in pair], labels)[0]) if pairs else {}
    receipts = []
    for run_a, run_b in pairs:
        if id(run_a) not in recorded or id(run_b) not in recorded:
            receipts.append((run_a, run_b))
            continue
        shared, (a, b) = _on_shared_images([(run_a, recorded[id(run_a)]), (run_b, recorded[id(run_b)])])
        largest = float(np.abs(a.probabilities.astype(float) - b.probabilities).max()) if len(shared) else 0.0
        receipts.append(BackendAgreement(run_a, run_b, len(shared), int(np.sum(a.predictions != b.predictions)),
                                         largest))
    return receipts


def backend_agreement_table(runs: list[Run], labels: np.ndarray | None = None):
    """A receipt for each pair of runs that differ only in backend: how many of the test images both were scored on
    each reads as another digit, and the largest difference between their probabilities."""
    rows = []
    for receipt in backend_agreement(runs, labels):
        run_a, run_b = (receipt.run_a, receipt.run_b) if isinstance(receipt, BackendAgreement) else receipt
        row = {"run A": f"{label(run_a)} ({run_a.run_id})", "backend A": backend_of(run_a),
               "run B": f"{label(run_b)} ({run_b.run_id})", "backend B": backend_of(run_b),
               "test accuracy A": f"{run_a.metrics['test']['accuracy']:.2%}",
               "test accuracy B": f"{run_b.metrics['test']['accuracy']:.2%}"}
        if isinstance(receipt, BackendAgreement):
            share = f" ({receipt.differ / receipt.images:.2%})" if receipt.images else ""
            row.update({"shared images": f"{receipt.images:,}", "predictions that differ": f"{receipt.differ:,}{share}",
                        "largest probability difference": f"{receipt.largest:.3g}"})
        else:
            row.update({"shared images": NOT_RECORDED, "predictions that differ": NOT_RECORDED,
                        "largest probability difference": NOT_RECORDED})
        rows.append(row)
    columns = ["run A", "backend A", "run B", "backend B", "shared images", "predictions that differ",
               "largest probability difference", "test accuracy A", "test accuracy B"]
    caption = (f"{len(rows)} pair{'s' * (len(rows) != 1)} of runs that differ only in backend (same parameters, "
               "seed and model version)" if rows else
               "No two of the runs differ only in backend (same parameters, seed and model version)")
    return _in_full(pd.DataFrame(rows, columns=columns)).hide(axis="index").set_caption(html.escape(caption))


# --- two runs, image by image --------------------------------------------------------------------------

@dataclass(frozen=True)
class Disagreements:
    """The two most accurate runs with stored predictions, read on the test images both were scored on."""

    run_a: Run  # the more accurate
    run_b: Run
    indices: np.ndarray  # the shared test images: positions in MNIST's 10,000, ascending
    labels: np.ndarray  # their true digits
    answers_a: np.ndarray  # each run's reading of them
    answers_b: np.ndarray

    @property
    def only_a(self) -> np.ndarray:
        """Where A reads right and B wrong (a mask over `indices`)."""
        return (self.answers_a == self.labels) & (self.answers_b != self.labels)

    @property
    def only_b(self) -> np.ndarray:
        return (self.answers_b == self.labels) & (self.answers_a != self.labels)

    def confusion(self, answers: np.ndarray) -> np.ndarray:
        """The confusion matrix (rows: true digit, columns: the reading) of `answers` to `labels`."""
        return np.bincount(10 * self.labels + answers, minlength=100).reshape(10, 10)

    @property
    def confusion_difference(self) -> np.ndarray:
        """B's confusion matrix minus A's: off the diagonal, mistakes B makes more often (+) or less (−)."""
        return self.confusion(self.answers_b) - self.confusion(self.answers_a)


def disagreements(runs: list[Run], labels: np.ndarray | None = None) -> Disagreements | None:
    """The two most accurate runs that kept (valid) test predictions, side by side on their shared images; None
    when fewer than two kept them. The runs are compared best first, so with two runs these are the two."""
    recorded = _with_predictions(runs, labels)[0][:2]
    if len(recorded) < 2:
        return None
    shared, (a, b) = _on_shared_images(recorded)
    return Disagreements(recorded[0][0], recorded[1][0], shared, a.labels, a.predictions, b.predictions)


def _pair_title(found: Disagreements) -> str:
    return f"{_pair_names(found)}; {len(found.indices):,} test images both were scored on"


def confusion_difference_figure(runs: list[Run], labels: np.ndarray | None = None) -> DescribedFigure | None:
    """The confusion matrix of the runner-up (B) minus the best run's (A) on their shared test images: red where B
    makes a mistake more often, blue where less often. The diagonal (right answers) is left blank: its change is
    the row's off-diagonal changes with their signs flipped. None when fewer than two runs kept predictions."""
    found = disagreements(runs, labels)
    if found is None:
        return None
    difference = found.confusion_difference
    off = ~np.eye(10, dtype=bool)
    more, fewer = int(difference[off & (difference > 0)].sum()), int(-difference[off & (difference < 0)].sum())
    extent = max(1, int(np.abs(difference[off]).max()))
    figure = DescribedFigure(_confusion_difference_alt(found, more, fewer), figsize=(8, 7), layout="constrained")
    axes = figure.add_subplot()
    marks = np.where(difference != 0, difference.astype(str), "")  # only the cells that changed are numbered
    sns.heatmap(pd.DataFrame(difference, index=DIGITS, columns=DIGITS), mask=~off, annot=marks, fmt="",
                cmap="RdBu_r", vmin=-extent, vmax=extent, ax=axes, cbar_kws={"label": "B − A (images)"})
    axes.set(xlabel="read as", ylabel="true digit",
             title=f"Confusion matrix, B − A: +{more:,} mistakes where B errs more often, −{fewer:,} where it errs "
                   f"less often\n{_pair_title(found)}")
    axes.title.set_fontsize(9)
    return figure


def _confusion_difference_alt(found: Disagreements, more: int, fewer: int) -> str:
    """'Confusion matrix of B minus A (...) on 1,000 test images both were scored on: +3 mistakes where B errs more
    often, −2 where it errs less often; the largest change, 7 read as 8: B 3 times, A never.'"""
    said = (f"Confusion matrix of B minus A, {_pair_names(found)}, on the {_count(len(found.indices), 'test image')} "
            "both were scored on")
    if not more and not fewer:
        return said + ": no change, B makes every mistake as often as A."
    difference = found.confusion_difference * (1 - np.eye(10, dtype=int))
    true, read = np.unravel_index(np.argmax(np.abs(difference)), difference.shape)
    a, b = (int(found.confusion(answers)[true, read]) for answers in (found.answers_a, found.answers_b))
    return (said + f": +{more:,} mistakes where B errs more often, −{fewer:,} where it errs less often; the largest "
            f"change, {true} read as {read}: B {_times(b)}, A {_times(a)}.")


def _times(number: int) -> str:
    return {0: "never", 1: "once"}.get(number, f"{number:,} times")


def _pair_names(found: Disagreements) -> str:
    return (f"A = {label(found.run_a)} ({found.run_a.run_id}), B = {label(found.run_b)} "
            f"({found.run_b.run_id})")


def _thumbnails(figure, images: np.ndarray, titles: list[str], columns: int, title: str) -> None:
    figure.suptitle(title, fontsize=10)
    for index, axes in enumerate(figure.subplots(max(1, -(-len(images) // columns)), columns, squeeze=False).flat):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(np.squeeze(images[index]), cmap="gray_r", vmin=0, vmax=255 if images.dtype == np.uint8 else 1)
            axes.set_title(titles[index], fontsize=8)


def disagreement_figure(runs: list[Run], images: np.ndarray, labels: np.ndarray | None = None,
                        count: int = 24, columns: int = 12) -> DescribedFigure | None:
    """Both ways, as thumbnails: the test images the best run (A) reads right and the runner-up (B) wrong, then
    those B reads right and A wrong; at most `count` of each (in MNIST's order), each titled with its true digit
    and both runs' readings, and each grid with how many there are in all. `images` are MNIST's 10,000 test images.
    None when fewer than two runs kept predictions."""
    if len(images) < 10_000:
        raise ValueError(f"images holds {len(images):,} images: pass all 10,000 of MNIST's test images "
                         "(load_mnist(data_dir).x_test); the stored indices point into them")
    found = disagreements(runs, labels)
    if found is None:
        return None
    ways = [(found.only_a, "A reads right and B wrong"), (found.only_b, "B reads right and A wrong")]
    heights = [max(1, -(-min(count, int(mask.sum())) // columns)) for mask, _ in ways]
    figure = DescribedFigure(_disagreement_alt(found, count),
                             figsize=(1.1 * columns, sum(1.3 * rows + 0.5 for rows in heights) + 0.5),
                             layout="constrained")
    figure.suptitle(_pair_title(found), fontsize=10)
    for part, (mask, what), in zip(figure.subfigures(2, 1, height_ratios=heights), ways):
        shown = np.flatnonzero(mask)[:count]
        total = int(mask.sum())
        title = (f"{total:,} test images {what}" + (f": the first {len(shown)} shown" if total > len(shown) else "")
                 if total else f"No test image {what}")
        _thumbnails(part, np.asarray(images)[found.indices[shown]],
                    [f"{found.labels[i]}: A {found.answers_a[i]}, B {found.answers_b[i]}" for i in shown],
                    columns, title)
    return figure

def _disagreement_alt(found: Disagreements, count: int) -> str:
    """'12 test images A reads right and B wrong (the first 24 shown), the first a 7 B reads as 1; 3 test images B
    reads right and A wrong, ...; of the 1,000 test images both were scored on, A = ..., B = ...; ...'"""
    def way(mask: np.ndarray, right: str, wrong: str, answers: np.ndarray) -> str:
        total = int(mask.sum())
        if not total:
            return f"no test image {right} reads right and {wrong} wrong"
        first = np.flatnonzero(mask)[0]
        return (f"{_count(total, 'test image')} {right} reads right and {wrong} wrong"
                + (f" (the first {count} shown)" if total > count else "")
                + f", the first a {found.labels[first]} {wrong} reads as {answers[first]}")
    return (f"{way(found.only_a, 'A', 'B', found.answers_b)}; {way(found.only_b, 'B', 'A', found.answers_a)}; "
            f"of the {len(found.indices):,} test images both were scored on, {_pair_names(found)}; each thumbnail "
            "titled with its true digit and both readings.")

# --- how far to trust each run -------------------------------------------------------------------------

def trust_table(runs: list[Run]) -> pd.DataFrame:
    """Calibration (expected calibration error, before and after temperature scaling) and robustness
    (mean accuracy under the shifts, at the recorded severity) of each run; "not recorded" where the run
    was made before they were measured."""
    rows = []
    for run in runs:
        calibration, robustness = run.metrics.get("calibration"), run.metrics.get("robustness")
        if calibration is None:
            after = NOT_RECORDED
        elif calibration.get("temperature") is None or calibration.get("ece_after_temperature") is None:
            after = "— (no validation split to fit it)"
        else:
            after = f"{calibration['ece_after_temperature']:.2%} (T = {calibration['temperature']:.2f})"
        rows.append({
            "run": run.run_id, "model": label(run),
            "test accuracy": f"{run.metrics['test']['accuracy']:.2%}",
            "ECE": _percent(calibration and calibration["ece"]),
            "ECE after temperature": after,
            "mean accuracy under shifts": _percent(robustness and robustness["mean_accuracy"]),
            "severity": NOT_RECORDED if robustness is None else robustness["severity"],
            "shifted images": NOT_RECORDED if robustness is None else f"{robustness['images']:,}",
        })
    return pd.DataFrame(rows).set_index("run")


def reliability_overlay_figure(runs: list[Run], labels: np.ndarray | None = None,
                               bins: int = BINS) -> DescribedFigure | None:
    """Every run's reliability diagram (accuracy against confidence, per confidence bin) on one plot, from its stored
    test predictions; the diagonal is perfect calibration. None when fewer than two runs kept predictions."""
    recorded, missing = _with_predictions(runs, labels)
    if len(recorded) < 2:
        return None
    names = _names([run for run, _ in recorded])
    errors = [expected_calibration_error(evaluation, bins) for _, (_, evaluation) in recorded]
    left_out = f"; {len(missing)} run{'s' * (len(missing) != 1)} without test predictions left out" if missing else ""
    least, most = int(np.argmin(errors)), int(np.argmax(errors))
    figure = DescribedFigure(
        f"Reliability diagrams of {len(recorded)} runs overlaid, accuracy against confidence in {bins} confidence "
        f"bins, the diagonal perfect calibration: expected calibration error from {errors[least]:.2%} "
        f"({names[least]}) to {errors[most]:.2%} ({names[most]}){left_out}.", figsize=(8, 6), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], ":", color="#8c959f", label="perfectly calibrated")
    lowest = 1.0
    for name, error, (_, (_, evaluation)) in zip(names, errors, recorded):
        table = reliability_bins(evaluation, bins)
        filled = table[table["count"] > 0]
        axes.plot(filled["confidence"], filled["accuracy"], "o-", markersize=4, label=f"{name} (ECE {error:.2%})")
        lowest = min(lowest, float(evaluation.confidence.min()))
    low = max(0.0, min(0.5, lowest))
    axes.set(xlim=(low, 1.0), ylim=(low, 1.0), xlabel="confidence of the prediction", ylabel="accuracy",
             title=f"Reliability diagrams overlaid ({bins} confidence bins){left_out}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    return figure


def robustness_overlay_figure(runs: list[Run]) -> DescribedFigure | None:
    """One panel per shift: each run's accuracy against the shift's severity, the clean subset at the left. A run
    that kept its whole curves (metrics.json's robustness curves) is drawn across every severity; one made before
    that, at its recorded severity only (a dashed line from its clean accuracy). None when fewer than two runs
    measured robustness."""
    measured = [run for run in runs if run.metrics.get("robustness")]
    if len(measured) < 2:
        return None
    shifts = list(dict.fromkeys(shift for run in measured for part in ("accuracy", "curves")
                                for shift in run.metrics["robustness"].get(part, {})))
    names, left_out = _names(measured), len(runs) - len(measured)
    columns = max(1, min(4, len(shifts)))
    rows = max(1, -(-len(shifts) // columns))
    figure = DescribedFigure(_robustness_overlay_alt(measured, names, shifts, left_out),
                             figsize=(3 * columns + 0.5, 2.3 * rows + 1.2 + 0.25 * len(measured)), layout="constrained")
    panels = figure.subplots(rows, columns, sharey=True, squeeze=False).flat
    colours = [f"C{index % 10}" for index in range(len(measured))]
    for shift, axes in zip(shifts, panels):
        recorded = [run.metrics["robustness"].get("curves", {}).get(shift) for run in measured]
        for run, curve, colour in zip(measured, recorded, colours):
            levels, accuracies = _robustness_points(run.metrics["robustness"], shift, curve)
            axes.plot(levels, [100 * value for value in accuracies], "o-" if curve else "s--", color=colour,
                      markersize=4)
        drawn = next((curve for curve in recorded if curve), None)
        top = max([len(curve["levels"]) - 1 for curve in recorded if curve] +
                  [run.metrics["robustness"]["severity"] for run in measured])
        values = [f"{level['value']:g}" for level in drawn["levels"]] if drawn else ["clean"]
        axes.set_xticks(range(top + 1), [values[level] if level < len(values) else str(level)
                                         for level in range(top + 1)], fontsize=8)
        axes.set_title(SHIFTS[shift].title if shift in SHIFTS else shift.replace("_", " "), fontsize=10)
        axes.set_xlabel(drawn["unit"] if drawn else "severity", fontsize=9, parse_math=False)  # a run's text, as is
        axes.grid(alpha=0.3)
    for axes in list(panels):
        figure.delaxes(axes)
    for axes in figure.axes[::columns]:
        axes.set_ylabel("accuracy (%)")
    handles = [Line2D([], [], linestyle="-" if run.metrics["robustness"].get("curves") else "--",
                      marker="o" if run.metrics["robustness"].get("curves") else "s", color=colour)
               for run, colour in zip(measured, colours)]
    figure.legend(handles, [_robustness_legend(name, run.metrics["robustness"]) for name, run in zip(names, measured)],
                  loc="outside lower center", fontsize=8, frameon=False)
    figure.suptitle("Accuracy under each shift against severity, overlaid (the leftmost point is clean)" +
                    (f"; {left_out} run{'s' * (left_out != 1)} {NOT_RECORDED}" if left_out else ""), fontsize=11)
    return figure


def _robustness_points(robustness: dict[str, Any], shift: str, curve: dict[str, Any] | None):
    """A run's points in a shift's panel, (levels, accuracies): its whole curve when kept, else the clean accuracy
    (when recorded) and the accuracy at its summary's severity; NaN where it did not measure the shift."""
    if curve:
        return list(range(len(curve["levels"]))), [level["accuracy"] for level in curve["levels"]]
    severity = robustness["severity"]
    at = robustness["accuracy"].get(shift, np.nan)
    clean = robustness.get("clean_accuracy")
    return ([0, severity], [clean, at]) if clean is not None else ([severity], [at])


def _robustness_legend(name: str, robustness: dict[str, Any]) -> str:
    kept = "every severity" if robustness.get("curves") else f"severity {robustness['severity']} only"
    return (f"{name}: {kept}, {robustness['images']:,} images, mean {robustness['mean_accuracy']:.1%} at severity "
            f"{robustness['severity']}")


def _robustness_overlay_alt(measured: list[Run], names: list[str], shifts: list[str], left_out: int) -> str:
    """'Accuracy against severity under 10 shifts, one panel each, of 2 runs (1 with every severity, 1 with its
    summary's severity only): A, mean 93.0% at severity 2, lowest rotation 80.0%, at the strongest severity from
    12.0% (rotation) to 97.5% (blur); B, ...'"""
    curves = sum(bool(run.metrics["robustness"].get("curves")) for run in measured)
    said = []
    for name, run in zip(names, measured):
        robustness = run.metrics["robustness"]
        worst = min(robustness["accuracy"], key=robustness["accuracy"].get, default=None)
        said.append(f"{name}, mean {robustness['mean_accuracy']:.1%} at severity {robustness['severity']}"
                    + (f", lowest {worst.replace('_', ' ')} {robustness['accuracy'][worst]:.1%}" if worst else "")
                    + (f", at the strongest severity {_strongest(robustness['curves'])}"
                       if robustness.get("curves") else ""))
    kept = (f"{curves} with every severity, {len(measured) - curves} with its summary's severity only"
            if 0 < curves < len(measured) else "every severity" if curves else "each at its summary's severity only")
    return (f"Accuracy against severity under {_count(len(shifts), 'shift')}, one panel each, of {len(measured)} "
            f"runs ({kept}): " + "; ".join(said)
            + (f"; {left_out} run{'s' * (left_out != 1)} {NOT_RECORDED}" if left_out else "") + ".")


def _strongest(curves: dict[str, Any]) -> str:
    """'from 12.0% (rotation) to 97.5% (blur)': the accuracies at each curve's last level."""
    last = {shift: curve["levels"][-1]["accuracy"] for shift, curve in curves.items()}
    low, high = min(last, key=last.get), max(last, key=last.get)
    return f"from {last[low]:.1%} ({low.replace('_', ' ')}) to {last[high]:.1%} ({high.replace('_', ' ')})"

# --- cost, digits and curves ---------------------------------------------------------------------------

def accuracy_time_figure(runs: list[Run]) -> DescribedFigure:
    """Test accuracy against training time: the cost of each point of accuracy."""
    names = _names(runs)
    seconds = [run.metrics["training"]["train_seconds"] for run in runs]
    accuracies = [run.metrics["test"]["accuracy"] for run in runs]
    best, quickest = int(np.argmax(accuracies)), int(np.argmin(seconds))

    def point(i: int) -> str:
        return f"{names[i]}, {accuracies[i]:.2%} in {seconds[i]:,.1f} s"
    figure = DescribedFigure(
        f"Test accuracy against training time (log scale) of {len(runs)} runs: the most accurate, {point(best)}"
        + ("; it is also the quickest." if best == quickest else f"; the quickest, {point(quickest)}."),
        figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    for run in runs:
        m = run.metrics
        axes.scatter(m["training"]["train_seconds"], 100 * m["test"]["accuracy"], s=60)
        axes.annotate(label(run), (m["training"]["train_seconds"], 100 * m["test"]["accuracy"]),
                      textcoords="offset points", xytext=(6, 4), fontsize=8)
    axes.set(xscale="log", xlabel="training time (s, log scale)", ylabel="test accuracy (%)",
             title="Accuracy against training time")
    axes.grid(alpha=0.3)
    return figure


def per_digit_figure(runs: list[Run]) -> DescribedFigure:
    """Recall per digit for every run: which digits each model still finds hard."""
    table = pd.DataFrame([[run.metrics["per_class"][str(d)]["recall"] * 100 for d in DIGITS] for run in runs],
                         index=_names(runs), columns=DIGITS)
    row, digit = np.unravel_index(np.argmin(table.values), table.shape)
    hardest = table.mean().idxmin()
    figure = DescribedFigure(
        f"Recall per digit (%) of {len(runs)} runs, one row each: the lowest, {table.iloc[row, digit]:.1f}% for digit "
        f"{digit} ({table.index[row]}); over the runs, digit {hardest} is the hardest, {table[hardest].mean():.1f}% "
        "on average.", figsize=(9, 1.2 + 0.45 * len(runs)), layout="constrained")
    axes = figure.add_subplot()
    sns.heatmap(table, annot=True, fmt=".1f", cmap="RdYlGn", vmin=min(97.0, table.values.min()), vmax=100,
                ax=axes, cbar_kws={"label": "recall (%)"})
    axes.set(xlabel="digit", ylabel="", title="Per-digit accuracy (recall, %) across runs")
    return figure


def _curve_key(run: Run) -> str:
    return "val_accuracy" if "val_accuracy" in run.metrics["training"]["history"] else "accuracy"


def curves_figure(runs: list[Run]) -> DescribedFigure:
    """Validation (or training) accuracy per epoch for every run, overlaid."""
    figure = DescribedFigure(_curves_alt(runs), figsize=(9, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for name, run in zip(_names(runs), runs):
        key = _curve_key(run)
        values = run.metrics["training"]["history"][key]
        axes.plot(range(1, len(values) + 1), [100 * v for v in values], "o-", markersize=3,
                  label=f"{name} ({'validation' if key.startswith('val') else 'training'})")
    axes.set(xlabel="epoch", ylabel="accuracy (%)", title="Learning curves")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def _curves_alt(runs: list[Run]) -> str:
    """'Validation accuracy per epoch of 3 runs: best 99.31% (A) at epoch 12.' A run without a validation split
    shows its training accuracy, said apart; a diverged epoch (NaN) counts for nothing."""
    names = dict(zip(map(id, runs), _names(runs)))
    said = []
    for key, what in (("val_accuracy", "Validation"), ("accuracy", "Training")):
        chosen = [run for run in runs if _curve_key(run) == key]
        if not chosen:
            continue
        curves = [np.asarray(run.metrics["training"]["history"][key], dtype=float) for run in chosen]
        peaks = [np.nanmax(curve) if np.isfinite(curve).any() else -np.inf for curve in curves]
        best = int(np.argmax(peaks))
        text = f"{what} accuracy per epoch of {_count(len(chosen), 'run')}"
        if np.isfinite(peaks[best]):
            text += (f": best {peaks[best]:.2%} ({names[id(chosen[best])]}) at epoch "
                     f"{int(np.nanargmax(curves[best])) + 1} of {len(curves[best])}")
        said.append(text + ("" if key == "accuracy" or len(chosen) == len(runs) else
                            f"; {len(runs) - len(chosen)} without a validation split"))
    return "; ".join(said) + "."

# --- the digits no run reads right ---------------------------------------------------------------------

@dataclass(frozen=True)
class CommonMistakes:
    """The test images every compared run gets wrong, among those all of them were scored on."""

    indices: np.ndarray  # positions in MNIST's 10,000 test images, ascending
    labels: np.ndarray  # their true digits
    predictions: np.ndarray  # (runs, mistakes): each run's answer, best run first
    shared: int  # how many test images all compared runs were scored on
    runs: list[Run]  # the compared runs, best first
    not_recorded: list[Run]  # runs left out: they kept no (valid) test predictions


def common_mistakes(runs: list[Run], labels: np.ndarray | None = None) -> CommonMistakes:
    """The test digits every run with stored predictions misses, over the images they all share.

    A run whose stored labels disagree with MNIST's 10,000 test `labels` (by default, those on this machine:
    :func:`mnist_test_labels`) is left out with a warning: its predictions are not of these images.
    """
    recorded, missing = _with_predictions(runs, labels)
    if not recorded:
        nothing = np.zeros(0, dtype=np.int64)
        return CommonMistakes(nothing, nothing, np.zeros((0, 0), dtype=np.int64), 0, [], missing)
    shared, evaluations = _on_shared_images(recorded)
    truth = evaluations[0].labels
    predictions = np.stack([evaluation.predictions for evaluation in evaluations])
    wrong = (predictions != truth).all(axis=0)
    return CommonMistakes(indices=shared[wrong], labels=truth[wrong], predictions=predictions[:, wrong],
                          shared=len(shared), runs=[run for run, _ in recorded], not_recorded=missing)


def common_mistakes_figure(runs: list[Run], images: np.ndarray, labels: np.ndarray | None = None,
                           count: int = 30) -> DescribedFigure:
    """The digits no run reads right, from the runs' stored predictions, titled with the true label and the
    best run's answer: possibly ambiguous, or mislabeled in MNIST. `images` are MNIST's 10,000 test images (as
    loaded or prepared), `labels` theirs."""
    if len(images) < 10_000:
        raise ValueError(f"images holds {len(images):,} images: pass all 10,000 of MNIST's test images "
                         "(load_mnist(data_dir).x_test); the stored indices point into them")
    found = common_mistakes(runs, labels)
    left_out = (f"; {len(found.not_recorded)} run{'s' * (len(found.not_recorded) != 1)} without recorded test "
                "predictions left out" if found.not_recorded else "")
    chosen = np.arange(min(count, len(found.indices)))
    if not found.runs:
        title = "No run kept its test predictions (runs made before they were recorded): no shared mistakes to show"
    elif len(found.indices):
        title = (f"{len(found.indices):,} of the {found.shared:,} test digits the runs share are missed by every "
                 f"run: possibly ambiguous or mislabeled (true → {label(found.runs[0])}){left_out}")
    else:
        title = f"None of the {found.shared:,} test digits the runs share is missed by every run{left_out}"
    titles = [f"{found.labels[i]} → {found.predictions[0, i]}" for i in chosen]
    alt = title + "."
    if len(chosen):
        shown = "all shown" if len(chosen) == len(found.indices) else f"the first {len(chosen)} shown"
        alt = (f"{_count(len(found.indices), 'test digit')} of the {found.shared:,} the {len(found.runs)} runs share "
               f"{'is' if len(found.indices) == 1 else 'are'} missed by every run ({shown}, each titled with its "
               f"true digit and the best run's reading, {_names(found.runs)[0]}): "
               f"{_listed([f'{found.labels[i]} read as {found.predictions[0, i]}' for i in chosen])}{left_out}.")
    return digit_grid(np.asarray(images)[found.indices[chosen]], titles, ["#cf222e"] * len(chosen), 10, title,
                      alt=alt)
