"""End to end: `digitlib report` executes the notebook with papermill on a slice and renders HTML."""

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

import digitlib
from conftest import QUICK_REPORT as QUICK
from conftest import digitlib_cli, digitlib_in_process, run_dir_of
from digitlib.layout import IDX_FILES
from digitlib.report.robustness import SHIFTS

pytestmark = pytest.mark.e2e
SCHEMA = json.loads((Path(digitlib.__file__).parent / "metrics.schema.json").read_text())


@pytest.fixture(scope="module")
def workspace(quick_report):
    """A folder where one quick successful run has happened (shared with the browser tests)."""
    return quick_report


def only_run(reports: Path) -> Path:
    """The folder's one successful training run (other tests add prediction and failed runs beside it)."""
    trained = [p for p in reports.iterdir() if (p / "model.keras").exists() and not p.is_symlink()]
    assert len(trained) == 1, trained
    return trained[0]


def test_successful_run_prints_progress_and_the_report_path(workspace):
    folder, result = workspace
    run_dir = only_run(folder / "reports")
    assert re.search(r"^epoch 2/2  accuracy \d\.\d{4}  loss .* s$", result.stdout, re.M)
    assert result.stdout.strip().splitlines()[-1].endswith(f"report written to reports/{run_dir.name}/report.html")
    assert "I0000" not in result.stdout + result.stderr, "TensorFlow's C++ chatter stays off the terminal"
    assert {"run.json", "notebook.ipynb", "report.html", "metrics.json", "model.keras", "kernel.log",
            "test_predictions.npz"} <= {p.name for p in run_dir.iterdir()}
    assert os.readlink(folder / "reports" / "latest") == run_dir.name


def test_metrics_follow_the_schema_and_record_provenance(workspace, mnist_dir):
    folder, _ = workspace
    metrics = json.loads((only_run(folder / "reports") / "metrics.json").read_text())
    jsonschema.validate(metrics, SCHEMA)
    assert metrics["test"]["images"] == 1000 and metrics["training"]["train_images"] == 2700
    assert metrics["test"]["accuracy"] > 0.85
    assert metrics["parameters"]["data_dir"] == str(mnist_dir.resolve())
    assert metrics["data"]["sha256"] == IDX_FILES
    assert metrics["reproducibility"] == {"seed": 42, "backend": "tensorflow", "op_determinism": True}
    assert metrics["environment"]["device"]["type"] == "CPU"
    assert metrics["environment"]["versions"]["tensorflow"]
    calibration, robustness = metrics["calibration"], metrics["robustness"]
    assert calibration["temperature"] > 0 and 0 <= calibration["ece"] < 0.2 and calibration["bins"] == 15
    assert robustness["images"] == 1000 and robustness["seed"] == 42 and robustness["severity"] == 2
    assert set(robustness["accuracy"]) == set(SHIFTS)
    assert robustness["mean_accuracy"] < robustness["clean_accuracy"]


def test_the_test_predictions_kept_are_the_ones_scored(workspace):
    from digitlib.report.results import read_test_predictions

    run_dir = only_run(workspace[0] / "reports")
    indices, evaluation = read_test_predictions(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(indices) == list(range(1000))
    assert evaluation.accuracy == metrics["test"]["accuracy"] and evaluation.loss == pytest.approx(
        metrics["test"]["loss"], rel=1e-5)
    assert len(evaluation.mistakes) == metrics["test"]["mistakes"]


def test_report_html_shows_every_section_with_embedded_images(workspace):
    folder, _ = workspace
    html = (only_run(folder / "reports") / "report.html").read_text()
    for heading in ["Downloading the MNIST data", "Reshaping and normalizing", "Building the convolutional network",
                    "Compiling and fitting the model", "Evaluating the model", "Precision, recall and F1 per digit",
                    "Confusion matrix", "Sample predictions", "The most confident mistakes",
                    "How sure is it? Calibration", "When digits are not MNIST's: robustness",
                    "What the network looks at", "What it learned", "Is it a digit at all?",
                    "Reproducibility"]:
        assert heading in html, heading
    # curves, matrix, samples, mistakes, reliability, shifted examples, robustness, occlusion, feature map, filters
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 10
    assert not re.search(r"<h3[^>]*>An ensemble", html), "a section that does not apply is left out"
    headline = re.search(r"test accuracy</div><div[^>]*>(\d+\.\d\d)% \(95% interval (\S+)% – (\S+)%\)", html)
    assert headline and float(headline[2]) < float(headline[1]) < float(headline[3])
    assert html.index("95% interval") < html.index('id="Downloading-the-MNIST-data"'), "the headline comes first"
    notebook = json.loads((only_run(folder / "reports") / "notebook.ipynb").read_text())
    stderr = [output["text"] for cell in notebook["cells"] for output in cell.get("outputs", [])
              if output.get("name") == "stderr"]
    assert stderr == [], "no warning or log line reaches the report"
    assert not re.search(r"<script[^>]+src=", html), "no scripts fetched from the network"
    assert "digitlib.load_mnist" not in html, "code is hidden by default"


def test_the_model_is_saved_and_reloads(workspace, mnist):
    import numpy as np

    folder, _ = workspace
    model = digitlib.load_trained_model(only_run(folder / "reports") / "model.keras")  # safe mode, as predict
    images = digitlib.prepare_images(mnist.x_test[:200])
    accuracy = float(np.mean(model.predict(images, verbose=0).argmax(axis=1) == mnist.y_test[:200]))
    assert accuracy > 0.85


def test_index_has_a_row_for_the_run(workspace):
    folder, _ = workspace
    run_dir = only_run(folder / "reports")
    page = (folder / "reports" / "index.html").read_text()
    assert f'<a href="{run_dir.name}/report.html">' in page and 'class="status succeeded"' in page


def test_bad_parameter_fails_fast_and_leaves_earlier_runs_intact(workspace):
    folder, _ = workspace
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "reports").rglob("*")}
    result = digitlib_in_process("report", "-p", "epochs", "0", cwd=folder)
    assert result.returncode == 2
    assert result.stderr.strip() == "digitlib: error: parameter 'epochs'=0 must be at least 1"
    result = digitlib_in_process("report", "-p", "modle", "seed", cwd=folder)
    assert result.returncode == 2 and "unknown parameter 'modle'; valid names: model" in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "reports").rglob("*")} == before


def test_failing_notebook_exits_non_zero_and_is_listed_as_failed(workspace, tmp_path):
    folder, _ = workspace
    latest = os.readlink(folder / "reports" / "latest")
    result = digitlib_cli("report", *QUICK, "-p", "data_dir", str(tmp_path / "empty"), cwd=folder)
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert re.match(r"digitlib: run \S+ failed: DataError: .*empty: no such directory", message)
    failed = json.loads(next(p for p in (folder / "reports").glob("*/run.json")
                             if json.loads(p.read_text())["status"] == "failed").read_text())
    html = (folder / "reports" / failed["run_id"] / "report.html").read_text()
    assert "DataError" in html and "no such directory" in html
    assert os.readlink(folder / "reports" / "latest") == latest
    page = (folder / "reports" / "index.html").read_text()
    runs = [p for p in (folder / "reports").iterdir() if (p / "run.json").is_file() and not p.is_symlink()]
    assert page.count("<tr><td>") == len(runs) and 'class="status failed"' in page  # one row per run, whatever ran
    assert f'<a href="{failed["run_id"]}/report.html">' in page


def test_prediction_notebook_renders_through_the_same_runner(workspace, prediction_run):
    folder, _ = workspace
    model = (folder / "reports/latest/model.keras").resolve()
    run_dir = prediction_run  # run in this folder with model_path reports/latest/model.keras
    html = (run_dir / "report.html").read_text()
    assert "From a photo to an MNIST digit" in html and "drawn_7.png" in html
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 1
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert len(predictions) == 9 and all("digit" in p for p in predictions)
    assert "9 of 9 images read" in html
    record = json.loads((run_dir / "run.json").read_text())
    assert record["parameters"]["model_path"] == str(model)  # the run records which model it used
    assert (folder / "reports/latest/model.keras").resolve() == model  # latest stays the newest trained model


@pytest.mark.full  # make test: members found, loaded and reported in this process (test_ensemble)
def test_an_ensemble_report_loads_the_strong_run_it_can_and_shows_its_members(tmp_path, mnist_dir):
    tiny = ["-p", "train_limit", "400", "-p", "test_limit", "200", "-p", "epochs", "1", "-p", "seed", "5",
            "-p", "data_dir", str(mnist_dir)]
    strong = digitlib_cli("report", "--json", *tiny, "-p", "model", "strong", cwd=tmp_path)
    assert strong.returncode == 0, strong.stderr[-3000:]
    ensemble = digitlib_cli("report", "--json", *tiny, "-p", "model", "ensemble", "-p", "members", "2", cwd=tmp_path)
    assert ensemble.returncode == 0, ensemble.stderr[-3000:]
    strong_run, run_dir = run_dir_of(strong, tmp_path), run_dir_of(ensemble, tmp_path)
    assert f"member 1/2 (seed 5): already trained, loaded from {strong_run.name}" in ensemble.stderr  # progress
    assert "member 2/2 (seed 6): training" in ensemble.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    jsonschema.validate(metrics, SCHEMA)
    assert [(m["seed"], m["source"]) for m in metrics["training"]["members"]] == [(5, strong_run.name), (6, "trained")]
    assert metrics["training"]["model_parameters"] == 2 * json.loads(
        (strong_run / "metrics.json").read_text())["training"]["model_parameters"]
    html = (run_dir / "report.html").read_text()
    assert "An ensemble&#39;s members" in html or "An ensemble's members" in html
    assert "ensemble (average)" in html and (run_dir / "members" / "seed-6" / "member.json").exists()


def test_every_figure_says_what_it_shows_and_the_report_has_contents(report_run):
    from bs4 import BeautifulSoup

    from digitlib.run.pages import PLACEHOLDER_ALT, images_without_alt

    html = (report_run / "report.html").read_text()
    page = BeautifulSoup(html, "html.parser")
    assert len(page.find_all("img")) == 10 and images_without_alt(page) == []
    assert PLACEHOLDER_ALT not in html
    ids = {element["id"] for element in page.find_all(id=True)}
    links = [a["href"] for a in page.select("nav.report-contents a")]
    assert links and all(link[1:] in ids for link in links)
    assert page.select("nav.report-contents a")[0].get_text() == "Downloading the MNIST data"


def test_the_report_ends_with_the_one_command_that_rebuilds_the_run(report_run):
    import shlex

    from bs4 import BeautifulSoup

    from digitlib.params import parse_value, validate_parameters
    from digitlib.run.cli import _parser
    from digitlib.rundir import run_identity

    page = BeautifulSoup((report_run / "report.html").read_text(), "html.parser")
    command = page.select(".jp-OutputArea-output pre")[-1].get_text().strip()  # the page's last output
    record = json.loads((report_run / "run.json").read_text())
    assert command.startswith(f"digitlib report --backend {record['backend']} ")
    words = shlex.split(command)
    arguments = _parser().parse_args(words[1:])  # as `digitlib` reads it
    parameters = validate_parameters({name: parse_value(value) for name, value in arguments.parameter})
    assert parameters == record["parameters"]
    assert run_identity(parameters, backend=arguments.backend) == record["identity"]  # the same run, found as done


def test_show_code_folds_each_code_cell_under_code(report_run, tmp_path):
    from bs4 import BeautifulSoup

    from digitlib.run.runner import render_html

    shown = BeautifulSoup(render_html(report_run / "notebook.ipynb", tmp_path / "report.html", show_code=True)
                          .read_text(), "html.parser")
    folded = shown.select(".jp-CodeCell > details.report-code")
    assert len(folded) == len(shown.select(".jp-CodeCell")) > 20  # every code cell, each folded
    assert {code.summary.get_text() for code in folded} == {"code"} and not any(code.get("open") for code in folded)
    assert any("data = digitlib.load_mnist(data_dir)" in code.get_text() for code in folded)
    assert "<details" not in (report_run / "report.html").read_text()  # without --show-code, no code at all


def test_the_prediction_figure_says_what_each_image_was_read_as(prediction_run):
    import html as markup

    predictions = json.loads((prediction_run / "predictions.json").read_text())
    (alt,) = re.findall(r'<img [^>]*alt="([^"]*)"', (prediction_run / "report.html").read_text())
    alt = markup.unescape(alt)
    assert alt.startswith(f"{len(predictions)} images, each as given")
    for each in predictions:
        assert f"{Path(each['path']).name} read as {each['digit']} ({each['probability']:.1%}" in alt
    unsure = sum(each["probability"] < 0.99 for each in predictions)  # prediction_run flags below 99%
    assert f"{unsure} of {len(predictions)} below 99% confidence" in alt
