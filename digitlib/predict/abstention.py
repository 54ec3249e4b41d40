"""Saying "that is not a digit": an out-of-distribution score from the trained model, and a threshold.

A softmax always picks a digit, for a letter, a scribble or a corner of paper too. The network's last hidden
layer tells more: digits land near training digits there, and near one of ten class centres. Six scores are
computed for every picture, each higher the less it looks like a digit:

- ``layered``: the combined score below plus the same nearest-neighbour distance one layer block down, among the
  convolutional features the first dense layer receives (a second bank, a seeded sample of training images), each
  standardized over the validation digits;
- ``neighbour``: one minus the cosine similarity, in the last hidden layer, to the nearest of a bank of training
  images' feature vectors (a nearest-neighbour distance; the bank is kept beside the model);
- ``combined``: the neighbour score plus the Mahalanobis score below, each standardized by its mean and spread
  over the validation digits;
- ``mahalanobis``: the distance, in the last hidden layer (each feature vector scaled to length 1), to the nearest
  class mean, with a covariance shared by the classes (both fitted on training images);
- ``energy``: minus the log-sum-exp of the last layer's logits (the model ends in a softmax, so the logits are
  recomputed from the last hidden layer and the last layer's weights);
- ``max_probability``: minus the highest of the ten probabilities.

:func:`fit_abstention` fits the class statistics and the bank on training images, keeps the score that best tells
the validation split's digits from a tuning set of non-digits (the highest AUROC; the test set is never looked
at), and sets its threshold on the validation split so that at most :data:`MAX_REFUSED` of its digits are
refused. The fitted detector is saved beside the model (:data:`digitlib.layout.ABSTENTION_FILE`, an ``.npz``
of plain arrays, no pickle) and read back as untrusted data by :func:`read_detector`. A detector saved before
the neighbour scores existed (no bank in its file) still reads, with the three scores it was chosen from, and one
saved before the layered score (no convolutional bank) with the five it was chosen from.

Statistics of earlier layers (the first convolution block's per-channel mean and spread) told non-digits from
MNIST's digits better still, but mostly by how a picture was prepared: they refused half of the realism set's
digits, which pass through the same preparation as a user's pictures and the non-digits (bench/results/abstain.md).
The layered score's nearest neighbours among whole convolutional feature maps refuse a little more of them instead.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..layout import ABSTENTION_FILE
from ..modelfile import ModelError

if TYPE_CHECKING:
    import keras

    from ..train.prepare import Splits

SCORES = ("layered", "combined", "neighbour", "mahalanobis", "energy", "max_probability")
BANKED_SCORES = SCORES[1:]  # what a detector file with a bank but no convolutional bank chose from
FORMER_SCORES = ("mahalanobis", "energy", "max_probability")  # what a detector file without a bank chose from
MAX_REFUSED = 0.01  # at most this share of the validation split's digits is refused
FIT_IMAGES = 20_000  # training images the class means and covariance are fitted on (a seeded sample)
SHRINKAGE = 0.01  # a covariance is blended this much with its mean variance, so it always inverts
MAX_FEATURES = 4096
# The bank: every training image's features as float16, or a seeded sample of as many as fit in this (fast: all
# 54,000 images of 128 features, 13.8 MB; with 20,000 of them 1.8 points fewer tuning non-digits were refused).
BANK_BYTES = 16 * 2**20
# The two banks (fast: 13.8 and 16.8 MB), and an ensemble of 3's 384 features: a 1.2 MB precision matrix.
MAX_FILE_BYTES = 64 * 2**20
_ARRAYS = ("score", "threshold", "means", "precision", "validation_refused", "auroc", "validation_images",
           "tuning_images", "tuning_refused")
_NEIGHBOUR_ARRAYS = ("bank", "standard")  # saved since the neighbour scores
_LAYERED_ARRAYS = ("convolutional_bank",)  # saved since the layered score


# --- what the network computes ---------------------------------------------------------------------------------

class Outputs(NamedTuple):
    """What the scores read of prepared pictures: the last hidden layer's features (N, d), the last layer's
    logits (N, 10) and the convolutional features the first dense layer receives (N, c)."""

    features: np.ndarray
    logits: np.ndarray
    convolutional: np.ndarray | None = None


def _last_dense(network: keras.Model):
    """The network's last layer, which must be a dense one: its logits are what the energy score reads."""
    from ..models import leaf_layers

    last = leaf_layers(network)[-1]
    if getattr(last, "kernel", None) is None:
        raise ValueError(f"{network.name}: its last layer is not a dense layer, so it has no logits to score")
    return last


def feature_width(model: keras.Model) -> int:
    """How many features :func:`network_outputs` gives each picture (an ensemble's members side by side)."""
    from ..models import ensemble_members

    return sum(int(_last_dense(network).kernel.shape[0]) for network in ensemble_members(model) or [model])


def network_outputs(model: keras.Model, images: np.ndarray, batch_size: int = 1024,
                    convolutional: bool | np.ndarray = True) -> Outputs:
    """The :class:`Outputs` of prepared images (N, 28, 28, 1); without `convolutional`, those features are None
    (many pictures' would take hundreds of MB); given sorted positions of `images`, they are those rows' only. An
    ensemble's members' features are put side by side and their logits averaged. Inference mode: augmentation and
    dropout are off."""
    import keras

    from ..models import ensemble_members
    from ..train.evaluation import layer_features

    features, logits, maps = [], [], []
    for network in ensemble_members(model) or [model]:
        last = _last_dense(network)
        kernel, bias = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in (last.kernel, last.bias))
        mine, hidden = layer_features(network, images, batch_size, convolutional)
        hidden = hidden.astype(np.float64)
        features.append(hidden)
        maps.append(mine)
        logits.append(hidden @ kernel + bias)
    if len(features) == 1:  # one network: its arrays as they are, not copies
        return Outputs(features[0], logits[0], maps[0])
    return Outputs(np.concatenate(features, axis=1), np.mean(logits, axis=0),
                   None if maps[0] is None else np.concatenate(maps, axis=1))


# --- the scores --------------------------------------------------------------------------------------------------

def unit_length(features: np.ndarray) -> np.ndarray:
    """Each feature vector scaled to length 1 (all zeros stay zeros): what the Mahalanobis score measures."""
    features = np.asarray(features, dtype=np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def class_statistics(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(means (10, d), precision (d, d)): each digit's mean feature vector, and the inverse of the covariance
    shared by the ten classes, shrunk towards its mean variance by :data:`SHRINKAGE` so that it inverts."""
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    present = np.unique(labels)
    if len(present) != 10:
        raise ValueError(f"fitting needs training images of all ten digits, got {len(present)}")
    means = np.stack([features[labels == digit].mean(axis=0) for digit in range(10)])
    centred = features - means[labels]
    covariance = centred.T @ centred / max(len(features) - 10, 1)
    scale = np.trace(covariance) / len(covariance) or 1.0
    covariance = (1 - SHRINKAGE) * covariance + SHRINKAGE * scale * np.eye(len(covariance))
    precision = np.linalg.inv(covariance)
    return means, (precision + precision.T) / 2


def mahalanobis(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N,): the Mahalanobis distance of each feature vector to its nearest class mean."""
    squared = np.stack([((features - mean) @ precision * (features - mean)).sum(axis=1) for mean in means])
    return np.sqrt(np.maximum(squared.min(axis=0), 0.0))


def neighbour_distance(features: np.ndarray, bank: np.ndarray, block_bytes: int = 16 * 2**20,
                       bank_block: int = 4096) -> np.ndarray:
    """(N,): one minus the cosine similarity of each feature vector to its nearest vector in `bank` (rows of unit
    length): 0 on a training image's own features, up to 2. The similarities are computed a block at a time, up to
    `bank_block` bank vectors against as many rows as fill one reused buffer of about `block_bytes` (fresh 200 MB
    blocks cost more in page faults than in arithmetic; a block of a few bank vectors against a few rows left the
    whole bank to be read again from memory for every block), each row keeping its best similarity so far."""
    unit, bank = unit_length(features).astype(np.float32), np.asarray(bank).astype(np.float32)
    if not len(unit):
        return np.zeros(0)
    columns = max(1, min(len(bank), bank_block))
    rows = min(len(unit), max(1, block_bytes // (4 * columns)))
    similarity = np.empty((rows, columns), dtype=np.float32)
    nearest = np.full(len(unit), -np.inf, dtype=np.float32)
    for start in range(0, len(unit), rows):
        part, best = unit[start:start + rows], nearest[start:start + rows]
        for first in range(0, len(bank), columns):
            chunk = bank[first:first + columns]
            block = similarity[:len(part), :len(chunk)]
            np.matmul(part, chunk.T, out=block)
            np.maximum(best, block.max(axis=1), out=best)
    return 1.0 - nearest.astype(np.float64)


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))[:, 0]


@dataclass(frozen=True)
class Statistics:
    """What the scores are measured against, fitted on training images and validation digits: the last hidden
    layer's class means and precision (unit-length features), the bank of unit-length training features,
    `standard`, (2, 2) or (3, 2): the mean and spread over the validation digits of the neighbour and Mahalanobis
    scores (and of the convolutional neighbour distance), and the bank of unit-length convolutional features. A
    detector file saved before the neighbour scores has only the first two (the rest None), one saved before the
    layered score no convolutional bank."""

    means: np.ndarray
    precision: np.ndarray
    bank: np.ndarray | None = None
    standard: np.ndarray | None = None
    convolutional_bank: np.ndarray | None = None


def candidate_scores(outputs: Outputs, statistics: Statistics) -> dict[str, np.ndarray]:
    """Every score of :data:`SCORES` for each picture (those of :data:`FORMER_SCORES` only, for statistics without a
    bank; without `standard`, no ``combined``; without a convolutional bank, no ``layered``); higher means less
    like a digit."""
    logits = np.asarray(outputs.logits, dtype=np.float64)
    log_top = logits.max(axis=1) - _logsumexp(logits)
    scores = {"mahalanobis": mahalanobis(unit_length(outputs.features), statistics.means, statistics.precision),
              "energy": -_logsumexp(logits), "max_probability": -np.exp(log_top)}
    if statistics.bank is not None:
        scores = {"neighbour": neighbour_distance(outputs.features, statistics.bank), **scores}
        if statistics.standard is not None:
            scores = {"combined": _combined(scores, statistics.standard), **scores}
            if statistics.convolutional_bank is not None:
                distance = neighbour_distance(outputs.convolutional, statistics.convolutional_bank)
                scores = {"layered": _layered(scores["combined"], distance, statistics.standard), **scores}
    return scores


def _combined(scores: dict[str, np.ndarray], standard: np.ndarray) -> np.ndarray:
    (n_mean, n_spread), (m_mean, m_spread) = standard[:2]
    return (scores["neighbour"] - n_mean) / n_spread + (scores["mahalanobis"] - m_mean) / m_spread


def _layered(combined: np.ndarray, convolutional_distance: np.ndarray, standard: np.ndarray) -> np.ndarray:
    mean, spread = standard[2]
    return combined + (convolutional_distance - mean) / spread


def auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    """The probability that an outlier scores higher than an inlier (ties count half): the area under the ROC
    curve of telling them apart by the score. 0.5 is chance, 1.0 perfect."""
    inliers, outliers = np.asarray(inliers, dtype=np.float64), np.asarray(outliers, dtype=np.float64)
    if not len(inliers) or not len(outliers):
        raise ValueError("AUROC needs inliers and outliers")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([inliers, outliers]))  # ties share their mean rank
    above = ranks[len(inliers):].sum() - len(outliers) * (len(outliers) + 1) / 2
    return float(above / (len(inliers) * len(outliers)))


def threshold_for(scores: np.ndarray, max_refused: float = MAX_REFUSED) -> float:
    """The lowest threshold that refuses (score above it) at most `max_refused` of `scores`."""
    scores = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if not len(scores) or not np.isfinite(scores).all():
        raise ValueError("a threshold needs finite scores of validation digits")
    allowed = math.floor(max_refused * len(scores) + 1e-9)
    return float(scores[min(allowed, len(scores) - 1)])


def bank_rows(images: int, features: int, seed: int = 0) -> np.ndarray:
    """Which of `images` training images the bank keeps: all when their `features` fit in :data:`BANK_BYTES` as
    float16, else a seeded sample of as many as fit (sorted)."""
    room = max(1, BANK_BYTES // (2 * features))
    if images <= room:
        return np.arange(images)
    return np.sort(np.random.default_rng(seed).choice(images, size=room, replace=False))


def fit_statistics(fit: Outputs, labels: np.ndarray, bank: Outputs, validation: Outputs,
                   convolutional_bank: np.ndarray) -> tuple[Statistics, dict[str, np.ndarray]]:
    """The :class:`Statistics` (class means and precision of `fit`'s outputs with their `labels`, the bank of `bank`'s
    unit-length features and of the `convolutional_bank` features (of training images too) as float16, the
    neighbour, Mahalanobis and convolutional neighbour distances standardized on `validation`'s outputs) and the
    validation pictures' scores, which the standardization computes anyway."""
    means, precision = class_statistics(unit_length(fit.features), labels)
    kept = unit_length(bank.features).astype(np.float16)
    maps = unit_length(convolutional_bank).astype(np.float16)
    valid = candidate_scores(validation, Statistics(means, precision, kept))
    valid["convolutional"] = neighbour_distance(validation.convolutional, maps)
    standard = np.array([(np.mean(valid[name]), np.std(valid[name]) or 1.0)
                         for name in ("neighbour", "mahalanobis", "convolutional")], dtype=np.float64)
    combined = _combined(valid, standard)
    layered = _layered(combined, valid.pop("convolutional"), standard)
    return Statistics(means, precision, kept, standard, maps), {"layered": layered, "combined": combined, **valid}


# --- the detector ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Detector:
    """A fitted not-a-digit detector: which score, its threshold, the :class:`Statistics` it measures against,
    and how it did where it was fitted (validation digits, tuning non-digits)."""

    score: str
    threshold: float
    statistics: Statistics
    validation_refused: float
    auroc: float  # validation digits against the tuning non-digits
    validation_images: int
    tuning_images: int
    tuning_refused: float

    def all_scores(self, model: keras.Model, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every candidate score of prepared images (N, 28, 28, 1)."""
        try:
            outputs = network_outputs(model, images, convolutional=self.statistics.convolutional_bank is not None)
        except (ValueError, TypeError) as error:  # a model of the user's the detector cannot take features from
            raise ModelError(f"the not-a-digit detector cannot read this model's features ({str(error)[:160]}): it "
                             f"belongs to another model; delete {ABSTENTION_FILE} beside the model to read without "
                             "it") from None
        expected = self.statistics.means.shape[1]
        if outputs.features.shape[1] != expected:
            raise ModelError(f"the not-a-digit detector was fitted on {expected} features, but this model has "
                             f"{outputs.features.shape[1]}: it belongs to another model; delete {ABSTENTION_FILE} "
                             "beside the model to read without it")
        maps = self.statistics.convolutional_bank
        if maps is not None and outputs.convolutional.shape[1] != maps.shape[1]:
            raise ModelError(f"the not-a-digit detector was fitted on {maps.shape[1]} convolutional features, but this "
                             f"model has {outputs.convolutional.shape[1]}: it belongs to another model; delete "
                             f"{ABSTENTION_FILE} beside the model to read without it")
        return candidate_scores(outputs, self.statistics)

    def scores(self, model: keras.Model, images: np.ndarray) -> np.ndarray:
        """(N,): this detector's score of prepared images; above :attr:`threshold` is "not a digit"."""
        return self.all_scores(model, images)[self.score]

    def refuses(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) > self.threshold

    def describe(self) -> str:
        return (f"Not a digit? The {self.score.replace('_', ' ')} score tells the {self.validation_images:,} "
                f"validation digits from {self.tuning_images:,} tuning non-digits (letters, scribbles, paper, "
                f"photo crops) with an AUROC of {self.auroc:.3f}; its threshold {self.threshold:.4g} refuses "
                f"{self.validation_refused:.1%} of the validation digits and {self.tuning_refused:.1%} of those "
                "non-digits.")


def describe_abstention(detector: Detector | None) -> str:
    """The training report's line on the detector: its score, AUROC and threshold, or why there is none."""
    if detector is None:
        return ("No not-a-digit detector: it needs a validation split to set its threshold on without the test set "
                "(the seed's recipe trains on every training image), training images of all ten digits (a tiny "
                f"train_limit may lack some) and a last hidden layer of at most {MAX_FEATURES:,} features (strong "
                "version 1 and its ensembles have more): `digitlib predict` reads every picture as a digit.")
    return detector.describe()


def fit_abstention(model: keras.Model, splits: Splits, nondigits: np.ndarray, output_dir: str | os.PathLike | None
                   = None, seed: int = 0) -> Detector | None:
    """Fit the detector's :class:`Statistics` on `splits`' training images (and validation digits), choose its
    score (highest AUROC, validation digits against `nondigits`, (N, 28, 28) uint8 prepared as predict prepares
    pictures) and threshold (:data:`MAX_REFUSED` of the validation digits), and save it into `output_dir` when
    given. None when there is no validation split to set a threshold on (the seed's recipe), the images it fits on
    lack a digit (a tiny train_limit), or the last hidden layer is wider than :data:`MAX_FEATURES` (strong version
    1 and its ensembles; an ensemble of more than 16 members of version 2 or later)."""
    from ..train.prepare import prepare_images

    if len(splits.x_val) == 0:
        return None
    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(len(splits.x_train), size=min(FIT_IMAGES, len(splits.x_train)), replace=False))
    if len(np.unique(splits.y_train[fit])) < 10:
        return None
    if feature_width(model) > MAX_FEATURES:  # strong version 1's 6,272: a covariance
        return None  # of 40 million numbers would take minutes to invert and 300 MB to keep
    validation = network_outputs(model, splits.x_val)
    banked = bank_rows(len(splits.x_train), feature_width(model), seed)
    mapped = banked[bank_rows(len(banked), validation.convolutional.shape[1], seed)]  # the second bank's images
    needed = np.union1d(fit, banked)  # each training image through the network once
    every = len(needed) == len(splits.x_train)  # fast: the bank keeps them all; no 170 MB copy of the images
    train = network_outputs(model, splits.x_train if every else splits.x_train[needed],
                            convolutional=np.searchsorted(needed, mapped))
    fitted, kept = (Outputs(train.features[at], train.logits[at])
                    for at in (np.searchsorted(needed, rows) for rows in (fit, banked)))
    statistics, valid = fit_statistics(fitted, splits.y_train[fit], kept, validation, train.convolutional)
    outside = prepare_images(np.asarray(nondigits))
    tuning = candidate_scores(network_outputs(model, outside), statistics)
    areas = {name: auroc(valid[name], tuning[name]) for name in SCORES}
    chosen = max(SCORES, key=lambda name: areas[name])  # ties: the first in SCORES
    threshold = threshold_for(valid[chosen])
    detector = Detector(score=chosen, threshold=threshold, statistics=statistics,
                        validation_refused=float(np.mean(valid[chosen] > threshold)), auroc=areas[chosen],
                        validation_images=len(splits.x_val), tuning_images=len(outside),
                        tuning_refused=float(np.mean(tuning[chosen] > threshold)))
    if output_dir is not None:
        save_detector(output_dir, detector)
    return detector


def save_detector(output_dir: str | os.PathLike, detector: Detector) -> Path:
    """OUTPUT_DIR/abstention.npz, written atomically: plain arrays, no pickle."""
    import io

    from ..atomic import write_atomic

    statistics = detector.statistics
    neighbour = {} if statistics.bank is None else {"bank": statistics.bank.astype(np.float16),
                                                    "standard": statistics.standard.astype(np.float64)}
    if statistics.convolutional_bank is not None:
        neighbour["convolutional_bank"] = statistics.convolutional_bank.astype(np.float16)
    buffer = io.BytesIO()
    np.savez(buffer, score=np.array(detector.score), threshold=np.float64(detector.threshold),
             means=statistics.means.astype(np.float64), precision=statistics.precision.astype(np.float64),
             validation_refused=np.float64(detector.validation_refused), auroc=np.float64(detector.auroc),
             validation_images=np.int64(detector.validation_images), tuning_images=np.int64(detector.tuning_images),
             tuning_refused=np.float64(detector.tuning_refused), **neighbour)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    return write_atomic(Path(output_dir) / ABSTENTION_FILE, buffer.getvalue())


def read_detector(run_dir: str | os.PathLike) -> Detector | None:
    """The detector saved in `run_dir`, or None when there is none (a run trained before detectors, or a model
    kept elsewhere). A file that is not one, as saved by :func:`save_detector`, is a :class:`ModelError`."""
    from ..untrusted import open_regular_file

    path = Path(run_dir) / ABSTENTION_FILE
    if not os.path.lexists(path):
        return None

    def refuse(why: str) -> ModelError:
        return ModelError(f"{path}: not a not-a-digit detector ({why}); delete it to read without one, or train "
                          "the model again")

    try:
        with open_regular_file(path, ModelError) as file:
            content = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise refuse(f"unreadable: {error.strerror or error}") from None
    if len(content) > MAX_FILE_BYTES:
        raise refuse(f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(member.file_size for member in archive.infolist()) > MAX_FILE_BYTES:
                raise refuse(f"more than {MAX_FILE_BYTES // 2**20} MiB once uncompressed")
        with np.load(io.BytesIO(content), allow_pickle=False) as stored:
            names = sorted(stored.files)
            if names not in (sorted(_ARRAYS), sorted(_ARRAYS + _NEIGHBOUR_ARRAYS),
                             sorted(_ARRAYS + _NEIGHBOUR_ARRAYS + _LAYERED_ARRAYS)):
                raise refuse(f"holds {', '.join(names) or 'nothing'}")
            arrays = {name: stored[name] for name in names}
    except ModelError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise refuse(f"{type(error).__name__}: {str(error)[:120]}") from None
    return _detector_from(arrays, refuse)


def _detector_from(arrays: dict[str, np.ndarray], refuse) -> Detector:
    with_bank, layered = "bank" in arrays, "convolutional_bank" in arrays
    score = arrays["score"]
    allowed = SCORES if layered else BANKED_SCORES if with_bank else FORMER_SCORES
    if score.shape != () or score.dtype.kind != "U" or str(score) not in allowed:
        raise refuse(f"unknown score {str(score)[:40]!r}")
    means, precision = arrays["means"], arrays["precision"]
    if means.dtype != np.float64 or means.ndim != 2 or means.shape[0] != 10 or not 0 < means.shape[1] <= MAX_FEATURES:
        raise refuse(f"class means of shape {means.shape} and type {means.dtype}, not (10, features) floats")
    if precision.dtype != np.float64 or precision.shape != (means.shape[1],) * 2:
        raise refuse(f"a precision matrix of shape {precision.shape}, not {(means.shape[1],) * 2}")
    scalars = {}
    for name in ("threshold", "validation_refused", "auroc", "tuning_refused", "validation_images",
                 "tuning_images"):
        value = arrays[name]
        if value.shape != () or value.dtype.kind not in "fi":
            raise refuse(f"{name} is not a number")
        scalars[name] = value.item()
    statistics = Statistics(means, precision)
    if with_bank:
        bank, standard = arrays["bank"], arrays["standard"]
        if bank.dtype != np.float16 or bank.ndim != 2 or not len(bank) or bank.shape[1] != means.shape[1]:
            raise refuse(f"a bank of shape {bank.shape} and type {bank.dtype}, not (images, {means.shape[1]}) "
                         "float16")
        rows = 3 if layered else 2
        if standard.dtype != np.float64 or standard.shape != (rows, 2) or not (standard[:, 1] > 0).all():
            raise refuse(f"standardization of shape {standard.shape} and type {standard.dtype}, not ({rows}, 2) "
                         "floats with positive spreads")
        maps = arrays.get("convolutional_bank")
        if maps is not None and (maps.dtype != np.float16 or maps.ndim != 2 or not len(maps) or not maps.shape[1]):
            raise refuse(f"a convolutional bank of shape {maps.shape} and type {maps.dtype}, not (images, features) "
                         "float16")
        statistics = Statistics(means, precision, bank, standard, maps)
    if (not all(np.isfinite(a).all() for a in vars(statistics).values() if a is not None)
            or not all(map(math.isfinite, scalars.values()))):
        raise refuse("numbers that are not finite")
    return Detector(score=str(score), statistics=statistics, threshold=float(scalars["threshold"]),
                    validation_refused=float(scalars["validation_refused"]), auroc=float(scalars["auroc"]),
                    validation_images=int(scalars["validation_images"]), tuning_images=int(scalars["tuning_images"]),
                    tuning_refused=float(scalars["tuning_refused"]))
