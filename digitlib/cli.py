"""The ``digitlib`` command: ``digitlib report [-p NAME VALUE ...] [--params-file FILE]``."""

from __future__ import annotations

import argparse
import sys

from .params import ParameterError, describe_parameters, load_parameters_file, parse_value

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    report.add_argument("--reports-dir", default="reports", metavar="DIR", help="where runs go (default: reports)")
    report.add_argument("--show-code", action="store_true", help="keep the code cells in report.html")
    return parser


def report_command(arguments: argparse.Namespace) -> int:
    from .params import validate_parameters
    from .runner import run_report

    parameters = load_parameters_file(arguments.params_file) if arguments.params_file else {}
    parameters.update({name: parse_value(value) for name, value in arguments.parameter})
    parameters = validate_parameters(parameters)  # refuse bad input before importing the heavy stack
    result = run_report(parameters, reports_dir=arguments.reports_dir, show_code=arguments.show_code)
    if result.status != "succeeded":
        print(f"digitlib: run {result.run_dir.name} failed: {result.error} (report: {result.report})",
              file=sys.stderr)
        return EXIT_FAILED
    accuracy = (result.metrics or {}).get("test", {}).get("accuracy")
    summary = f"test accuracy {accuracy:.2%}; " if accuracy is not None else ""
    print(f"{summary}report written to {result.report}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        return report_command(arguments)
    except ParameterError as error:
        print(f"digitlib: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("digitlib: interrupted; the run is marked 'interrupted' in the index", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
