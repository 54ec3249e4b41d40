"""The ``digitlib`` command.

``digitlib report [-p NAME VALUE ...] [--params-file FILE]`` trains and renders a report;
``digitlib sweep SWEEP.yaml [--jobs N | --scheduler tcp://HOST:8786]`` runs a batch of reports, here or on a
Dask cluster;
``digitlib predict IMAGE_OR_DIR ... [--model PATH] [--top K] [--json] [--number]`` reads digits (or whole numbers)
from images;
``digitlib compare RUN RUN [RUN ...] [--title TEXT] [--data-dir DIR]`` renders the comparison of finished runs (run
ids in --reports-dir, or run folders) into the reports folder, as ``digitlib report --notebook compare_runs`` does.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import sys
import warnings
from pathlib import Path

from ..backends import BACKENDS
from ..layout import INDEX_FILE, REPORTS_DIR
from ..modelfile import ModelError
from ..params import (
    COMPARISON,
    DRAWING,
    PREDICTION,
    TRAINING,
    ParameterError,
    describe_parameters,
    load_parameters_file,
    notebook_names,
    parse_value,
)
from ..untrusted import printable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for cat or seq whose reader stopped early


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digitlib", description="Train, evaluate and report on MNIST digits.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report",
        help="execute the MNIST notebook into reports/<run-id>/ and render report.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="parameters (name, default, meaning):\n" + describe_parameters(),
    )
    report.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a parameter; VALUE is read as YAML (10, 0.5, null, text)")
    report.add_argument("--params-file", metavar="FILE", help="YAML file of parameters (-p wins over it)")
    report.add_argument("--reports-dir", default=REPORTS_DIR, metavar="DIR",
                        help=f"where runs go (default: {REPORTS_DIR})")
    report.add_argument("--show-code", action="store_true", help="keep the code cells in report.html")
    report.add_argument("--resume", metavar="RUN_ID",
                        help="continue an interrupted or failed run in its directory, from its last finished epoch")
    report.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop the run, marked 'timed out', when one notebook cell runs longer")
    report.add_argument("--json", action="store_true",
                        help="print the result as one JSON object on stdout (run id, status, paths, test accuracy); "
                             "the notebook's progress goes to stderr")
    report.add_argument("--backend", choices=BACKENDS,
                        help="the Keras backend to train with (default: $KERAS_BACKEND, else ~/.keras/keras.json's, "
                             "else tensorflow); a resumed run keeps its own")
    report.add_argument("--notebook", default=TRAINING.name, choices=notebook_names(),
                        help=f"which notebook to run (default: {TRAINING.name}; {PREDICTION.name} reads your images, "
                             f"{COMPARISON.name} compares runs, {DRAWING.name} is a canvas for JupyterLab)")
    report.add_argument("--mlflow", metavar="URI",
                        help="also log the finished run to the MLflow tracking server (or store) at URI: parameters, "
                             "per-epoch and test metrics, tags, report, metrics, model and notebook "
                             "(default: $MLFLOW_TRACKING_URI; needs the mlflow extra; '' turns it off)")

    sweep = commands.add_parser("sweep", help="run every parameter set of a YAML sweep file, skipping those done")
    sweep.add_argument("sweep_file", metavar="SWEEP.yaml", help="a grid or list of parameter sets (see sweeps/)")
    sweep.add_argument("--jobs", type=int, default=1, metavar="N", help="runs at once on this machine (default 1)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run each run as a task on the Dask cluster of this scheduler (tcp://HOST:8786); "
                            "finished runs come back into --reports-dir")
    sweep.add_argument("--json", action="store_true",
                       help="print the outcome as one JSON object on stdout (every run's id, status and accuracy)")
    sweep.add_argument("--reports-dir", default=REPORTS_DIR, metavar="DIR",
                       help=f"where runs go (default: {REPORTS_DIR})")
    sweep.add_argument("--yes", action="store_true", help="run a sweep of more than 100 runs (never asked)")
    sweep.add_argument("--mlflow", metavar="URI",
                       help="also log the sweep to the MLflow tracking server (or store) at URI, as a parent run "
                            "with each run it executes as a child (default: $MLFLOW_TRACKING_URI; needs the "
                            "mlflow extra; '' turns it off)")

    predict = commands.add_parser("predict", help="read the digit in each image with a trained model")
    predict.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                         help="image files, or folders of images (each file is read once, however often it is named)")
    predict.add_argument("--model", metavar="PATH",
                         help="a saved model.keras, or a run folder holding one (default: the best finished model "
                              "in --reports-dir: the most capable model trained on all the training images, then "
                              "the best validation accuracy; it is named on stderr)")
    predict.add_argument("--reports-dir", default=REPORTS_DIR, metavar="DIR",
                         help=f"where to look for the best finished model (default: {REPORTS_DIR})")
    predict.add_argument("--top", type=int, default=3, metavar="K", help="how many likeliest digits to list (1-10)")
    predict.add_argument("--json", action="store_true",
                         help="one JSON object per image; with label and correct where the file's name "
                              "carries its digit as a token label<digit> (photo_label4.jpg)")
    predict.add_argument("--backend", choices=BACKENDS,
                         help="the Keras backend to read with (default: $KERAS_BACKEND, else ~/.keras/keras.json's, "
                              "else tensorflow); a model saved by either backend loads with both")
    predict.add_argument("--number", action="store_true",
                         help="read each picture as a whole number: find its digits (lines top to bottom, each "
                              "left to right; lines joined by a space) and print the number with each digit's "
                              "probability; with --json its digits' boxes too (--top does not apply)")

    compare = commands.add_parser(
        "compare", help="compare finished training runs side by side into reports/<run-id>/report.html",
        usage="digitlib compare RUN RUN [RUN ...] [--title TEXT] [--data-dir DIR] [--reports-dir DIR] [--json] "
              "[--show-code] [--timeout SECONDS]",
        description="Render notebooks/compare_runs.ipynb for two or more finished training runs: what differs, "
                    "which differences are significant, seeds, backends, the images one run reads right and the "
                    "other wrong, calibration, robustness, curves and the digits every run gets wrong.")
    compare.add_argument("runs", nargs="*", metavar="RUN",
                         help="a run id in --reports-dir (as its index.html lists it), best or latest (the run that "
                              "link points at), or a run's folder")
    compare.add_argument("--title", metavar="TEXT", help="what is being compared, shown in the report "
                                                         "(default: the run ids)")
    compare.add_argument("--data-dir", metavar="DIR",
                         help="folder with the MNIST files (default: $DIGITLIB_DATA_DIR, else download)")
    compare.add_argument("--reports-dir", default=REPORTS_DIR, metavar="DIR",
                         help=f"where the run ids are, and where the comparison goes (default: {REPORTS_DIR})")
    compare.add_argument("--show-code", action="store_true", help="keep the code cells in report.html")
    compare.add_argument("--timeout", type=float, metavar="SECONDS",
                         help="stop the comparison, marked 'timed out', when one notebook cell runs longer")
    compare.add_argument("--json", action="store_true",
                         help="print the result as one JSON object on stdout (run id, status, paths)")
    return parser


def _terminal_stderr():
    """The terminal's stderr as it is now: the runner points file descriptor 2 at the run's kernel.log
    while the notebook runs, so progress meant for the user is written to a copy of the descriptor."""
    import os

    return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="backslashreplace")


def report_command(arguments: argparse.Namespace) -> int:
    from .runner import resume_report, run_report
    from .sweep import stop_with_parent
    from .tracking import tracker_for

    stop_with_parent()  # a run a sweep started is interrupted (and resumable) if the sweep dies

    if arguments.timeout is not None and not (math.isfinite(arguments.timeout) and arguments.timeout > 0):
        raise ParameterError(f"--timeout must be a positive number of seconds, got {arguments.timeout:g}")
    options = {"reports_dir": arguments.reports_dir, "show_code": arguments.show_code, "timeout": arguments.timeout,
               "stream": _terminal_stderr() if arguments.json else sys.stdout}  # --json: stdout holds the result
    tracker = tracker_for(arguments.mlflow, log=options["stream"])  # None without a URI: MLflow is not imported
    if arguments.resume is not None:  # `--resume ""` is a bad run id, not a fresh run
        if arguments.parameter or arguments.params_file or arguments.backend:
            raise ParameterError("--resume continues a run with its own parameters and backend; "
                                 "drop -p, --params-file and --backend")
        result = resume_report(arguments.resume, **options)
    else:
        parameters = load_parameters_file(arguments.params_file) if arguments.params_file else {}
        parameters.update({name: parse_value(value) for name, value in arguments.parameter})
        # validates before anything runs
        result = run_report(parameters, notebook=arguments.notebook, backend=arguments.backend, **options)
    outcome = result.as_dict()  # reads metrics.json once, for the accuracy and the warning
    if tracker is not None:  # the finished run, whatever its status; a failure to log is a warning, not the run's
        tracker.log_run(result.run_dir)
    if arguments.json:
        print(json.dumps(outcome), flush=True)
    if result.status != "succeeded":
        print(f"digitlib: run {result.run_dir.name} {result.status}: "
              f"{printable(result.error)} (report: {printable(result.report)})", file=sys.stderr)
        return EXIT_FAILED
    accuracy = outcome["test_accuracy"]
    summary = f"test accuracy {accuracy:.2%}; " if accuracy is not None else ""
    if not arguments.json:
        print(f"{summary}report written to {printable(result.report)}", flush=True)
    if outcome["warning"]:  # the run succeeded, but learned little: say what to change, still exit 0
        print(f"digitlib: warning: {printable(outcome['warning'])}", file=sys.stderr, flush=True)
    return EXIT_OK


def _finished_run(given: str, reports_dir: str) -> Path:
    """The folder of the finished training run `given` names: a run id in `reports_dir`, the reports folder's
    `best` or `latest` link (the run id it points at), else a run's folder."""
    try:
        return _named_run(given, reports_dir)
    except OSError as error:  # a name too long, a folder on the way without permission
        raise ParameterError(f"{printable(given)}: cannot look at it ({printable(error.strerror or str(error))})"
                             ) from None


def _named_run(given: str, reports_dir: str) -> Path:
    import os

    from ..layout import BEST, LATEST, RUN_FILE
    from ..rundir import RUN_ID, InvalidRun, read_run, run_directory

    link = Path(reports_dir) / given
    if given in (BEST, LATEST) and link.is_symlink():  # our own links point at a run id beside them
        target = os.readlink(link)
        if not RUN_ID.fullmatch(target):
            raise ParameterError(f"{printable(str(link))} points at {printable(target)}, not a run of {reports_dir}")
        given = target
    by_id = RUN_ID.fullmatch(given) and (Path(reports_dir) / given / RUN_FILE).is_file()
    folder = run_directory(reports_dir, given) if by_id else Path(given)
    if not (folder / RUN_FILE).is_file():
        where = (f"{given} is not a run folder (it holds no {RUN_FILE})" if folder.is_dir()
                 else f"no run {given!r} in {reports_dir}, nor a run folder by that name" if RUN_ID.fullmatch(given)
                 else f"{given} does not exist")
        raise ParameterError(f"{printable(where)}: give run ids as {reports_dir}/index.html lists them "
                             "(or --reports-dir DIR), or paths to run folders")
    try:
        run = read_run(folder)
    except InvalidRun as problem:
        raise ParameterError(f"{printable(folder)} cannot be compared: {printable(str(problem))}") from None
    if not run.contract.trains:
        raise ParameterError(f"{printable(folder)} is a {run.contract.kind} run, not a training run: "
                             "compare runs that trained a model")
    if run.status != "succeeded" or run.metrics is None:
        raise ParameterError(f"{printable(folder)} has not finished (status: {run.status}): compare finished runs")
    return folder.resolve()


def compare_command(arguments: argparse.Namespace) -> int:
    from .runner import run_report

    folders = list(dict.fromkeys(_finished_run(given, arguments.reports_dir) for given in arguments.runs))
    if len(folders) < 2:
        raise ParameterError(f"compare needs two finished runs or more, got {len(folders)} "
                             f"({'the same run twice' if len(arguments.runs) > 1 else 'name at least two'})")
    if arguments.timeout is not None and not (math.isfinite(arguments.timeout) and arguments.timeout > 0):
        raise ParameterError(f"--timeout must be a positive number of seconds, got {arguments.timeout:g}")
    parameters = {"runs": [str(folder) for folder in folders],
                  "title": arguments.title if arguments.title is not None else " vs ".join(f.name for f in folders),
                  "data_dir": arguments.data_dir}
    result = run_report(parameters, notebook=COMPARISON.name, reports_dir=arguments.reports_dir,
                        show_code=arguments.show_code, timeout=arguments.timeout,
                        stream=_terminal_stderr() if arguments.json else sys.stdout)
    if arguments.json:
        print(json.dumps(result.as_dict()), flush=True)
    if result.status != "succeeded":
        print(f"digitlib: comparison {result.run_dir.name} {result.status}: "
              f"{printable(result.error)} (report: {printable(result.report)})", file=sys.stderr)
        return EXIT_FAILED
    if not arguments.json:
        print(f"comparison written to {printable(result.report)}", flush=True)
    return EXIT_OK


def predict_command(arguments: argparse.Namespace) -> int:
    import os

    from ..backends import choose_backend, kernel_environment
    from ..modelfile import load_trained_model, model_file
    from ..predict.predictions import default_model, labelled_accuracy, predict_images
    from .native import native_stderr_discarded

    if not 1 <= arguments.top <= 10:
        raise ParameterError(f"--top must be between 1 and 10, got {arguments.top}")
    model_path = arguments.model
    if model_path is None:
        chosen = default_model(arguments.reports_dir)
        print(f"digitlib: reading with {chosen}", file=sys.stderr, flush=True)  # stderr: --json keeps stdout
        model_path = chosen.path
    else:
        model_path = model_file(model_path)  # a run folder: the model.keras it saved
    os.environ.update(kernel_environment(choose_backend(arguments.backend)))  # before Keras is imported
    with native_stderr_discarded():  # TensorFlow's C++ start-up messages are not the user's business
        model = load_trained_model(model_path)
    from ..predict.abstention import read_detector  # NumPy: only once a model is there to read with

    detector = read_detector(Path(model_path).parent)  # the model's run folder's, if it has one
    if detector is None:
        print("digitlib: note: this model has no not-a-digit detector (runs trained before it, a model kept "
              "elsewhere, or one too wide for it), so every mark is read as a digit", file=sys.stderr, flush=True)
    if arguments.number:  # digits found in each picture and read as one number
        from ..predict.number import read_numbers

        with native_stderr_discarded():
            numbers = read_numbers(model, arguments.inputs, detector)
        return _print_numbers(numbers, arguments.json)
    with native_stderr_discarded():
        predictions = predict_images(model, arguments.inputs, detector)
    failed = False
    for prediction in predictions:
        failed |= prediction.error is not None
        # a label is judged on the digit read (the one it reads most like, where it is doubted), as counted below
        judged = "" if prediction.correct is None else \
            f"  label {prediction.label}: {'right' if prediction.correct else 'wrong'}"
        if arguments.json:
            print(json.dumps(prediction.as_dict(arguments.top)), flush=True)
        elif prediction.error:
            print(f"digitlib: {printable(prediction.error)}", file=sys.stderr, flush=True)
        elif prediction.abstained:
            print(f"{printable(prediction.path)}: not a digit? (score {prediction.score:.3g}; reads most like "
                  f"{prediction.digit} {prediction.probability:.0%}){judged}", flush=True)
        else:
            ranked = ", ".join(f"{d} {p:.1%}" for d, p in prediction.top(arguments.top))
            print(f"{printable(prediction.path)}: {prediction.digit} ({prediction.probability:.1%})  "
                  f"top {arguments.top}: {ranked}{judged}", flush=True)
    score = labelled_accuracy(predictions)
    if score is not None and not arguments.json:  # --json: one object per image, each with its label
        print(score, flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def _print_numbers(numbers: list, as_json: bool) -> int:
    """`digitlib predict --number`: one line per picture, its number and each digit's probability, a mark the
    not-a-digit detector doubts marked with its score (an object with --json), or on stderr why it could not be
    read; exit 1 if any could not."""
    def shown(digit) -> str:
        doubt = f" not a digit? (score {digit.score:.3g})" if digit.abstained else ""
        return f"{digit.digit} {digit.probability:.1%}{doubt}"

    for number in numbers:
        if as_json:
            print(json.dumps(number.as_dict()), flush=True)
        elif number.error:
            print(f"digitlib: {printable(number.error)}", file=sys.stderr, flush=True)
        else:
            digits = ", ".join(map(shown, number.digits))
            print(f"{printable(number.path)}: {number.text} ({digits})", flush=True)
    return EXIT_FAILED if any(number.error for number in numbers) else EXIT_OK


def _warnings_in_one_line() -> None:
    """Warnings (a run folder skipped, say) read like the command's other messages, one line each."""
    def one_line(message, category, *rest, **options) -> str:  # a file's name may hold a newline or escape codes
        return f"digitlib: warning: {printable(str(message))}\n"

    warnings.formatwarning = one_line


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM and SIGHUP (a closed terminal or SSH session) like Ctrl-C, so a killed run is still marked
    interrupted and indexed, and a sweep interrupts its runs (they resume) rather than leave them orphaned."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup it stays ignored
        signal.signal(signal.SIGHUP, interrupt)


def sweep_command(arguments: argparse.Namespace) -> int:
    import shlex

    from .sweep import ComparisonFailed, SweepInterrupted, check_sweep_size, load_sweep, render_comparison, run_sweep
    from .tracking import tracker_for

    if arguments.jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {arguments.jobs}")
    if arguments.scheduler is not None and arguments.jobs != 1:
        raise ParameterError("--jobs sets how many runs go at once on this machine; with --scheduler the "
                             "cluster's workers run them (one per worker thread): drop --jobs")
    sweep = load_sweep(arguments.sweep_file)  # every set is checked before anything runs
    check_sweep_size(sweep, allow_large=arguments.yes)
    log = sys.stderr if arguments.json else sys.stdout  # --json: stdout holds the outcome alone
    tracker = tracker_for(arguments.mlflow, log=log)  # None without a URI: MLflow is not imported
    if tracker is not None:
        tracker.start_sweep(sweep.name, arguments.sweep_file)  # the parent of the runs it logs
    try:
        if arguments.scheduler is not None:
            from .cluster import run_sweep_on_cluster  # imports Dask: only when asked for

            outcomes = run_sweep_on_cluster(sweep, arguments.scheduler, reports_dir=arguments.reports_dir, log=log,
                                            tracker=tracker)
        else:
            outcomes = run_sweep(sweep, reports_dir=arguments.reports_dir, jobs=arguments.jobs, log=log,
                                 tracker=tracker)
    except ParameterError:  # no backend, or no Dask scheduler there: the sweep ran nothing
        if tracker is not None:
            tracker.finish_sweep(sweep.name, [], status="FAILED")
        raise
    except SweepInterrupted as stopped:
        if tracker is not None:
            tracker.finish_sweep(sweep.name, [], status="KILLED")
        again = ["digitlib", "sweep", arguments.sweep_file]
        if arguments.scheduler is not None:
            again += ["--scheduler", arguments.scheduler]
        if arguments.reports_dir != REPORTS_DIR:
            again += ["--reports-dir", arguments.reports_dir]
        if arguments.yes:
            again.append("--yes")
        print(f"digitlib: sweep {sweep.name} stopped: {stopped}; run `{shlex.join(again)}` again to resume "
              "(interrupted runs continue, finished ones are skipped)", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = [o for o in outcomes if o.failed]
    skipped = sum(o.status == "skipped" for o in outcomes)
    index = Path(arguments.reports_dir) / INDEX_FILE
    print(f"sweep {sweep.name}: {len(outcomes)} runs, {len(outcomes) - skipped} executed and {skipped} already "
          f"finished earlier; {len(failed)} failed. Index: {index}", file=log)
    try:
        comparison = render_comparison(sweep, outcomes, arguments.reports_dir)
    except ComparisonFailed as error:  # the runs are done and indexed; their comparison is not
        if tracker is not None:
            tracker.finish_sweep(sweep.name, outcomes, status="FAILED")
        print(f"digitlib: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"comparison written to {comparison}" if comparison else "no run succeeded, so there is nothing to compare",
          file=log)
    if tracker is not None:
        tracker.finish_sweep(sweep.name, outcomes, comparison)
    if arguments.json:
        print(json.dumps({"sweep": sweep.name, "runs": [o.as_dict() for o in outcomes], "failed": len(failed),
                          "skipped": skipped, "index": str(index),
                          "comparison": str(comparison) if comparison else None}), flush=True)
    return EXIT_FAILED if failed else EXIT_OK


COMMANDS = {"report": report_command, "sweep": sweep_command, "predict": predict_command,
            "compare": compare_command}


def _reader_gone() -> int:
    """Stop quietly, as Python's documentation of SIGPIPE advises: stdout goes to /dev/null, so the interpreter's
    final flush of what is left cannot fail again with a second traceback. 141, as coreutils' tools end (killed by
    SIGPIPE, which a shell shows as 128 + 13), so `set -o pipefail` scripts see digitlib as they see cat."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file descriptor (a test's StringIO): nothing to flush at exit
        pass
    return EXIT_BROKEN_PIPE


def _writable_in_any_encoding() -> None:
    """Output in an encoding that cannot spell a name (a Latin-1 or ASCII terminal, PYTHONIOENCODING=ascii) shows
    what it cannot spell as \\xfc, as stderr already does, instead of a UnicodeEncodeError mid-output."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # None when started with it closed
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    _writable_in_any_encoding()
    parser = _parser()
    arguments = parser.parse_args(argv)
    _warnings_in_one_line()
    _interrupt_on_sigterm()
    try:
        status = COMMANDS[arguments.command](arguments)
        if sys.stdout is not None:  # None: started with stdout closed (`>&-`), and print() wrote nothing
            sys.stdout.flush()  # what print() kept meets a closed pipe here, not in the interpreter's exit
        return status
    except BrokenPipeError:  # `digitlib predict DIR | head -1`: the reader has what it wanted
        return _reader_gone()
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            raise
        _reader_gone()  # nothing more goes to stdout, not even the interpreter's final flush
        print(f"digitlib: error: cannot write the output ({printable(error.strerror or str(error))})",
              file=sys.stderr)
        return EXIT_FAILED
    except (ParameterError, ModelError) as error:
        print(f"digitlib: error: {printable(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as interrupt:
        if getattr(interrupt, "reader_gone", False):  # `digitlib report | head -3`: the run is marked interrupted
            return _reader_gone()
        run_id = getattr(interrupt, "marked_run", None)  # none when stopped before its run folder was made
        marked = f"; run {run_id} is marked 'interrupted' in the index" if run_id else ""
        print(f"digitlib: interrupted{marked}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
