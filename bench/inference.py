"""Inference speed: batch throughput over the 10,000 test images, and single-image latency, of the network as the
report's evaluation runs it (digitlib.predict_probabilities, one view of each image) and as `digitlib predict`
reads a user's picture (read_digits: hairlines broadened, then five views, the picture and its one-pixel moves, in
one batch), with
the model already loaded. Weights do not change the speed, so without --model-path a freshly built network is timed.

    python bench/inference.py [--model fast | --model-path reports/latest/model.keras] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import digitlib
from common import median, percentile, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast", help="registry name (default: fast)")
    parser.add_argument("--model-path", help="a saved model.keras to time instead")
    parser.add_argument("--repeats", type=int, default=5, help="batch passes over the test set")
    parser.add_argument("--single", type=int, default=300, help="single-image predictions")
    arguments = parser.parse_args()

    from digitlib.modelfile import load_trained_model
    from digitlib.predict.predictions import read_digits

    model = load_trained_model(arguments.model_path) if arguments.model_path else digitlib.build_model(arguments.model)
    digits = digitlib.load_mnist().x_test
    rows, found = [], {}
    for path, read, images in (("the network, one view (the report's evaluation)", digitlib.predict_probabilities,
                                digitlib.prepare_images(digits)),
                               ("a user's picture, five views (digitlib predict)", read_digits, digits)):
        read(model, images[:1024])  # build and trace once, as a loaded model would be
        read(model, images[:1])
        batch_seconds = []
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            read(model, images)
            batch_seconds.append(time.perf_counter() - start)
        latencies_ms = []
        for index in range(arguments.single):
            one = images[index:index + 1]
            start = time.perf_counter()
            read(model, one)
            latencies_ms.append((time.perf_counter() - start) * 1000)
        throughput = len(images) / median(batch_seconds)
        rows += [[f"{path}: batch throughput, 10,000 test images (median of {arguments.repeats})",
                  f"{throughput:,.0f} images/s"],
                 [f"{path}: single image p50", f"{median(latencies_ms):.2f} ms"],
                 [f"{path}: single image p95", f"{percentile(latencies_ms, 95):.2f} ms"]]
        found[read.__name__] = {"batch_seconds": batch_seconds, "images_per_second": throughput,
                                "latency_ms": {"p50": median(latencies_ms), "p95": percentile(latencies_ms, 95)}}
    label = arguments.model_path or arguments.model
    write_result(
        f"inference_{arguments.model}" if not arguments.model_path else "inference_saved",
        f"Inference speed of {label} ({model.count_params():,} parameters)",
        ["measure", "value"], rows, {"model": label, **found},
    )


if __name__ == "__main__":
    main()
