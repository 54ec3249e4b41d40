"""What calling Keras' compiled training function once per batch costs: `fast` trained as JupyterLab trains it (a bar
of batches, so a call per batch) and as `digitlib report` does (no bar, a call per epoch), alternating in one
invocation.

Both train the same seed for `--epochs` epochs through `digitlib.fit_model`; the table gives the median seconds of
an epoch after the first (the first also traces the function) and says whether the two ended with the same weights.

    python bench/fit_calls.py [--model fast] [--epochs 2] [--rounds 3] [--name fit_calls]
"""

from __future__ import annotations

import argparse
import io

import digitlib
from common import median, write_result
from digitlib.params import recipe, validate_parameters


def one_fit(data, model_name: str, epochs: int, per_batch: bool):
    import numpy as np

    parameters = validate_parameters(model=model_name, seed=0, validation_split=0.1, epochs=epochs)
    splits = digitlib.prepare_splits(data, validation_split=0.1, seed=0)
    digitlib.set_reproducible(0)
    model = digitlib.build_model(model_name)
    result = digitlib.fit_model(model, splits, **recipe(parameters), stream=io.StringIO(), progress_bar=per_batch)
    return result, np.concatenate([np.ravel(w) for w in model.get_weights()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="fit_calls")
    arguments = parser.parse_args()
    import numpy as np

    data = digitlib.load_mnist()
    labels = {True: "a call per batch (a bar of batches, as in JupyterLab)",
              False: "a call per epoch (digitlib report)"}
    later_epochs: dict[str, list[float]] = {label: [] for label in labels.values()}
    weights = {}
    for round_ in range(arguments.rounds):
        for per_batch, label in labels.items():
            result, weights[label] = one_fit(data, arguments.model, arguments.epochs, per_batch)
            later_epochs[label] += result.epoch_seconds[1:]
            print(f"  round {round_ + 1}, {label}: epochs {', '.join(f'{s:.2f}' for s in result.epoch_seconds)} s",
                  flush=True)
    same = bool(np.array_equal(*weights.values()))
    baseline = median(later_epochs[labels[True]])
    rows = [[label, f"{median(seconds):.2f}", f"{median(seconds) / baseline:.2f}"]
            for label, seconds in later_epochs.items()]
    write_result(arguments.name, f"{arguments.model}: an epoch with a call of the training function per batch or "
                 f"per epoch (medians of the epochs after the first, {arguments.rounds} rounds)",
                 ["calls", "seconds per epoch", "against a call per batch"], rows,
                 {"model": arguments.model, "epochs": arguments.epochs, "rounds": arguments.rounds,
                  "epoch_seconds": later_epochs, "same_weights": same},
                 notes=f"Same weights at the end, bit for bit: {'yes' if same else 'NO'}.")


if __name__ == "__main__":
    main()
