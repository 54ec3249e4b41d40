"""What went wrong with a run that trained but learned little, in one sentence that says what to change.

A run can finish, write its report and still be useless: trained too briefly to learn (one epoch on a
few thousand images reads every digit as the same one), or with a step size so large that the loss
blows up. :func:`diagnose` looks at the test accuracy, the training history and, where known, which
digits the network answered with, and returns None for a run that learned, else one plain sentence
naming the problem and the parameter to change (`-p epochs N`, `train_limit`, `learning_rate`).

It imports nothing heavy: the command line calls it on a finished run's metrics.json.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

CHANCE = 0.1  # ten digits, roughly balanced: guessing gets one in ten right
# Below this test accuracy a run has learned little, whatever the model. A linear classifier reaches ~92%
# on MNIST and every registered network passes 95% within its first epoch on the full training set, so a
# run that learned anything lands far above it; 0.5 sits halfway between chance and there, far enough from
# both that neither a noisy small test set nor a weak but learning model crosses it by accident.
NEAR_CHANCE = 0.5
TRAINING_IMAGES = 60_000


def diagnose(accuracy: float, history: Mapping[str, Sequence[float]], predicted: Collection[int] | None = None,
             parameters: Mapping[str, Any] | None = None) -> str | None:
    """None for a run that learned; else one sentence: what is wrong, and what to change.

    `accuracy` is the test accuracy, `history` Keras' per-epoch training history (loss, accuracy, maybe
    val_*), `predicted` the distinct digits the network answered on the test set (None: unknown), and
    `parameters` the run's parameters, which make the advice concrete (None: the advice names them only).
    Checked in order: a loss that became NaN or infinite, a training loss that grew, every test image read
    as one digit, a test accuracy below :data:`NEAR_CHANCE`.
    """
    parameters = parameters or {}
    loss = list(history.get("loss", []))
    broken = next((epoch for epoch, value in enumerate(loss, 1) if not math.isfinite(value)), None)
    if broken is not None:
        return (f"training diverged: the loss became {loss[broken - 1]} at epoch {broken}, so the network "
                f"learned nothing; lower the learning rate, {_lower_learning_rate(parameters)}")
    if len(loss) >= 2 and loss[-1] > loss[0]:
        return (f"training diverged: the training loss grew from {loss[0]:.3g} in epoch 1 to {loss[-1]:.3g} in "
                f"epoch {len(loss)} instead of falling; lower the learning rate, {_lower_learning_rate(parameters)}")
    one_digit = predicted is not None and len(set(predicted)) == 1
    if one_digit or accuracy < NEAR_CHANCE:
        what = f"test accuracy {accuracy:.1%} is near chance ({CHANCE:.0%} for ten digits)"
        if one_digit:
            what = (f"every test image was read as {next(iter(predicted))} ({accuracy:.1%} test accuracy, "
                    f"chance is {CHANCE:.0%})" if accuracy >= NEAR_CHANCE
                    else f"{what} and every test image was read as {next(iter(predicted))}")
        return f"{what}: the network has barely learned; {_train_more(parameters)}"
    return None


def diagnose_metrics(metrics: Mapping[str, Any] | None) -> str | None:
    """:func:`diagnose` on a finished training run's metrics.json (as read by
    :func:`digitlib.rundir.read_metrics`); None when there is none or the run learned."""
    if not metrics or "test" not in metrics or "training" not in metrics:
        return None
    test = metrics["test"]
    predicted = (predicted_digits(metrics["per_class"], test["images"])
                 if "per_class" in metrics and "images" in test else None)
    return diagnose(test["accuracy"], metrics["training"].get("history", {}), predicted,
                    metrics.get("parameters"))


def predicted_digits(per_class: Mapping[str, Mapping[str, float]], images: int) -> set[int] | None:
    """The one digit every test image was read as, as a set, from per-digit precision and recall;
    None when the network answered with more than one digit (or it cannot be told).

    A digit d that every image was read as has recall 1 and precision support(d) / images.
    """
    for digit, row in per_class.items():
        if row["recall"] == 1 and row["precision"] > 0 and math.isclose(
                row["support"] / row["precision"], images, rel_tol=1e-6):
            return {int(digit)}
    return None


def _default(parameters: Mapping[str, Any], name: str):
    """A parameter's value, or the model's own when the run left it None; None when neither is known."""
    if parameters.get(name) is not None:
        return parameters[name]
    if "model" not in parameters:
        return None
    from ..models import model_spec

    try:
        return getattr(model_spec(parameters["model"]), name)
    except Exception:  # noqa: BLE001 - an unknown model only makes the advice less concrete
        return None


def _lower_learning_rate(parameters: Mapping[str, Any]) -> str:
    rate = _default(parameters, "learning_rate")
    if rate is None:
        return "e.g. to a tenth of it with -p learning_rate"
    return f"e.g. to a tenth of its {rate:g} with -p learning_rate {rate / 10:g}"


def _train_more(parameters: Mapping[str, Any]) -> str:
    epochs, limit = _default(parameters, "epochs"), parameters.get("train_limit")
    longer = (f"train longer (it ran {epochs} epoch{'s' * (epochs != 1)}: try -p epochs {max(5, 2 * epochs)})"
              if epochs else "train longer (-p epochs 5 or more)")
    if "train_limit" in parameters and limit is None:
        more = "check learning_rate too (-p learning_rate)"
        return f"{longer}, and {more}"
    images = f"train_limit is {limit:,}: " if limit else ""
    return (f"{longer} or on more images ({images}-p train_limit null uses all {TRAINING_IMAGES:,}), "
            "and check learning_rate")
