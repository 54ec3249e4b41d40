"""The result at a glance: the headline a reader sees first, under the report's title."""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..train.evaluation import Evaluation
from ..train.provenance import device_label


@dataclass(frozen=True)
class Headline:
    """Model, test accuracy with its 95% interval, mistakes, training time, device and backend; and a
    warning when the run learned little or diverged (:func:`digitlib.report.diagnosis.diagnose`), else None."""

    model: str
    accuracy: float
    interval: tuple[float, float]
    mistakes: int
    images: int
    epochs: int
    train_seconds: float
    device: str
    backend: str
    warning: str | None = None

    def parts(self) -> list[tuple[str, str]]:
        low, high = self.interval
        return [
            ("model", self.model),
            ("test accuracy", f"{self.accuracy:.2%} (95% interval {low:.2%} – {high:.2%})"),
            ("mistakes", f"{self.mistakes:,} of {self.images:,} test images"),
            ("training", f"{self.epochs} epochs in {_duration(self.train_seconds)}"),
            ("on", f"{self.device}, {self.backend}"),
        ]

    def __str__(self) -> str:
        line = " · ".join(f"{name} {value}" for name, value in self.parts())
        return f"{line}\nwarning: {self.warning}" if self.warning else line

    def _repr_html_(self) -> str:
        cells = "".join(f'<div style="margin:0 1.6em 0.3em 0"><div style="font-size:0.8em;color:#57606a">'
                        f"{html.escape(name)}</div><div style=\"font-size:1.15em;font-weight:600\">"
                        f"{html.escape(value)}</div></div>" for name, value in self.parts())
        warning = ('<div style="flex-basis:100%;margin-top:0.4em;padding:0.5em 0.8em;border-left:4px solid #cf222e;'
                   'background:#ffebe9;color:#82071e;font-weight:600">warning: '
                   f"{html.escape(self.warning)}</div>" if self.warning else "")
        return ('<div style="display:flex;flex-wrap:wrap;padding:0.7em 1em;border:1px solid #d0d7de;'
                f'border-radius:6px;background:#f6f8fa">{cells}{warning}</div>')


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def headline(model_name: str, evaluation: Evaluation, training, device: dict | None = None,
             backend: str | None = None) -> Headline:
    """The headline of a training run; device and backend default to the ones training used. A run that
    learned little or diverged gets a warning saying what to change (:func:`digitlib.report.diagnosis.diagnose`)."""
    from .diagnosis import diagnose
    from .significance import accuracy_interval

    if device is None or backend is None:
        import keras

        from ..train.provenance import training_device

        device, backend = device or training_device(), backend or keras.backend.backend()
    correct = int((evaluation.predictions == evaluation.labels).sum())
    return Headline(model=model_name, accuracy=evaluation.accuracy,
                    interval=tuple(accuracy_interval(correct, len(evaluation.labels))),
                    mistakes=len(evaluation.mistakes), images=len(evaluation.labels), epochs=training.epochs,
                    train_seconds=training.train_seconds, device=device_label(device), backend=backend,
                    warning=diagnose(evaluation.accuracy, training.history,
                                     predicted={int(d) for d in set(evaluation.predictions.tolist())},
                                     parameters={"model": model_name, "epochs": training.epochs}))
