"""An epoch of `fast` with glibc malloc's own settings and with the ones importing digitlib asks for.

TensorFlow frees each training step's tensors and allocates them again in the next step. With glibc's own
settings the freed memory goes back to the kernel, so every step faults it in again; importing digitlib asks
malloc to keep it (digitlib.backends.keep_freed_memory). Each run is a fresh process that trains one epoch of
`fast` (TensorFlow, the report's recipe, seed 42, all 54,000 training images) and reports train_seconds, its page
faults and its system time; the two settings alternate, so a machine's drift hits both alike. "glibc's own" is
asked for through $GLIBC_TUNABLES naming the default tcache count, which changes nothing in malloc but tells
digitlib that the user tuned it. The validation accuracy after the epoch shows that both compute the same.

    python bench/allocator.py [--runs 3] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import median, write_result

CHILD = """
import json, resource, sys, time
import digitlib
parameters = digitlib.validate_parameters(model="fast", epochs=int(sys.argv[1]), batch_size=None, learning_rate=None,
    schedule=None, validation_split=None, members=None, seed=42, data_dir=None, train_limit=None, test_limit=None)
digitlib.set_reproducible(42)
splits = digitlib.prepare_splits(digitlib.load_mnist(None), validation_split=parameters["validation_split"], seed=42)
network = digitlib.build_model("fast")
before = resource.getrusage(resource.RUSAGE_SELF)
training = digitlib.train_network(network, splits, **digitlib.recipe(parameters), seed=42)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"train_seconds": training.train_seconds, "page_faults": after.ru_minflt - before.ru_minflt,
                  "system_seconds": after.ru_stime - before.ru_stime, "user_seconds": after.ru_utime - before.ru_utime,
                  "val_accuracy": float(training.history["val_accuracy"][-1])}))
"""

SETTINGS = {  # label: what the child's environment adds
    "glibc's own settings": {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=7"},
    "digitlib's (keep freed memory)": {},
}


def one_run(extra: dict[str, str], epochs: int) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(epochs)], capture_output=True, text=True, check=True,
                          env={**environment, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", **extra})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    arguments = parser.parse_args()
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for _ in range(arguments.runs):
        for name, extra in SETTINGS.items():
            runs[name].append(one_run(extra, arguments.epochs))
            last = runs[name][-1]
            print(f"  {name}: {last['train_seconds']:.1f} s, {last['page_faults']:,} page faults, "
                  f"{last['system_seconds']:.1f} s system", flush=True)
    plain, kept = (runs[name] for name in SETTINGS)
    ratio = median([r["train_seconds"] for r in plain]) / median([r["train_seconds"] for r in kept])
    rows = [[name, f"{median([r['train_seconds'] for r in rs]):.1f}",
             f"{median([r['page_faults'] for r in rs]):,.0f}", f"{median([r['system_seconds'] for r in rs]):.1f}",
             f"{median([r['user_seconds'] for r in rs]):.1f}",
             ", ".join(f"{r['val_accuracy']:.4%}" for r in rs)] for name, rs in runs.items()]
    same = len({r["val_accuracy"] for rs in runs.values() for r in rs}) == 1
    write_result(
        "allocator", f"{arguments.epochs} epoch(s) of `fast` (TensorFlow) by malloc setting, medians of "
                     f"{arguments.runs} runs each",
        ["malloc", "train_seconds", "page faults", "system s", "user s", "validation accuracy"], rows,
        {"runs": runs, "epochs": arguments.epochs},
        notes=f"glibc's own settings / digitlib's: **{ratio:.2f}x** the training time (medians, the two alternating "
              f"in one invocation). Validation accuracy {'identical in every run' if same else 'NOT identical'}: "
              "the allocator changes where tensors live, not what is computed.")


if __name__ == "__main__":
    main()
