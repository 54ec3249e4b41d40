"""Training an ensemble: its `strong` members one after another, never one twice.

Member k of an ensemble with seed S is exactly what ``digitlib report -p model strong -p seed S+k``
trains: the same validation slice, initial weights, augmentation and image order. So a member is
trained only when no finished copy of it exists. Before training member k, :func:`fit_ensemble` looks
in the folder of finished runs it is given (the reports folder) for a ``strong`` run with the same
recipe, seed and data, and for a member an earlier ensemble run finished (``RUN/members/seed-N/``);
it loads the first it finds. :func:`train_network` trains any network of the registry: an ensemble
this way, any other with :func:`digitlib.fit_model`.
Members it trains itself are checkpointed after every epoch in this run's ``members/seed-N/``, so an
interrupted ensemble resumes inside the member it was training.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import numpy as np

from ..atomic import write_json
from ..backends import EARLIER_RUNS_BACKEND
from ..layout import MEMBER_FILE, MEMBER_PREFIX, MEMBERS_DIR, METRICS_FILE, MODEL_FILE
from ..modelfile import save_model
from ..models import MEMBER_MODEL, build_model, ensemble_members, model_spec
from ..params import EARLIER_RUNS_VALUES, RECIPE
from ..rundir import InvalidRun, history_read_back, read_json, skip_warning

if TYPE_CHECKING:
    import keras

    from .prepare import Splits
    from .training import TrainingResult



def member_record(splits: Splits, recipe: dict[str, Any], seed: int) -> dict[str, Any]:
    """What identifies a trained member: the model, its recipe and seed, and the data it learned from."""
    import keras

    return {
        "model": MEMBER_MODEL,
        "model_version": model_spec(MEMBER_MODEL).version,
        "backend": keras.backend.backend(),
        "seed": seed,
        **EARLIER_RUNS_VALUES,  # a recipe that leaves a later knob out trains as before it (fit_model's default)
        **recipe,
        "validation_split": splits.validation_split,
        "training_images": int(len(splits.x_train) + len(splits.x_val)),
        "data_sha256": dict(splits.data_sha256),
    }


def _record_of(finished: dict[str, Any]) -> dict[str, Any] | None:
    """The member record of a finished run's metrics.json (or a member.json), None if unreadable."""
    try:
        # a file written before a knob existed: that member trained with the value earlier runs trained with
        parameters, training = {**EARLIER_RUNS_VALUES, **finished["parameters"]}, finished["training"]
        return {  # older files, made before these were recorded, were TensorFlow runs of version 1
            "model": finished["model"],
            "model_version": finished.get("model_version", 1),
            "backend": (finished.get("backend") or finished.get("reproducibility", {}).get("backend")
                        or EARLIER_RUNS_BACKEND),
            "seed": parameters["seed"],
            **{name: parameters[name] for name in RECIPE},
            "validation_split": parameters["validation_split"],
            "training_images": training["train_images"] + training["validation_images"],
            "data_sha256": finished["data"]["sha256"],
        }
    except (KeyError, TypeError):
        return None


class TrainedMember(NamedTuple):
    """A finished model found for a member: its folder, and the member.json or metrics.json it was found by, as
    validated (the only read of that file: it is never read again, so what is loaded is what was checked)."""

    directory: Path
    finished: dict[str, Any]


def find_trained_member(reports_dir: str | os.PathLike | None, wanted: dict[str, Any],
                        first: Path | None = None) -> TrainedMember | None:
    """The finished model matching `wanted` (a :func:`member_record`): `first` if it matches, else a
    ``strong`` run or an ensemble member in `reports_dir`; None when there is none."""
    candidates = [first / MEMBER_FILE] if first else []
    if reports_dir:
        candidates += sorted(Path(reports_dir).glob(f"*/{METRICS_FILE}"))
        candidates += sorted(Path(reports_dir).glob(f"*/{MEMBERS_DIR}/*/{MEMBER_FILE}"))
    for path in candidates:
        if not (path.parent / MODEL_FILE).exists() or reports_dir and _linked(path, Path(reports_dir)):
            continue
        try:  # another run's files are data to check, like any run directory's
            finished = read_json(path, "member.schema.json" if path.name == MEMBER_FILE else "metrics.schema.json")
        except InvalidRun as problem:
            skip_warning(path.parent, problem)
            continue
        if _record_of(finished) == wanted:
            return TrainedMember(path.parent, finished)
    return None


def _linked(path: Path, reports_dir: Path) -> bool:
    """Whether a folder between `reports_dir` and the file `path` is a link: a run folder linked in from elsewhere
    is not one of the reports folder's runs (:func:`digitlib.rundir.read_runs` skips it too)."""
    return path.is_relative_to(reports_dir) and any(
        folder.is_symlink() for folder in path.parents if folder.is_relative_to(reports_dir) and folder != reports_dir)


def _save_member(directory: Path, member: keras.Model, wanted: dict[str, Any], splits: Splits,
                 training: TrainingResult) -> None:
    """model.keras, then member.json (the mark of a finished member, shaped like a run's metrics.json)."""
    save_model(directory, member)
    finished = {
        "model": MEMBER_MODEL,
        "model_version": wanted["model_version"],
        "backend": wanted["backend"],
        "parameters": {name: wanted[name] for name in ("seed", *RECIPE, "validation_split")},
        "training": {"history": training.history, "epoch_seconds": training.epoch_seconds,
                     "train_images": len(splits.x_train), "validation_images": len(splits.x_val)},
        "data": {"sha256": wanted["data_sha256"]},
    }
    write_json(directory / MEMBER_FILE, finished)  # a diverged member's NaN loss as null, read back as NaN


def _load_member(found: TrainedMember) -> tuple[keras.Model, TrainingResult] | None:
    """The member's model, read as :func:`digitlib.modelfile.load_trained_model` reads any (a regular file, no zip
    bomb, Keras' safe mode), and its training as the file it was found by holds it (a diverged epoch's null as NaN);
    None, with a warning, when its model.keras is refused: the member is then trained."""
    from ..modelfile import ModelError, load_trained_model
    from .training import TrainingResult

    try:
        model = load_trained_model(found.directory / MODEL_FILE)
    except ModelError as problem:
        skip_warning(found.directory, problem)
        return None
    training = found.finished["training"]
    return model, TrainingResult(history=history_read_back(training["history"]),
                                 epoch_seconds=training["epoch_seconds"])


def train_network(network: keras.Model, splits: Splits, *, finished_runs: str | os.PathLike | None = None,
                  **training: Any) -> TrainingResult:
    """Train any network of the registry: an ensemble member by member (members already trained in
    `finished_runs`, a reports folder, are loaded instead), any other with :func:`digitlib.fit_model`.

    `training` is fit_model's keywords: the recipe (epochs, batch_size, learning_rate, schedule, label_smoothing),
    seed, checkpoint_dir, callbacks and stream.
    """
    from .training import fit_model

    if not ensemble_members(network):
        return fit_model(network, splits, **training)
    recipe = {name: training.pop(name) for name in RECIPE if name in training}
    return fit_ensemble(network, splits, recipe, seed=training.pop("seed", 0),
                        checkpoint_dir=training.pop("checkpoint_dir", None), finished_runs=finished_runs,
                        callbacks=training.pop("callbacks", ()), stream=training.pop("stream", None) or sys.stdout,
                        **training)


def fit_ensemble(
    ensemble: keras.Model,
    splits: Splits,
    recipe: dict[str, Any],
    *,
    seed: int,
    checkpoint_dir: str | os.PathLike | None,
    finished_runs: str | os.PathLike | None,
    callbacks: Sequence[keras.callbacks.Callback],
    stream: TextIO,
) -> TrainingResult:
    """Train (or load) each member of `ensemble` in turn, seeded seed, seed+1, ..., into its place,
    with the recipe (epochs, batch_size, learning_rate, schedule, label_smoothing).

    Without `checkpoint_dir` every member is trained here, in memory; without `finished_runs`
    no finished run is looked for. The result's history is the members' mean per epoch, its epoch
    times their sum (for a loaded member, as measured when it was trained), and `members` says
    where each member came from.
    """
    from .training import fit_model, set_reproducible

    finished_runs = Path(finished_runs) if finished_runs else None
    places = ensemble_members(ensemble)
    results, sources = [], []
    for k, place in enumerate(places):
        member_seed = seed + k
        wanted = member_record(splits, recipe, member_seed)
        own = Path(checkpoint_dir) / MEMBERS_DIR / f"{MEMBER_PREFIX}{member_seed}" if checkpoint_dir else None
        found = find_trained_member(finished_runs, wanted, first=own)
        loaded = _load_member(found) if found else None
        heading = f"member {k + 1}/{len(places)} (seed {member_seed})"
        if loaded:
            member, training = loaded
            source = "this run" if found.directory == own else str(found.directory.relative_to(finished_runs))
            print(f"{heading}: already trained, loaded from {source}", file=stream, flush=True)
        else:
            print(f"{heading}: training", file=stream, flush=True)
            set_reproducible(member_seed)  # as `digitlib report -p model strong -p seed N` does before building
            member = build_model(MEMBER_MODEL)
            member_splits = splits.resplit(member_seed)
            if own:
                own.mkdir(parents=True, exist_ok=True)
            training = fit_model(member, member_splits, **recipe, seed=member_seed, checkpoint_dir=own,
                                 callbacks=callbacks, stream=stream)
            if own:
                _save_member(own, member, wanted, member_splits, training)
            source = "trained"
        place.set_weights(member.get_weights())
        results.append(training)
        sources.append({"seed": member_seed, "source": source, "train_seconds": training.train_seconds,
                        "val_accuracy": (training.history.get("val_accuracy") or [None])[-1]})
    set_reproducible(seed)
    return _combined(results, sources)


def _combined(results: list[TrainingResult], members: list[dict[str, Any]]) -> TrainingResult:
    """One training record for the ensemble: mean metrics and summed seconds per epoch."""
    from .training import TrainingResult

    epochs = min(len(result.epoch_seconds) for result in results)
    keys = set.intersection(*(set(result.history) for result in results))
    history = {key: [float(np.mean([r.history[key][e] for r in results])) for e in range(epochs)]
               for key in results[0].history if key in keys}
    seconds = [float(sum(r.epoch_seconds[e] for r in results)) for e in range(epochs)]
    return TrainingResult(history=history, epoch_seconds=seconds, members=tuple(members))
