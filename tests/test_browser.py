"""The reports in a real browser: headless Chromium (Debian's) driven by Playwright, from file://.

Each report must open offline: no console errors, no request beyond file:// and data:, every
image decoded, every section heading present. A screenshot is written next to the report.
"""

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make test installs Debian's chromium where it can)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def open_offline(browser, html: Path, screenshot: Path) -> dict:
    """Load `html` from file:// and return what the page did: errors, outside requests, images, headings."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors, outside = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: None if re.match(r"(file|data|about):", request.url)
            else outside.append(request.url))
    page.goto(html.resolve().as_uri(), wait_until="load")
    images = page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)")
    headings = page.eval_on_selector_all("h1, h2, h3", "hs => hs.map(h => h.textContent.replace('¶', '').trim())")
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return {"errors": errors, "outside": outside, "images": images, "headings": headings}


def test_training_report_works_offline(browser, report_run):
    seen = open_offline(browser, report_run / "report.html", report_run / "report.png")
    assert seen["errors"] == [] and seen["outside"] == []
    assert len(seen["images"]) == 4 and all(width and width > 0 for width in seen["images"])
    for heading in ["Recognizing handwritten digits with a CNN", "Downloading the MNIST data",
                    "Reshaping and normalizing", "Building the convolutional network", "Compiling and fitting the model",
                    "Evaluating the model", "Confusion matrix", "Sample predictions", "The most confident mistakes",
                    "Reproducibility"]:
        assert heading in seen["headings"], heading
    assert (report_run / "report.png").stat().st_size > 50_000


def test_prediction_report_and_index_work_offline(browser, prediction_run):
    seen = open_offline(browser, prediction_run / "report.html", prediction_run / "report.png")
    assert seen["errors"] == [] and seen["outside"] == []
    assert len(seen["images"]) == 1 and seen["images"][0] > 0
    assert "What the model sees, and how sure it is" in seen["headings"]
    index = open_offline(browser, prediction_run.parent / "index.html", prediction_run.parent / "index.png")
    assert index["errors"] == [] and index["outside"] == [] and "digit-recognizer runs" in index["headings"]


def test_comparison_report_works_offline(browser, report_run, mnist_dir):
    from conftest import digitlib_cli, run_dir_of

    folder = report_run.parent.parent
    result = digitlib_cli("report", "--notebook", "compare_runs", "-p", "runs", report_run,
                          "-p", "data_dir", mnist_dir, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    comparison = run_dir_of(result, folder)
    seen = open_offline(browser, comparison / "report.html", comparison / "report.png")
    assert seen["errors"] == [] and seen["outside"] == []
    assert len(seen["images"]) == 4 and all(width > 0 for width in seen["images"])
    assert "Digits every model gets wrong" in seen["headings"]
