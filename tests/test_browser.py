"""The reports in a real browser: headless Chromium (Debian's) driven by Playwright, from file://.

Each report must open offline: no console errors, no request beyond file:// and data:, every
image decoded, every section heading present. A screenshot is written next to the report.
"""

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def watched_page(browser, width: int):
    """A new page, and the lists it fills: console errors and page errors, requests beyond file:, data: and
    about:, and the messages of dialogs (dismissed)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors, outside, dialogs = [], [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: None if re.match(r"(file|data|about):", request.url)
            else outside.append(request.url))
    return page, errors, outside, dialogs


def open_offline(browser, html: Path, screenshot: Path) -> dict:
    """Load `html` from file:// and return what the page did: errors, outside requests, images, headings."""
    page, errors, outside, dialogs = watched_page(browser, width=1200)
    page.goto(html.resolve().as_uri(), wait_until="load")
    images = page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)")
    headings = page.eval_on_selector_all("h1, h2, h3", "hs => hs.map(h => h.textContent.replace('¶', '').trim())")
    text = page.inner_text("body")
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return {"errors": errors, "outside": outside, "images": images, "headings": headings, "dialogs": dialogs,
            "text": text}


def test_training_report_works_offline(browser, report_run):
    seen = open_offline(browser, report_run / "report.html", report_run / "report.png")
    assert seen["errors"] == [] and seen["outside"] == []
    # curves, matrix, samples, mistakes, reliability, shifted examples, robustness, occlusion, feature map, filters
    assert len(seen["images"]) == 10 and all(width and width > 0 for width in seen["images"])
    for heading in ["Recognizing handwritten digits with a CNN", "Downloading the MNIST data",
                    "Reshaping and normalizing", "Building the convolutional network",
                    "Compiling and fitting the model",
                    "Evaluating the model", "Confusion matrix", "Sample predictions", "The most confident mistakes",
                    "How sure is it? Calibration", "When digits are not MNIST's: robustness",
                    "What the network looks at", "What it learned", "Is it a digit at all?",
                    "Reproducibility"]:
        assert heading in seen["headings"], heading
    assert "An ensemble's members" not in seen["headings"]
    # the headline, before the first section (whose name the table of contents shows first)
    assert seen["text"].index("95% interval") < seen["text"].rindex("Downloading the MNIST data")
    assert (report_run / "report.html").stat().st_size < 1_500_000
    assert (report_run / "report.png").stat().st_size > 50_000
    every_figure_says_what_it_shows_and_the_contents_lead_to_each_section(browser, report_run)


def every_figure_says_what_it_shows_and_the_contents_lead_to_each_section(browser, report_run):
    """Each figure's alt text carries this run's own numbers (metrics.json's), and each link of the table of
    contents lands on its heading, scrolled into view, with the contents still in view beside it."""
    import json

    from digitlib.run.pages import PLACEHOLDER_ALT

    metrics = json.loads((report_run / "metrics.json").read_text())
    page, _, outside, _ = watched_page(browser, width=1200)
    page.goto((report_run / "report.html").resolve().as_uri(), wait_until="load")
    alts = page.eval_on_selector_all("img", "images => images.map(i => i.getAttribute('alt'))")
    assert len(alts) == 10 and all(alt and alt != PLACEHOLDER_ALT and re.search(r"\d", alt) for alt in alts), alts
    test, history = metrics["test"], metrics["training"]["history"]
    said = {alt.split(" ", 1)[0]: alt for alt in alts}  # by first word
    assert f"{test['images']:,} test images: {test['mistakes']} mistakes" in said["Confusion"]
    assert f"validation accuracy {history['val_accuracy'][-1]:.2%} after the last epoch" in said["Loss"]
    assert f"expected calibration error {metrics['calibration']['ece']:.2%}" in said["Reliability"]
    assert f"whole test set {test['accuracy']:.1%}" in said["Accuracy"]
    links = page.eval_on_selector_all("nav.report-contents a", "links => links.map(a => a.getAttribute('href'))")
    assert len(links) == 15 and all(link.startswith("#") for link in links)  # the h2 and h3 sections shown
    for link in links:
        assert page.evaluate("id => document.getElementById(id)?.matches('h2, h3')", link[1:]), link
    for index in (len(links) - 1, 5):  # the last section, then one back up the page
        link = links[index]
        page.locator("nav.report-contents a").nth(index).click()
        page.wait_for_function("id => { const top = document.getElementById(id).getBoundingClientRect().top;"
                               " return top >= 0 && top < 100; }", arg=link[1:], timeout=5000)
        nav = page.eval_on_selector("nav.report-contents", "n => n.getBoundingClientRect().toJSON()")
        assert 0 <= nav["top"] < 900 and nav["bottom"] > 0, nav  # the contents stay in view
    page.screenshot(path=str(report_run / "report-contents.png"))
    page.close()
    assert outside == []


def test_prediction_report_and_index_work_offline(browser, prediction_run):
    seen = open_offline(browser, prediction_run / "report.html", prediction_run / "report.png")
    assert seen["errors"] == [] and seen["outside"] == []
    assert len(seen["images"]) == 1 and seen["images"][0] > 0
    assert "What the model sees, and how sure it is" in seen["headings"]
    index = open_offline(browser, prediction_run.parent / "index.html", prediction_run.parent / "index.png")
    assert index["errors"] == [] and index["outside"] == [] and "digit-recognizer runs" in index["headings"]


def _first_column(page, column: int = 1) -> list[str]:
    """The first word of each shown row's cell `column` (the run's id, or 'sweep'), top to bottom."""
    return page.eval_on_selector_all("#runs tbody tr:not([hidden])", "(rows, column) => rows.map("
                                     "row => row.cells[column].textContent.trim().split(/\\s+/)[0])", column)


def test_the_index_sorts_and_filters_in_the_browser_with_its_own_script_only(browser, tmp_path):
    """The run browser from file://: a header's button sorts its column as numbers (9 s before 10 s, 6,000 images
    before 54,000, 99.12% before 99.30%), both ways, by click and from the keyboard; a filter hides rows and counts
    those shown; markup in a run's parameters and a sweep's folder stays text; nothing is fetched and no console
    error (a script the policy refused would log one): the policy's hash is the script's."""
    from digitlib.run.index import write_index
    from test_index import FAST_9S, FAST_10S, MARKED, QUICK, browsable_reports

    reports = browsable_reports(tmp_path / "reports")
    index = write_index(reports, reports / FAST_9S)
    page, errors, outside, dialogs = watched_page(browser, width=1400)
    page.goto(index.resolve().as_uri(), wait_until="load")
    runs = [QUICK, FAST_10S, FAST_9S, MARKED]
    assert [run for run in _first_column(page) if run in runs] == runs  # newest first, as written
    time = page.get_by_role("button", name="train time", exact=True)
    time.click()
    assert _first_column(page)[:3] == [FAST_9S, FAST_10S, QUICK]  # 9.4 s, 10.2 s, 100 s; blanks last
    assert page.get_attribute("th:has(button:text-is('train time'))", "aria-sort") == "ascending"
    time.click()
    assert _first_column(page)[:3] == [QUICK, FAST_10S, FAST_9S]
    assert page.get_attribute("th:has(button:text-is('train time'))", "aria-sort") == "descending"
    assert page.get_attribute("th:has(button:text-is('date'))", "aria-sort") is None
    page.get_by_role("button", name="test accuracy", exact=True).click()
    assert _first_column(page)[:3] == [QUICK, FAST_9S, FAST_10S]  # 0.95 < 0.9912 < 0.993, as numbers
    page.get_by_role("button", name="training images", exact=True).focus()
    page.keyboard.press("Enter")
    assert _first_column(page)[:3] == [QUICK, FAST_10S, FAST_9S]  # 6,000 before 54,000: numbers, not text
    page.keyboard.press("Space")
    assert _first_column(page)[:3] == [FAST_10S, FAST_9S, QUICK]
    assert page.is_visible("#filter-text") and page.inner_text("#shown") == "8 of 8 rows shown"
    page.fill("#filter-text", "Fast  SUCCEEDED")
    assert sorted(_first_column(page)) == [FAST_9S, FAST_10S] and page.inner_text("#shown") == "2 of 8 rows shown"
    page.fill("#filter-text", "onerror=alert(9)")
    assert _first_column(page) == [FAST_10S, FAST_9S, "sweep"]  # the sweep's name, as text, found as text
    page.fill("#filter-text", "")
    text = page.inner_text("#runs")
    assert PAYLOAD in text and "sweep <img src=x onerror=alert(9)>" in text
    assert page.eval_on_selector_all("img, #runs script", "found => found.length") == 0
    page.close()
    assert errors == [] and outside == [] and dialogs == []


def test_the_index_runs_no_script_but_its_own(browser, tmp_path):
    """The index's policy allows its script by its hash: a script someone slipped into the page does not run (and the
    browser says so), while the page's own still does."""
    from digitlib.run.index import write_index

    page_text = write_index(tmp_path).read_text()
    planted = tmp_path / "planted.html"
    planted.write_text(page_text.replace("</body>", "<script>document.title = 'ran';alert(10)</script>"
                                                     "<img src=x onerror=alert(11)></body>"))
    page, errors, _, dialogs = watched_page(browser, width=1200)
    page.goto(planted.resolve().as_uri(), wait_until="load")
    assert page.title() == "digit-recognizer runs" and dialogs == []
    assert any("Content Security Policy" in error for error in errors), errors
    assert page.is_visible("#filter-text")  # the page's own script ran
    page.close()


# Markup a stranger may put in a parameter, a file name or a folder name: each would open a dialog if a
# page let it through as HTML. The pages must show it as the text it is.
PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
IMAGE_NAMES = ['"><img src=x onerror=alert(3)>.png', "<svg onload=alert(4)>.png"]


def test_a_parameter_full_of_markup_is_shown_as_text(browser, tmp_path):
    from conftest import digitlib_cli

    result = digitlib_cli("report", "-p", "data_dir", PAYLOAD, "-p", "train_limit", "500", "-p", "epochs", "1",
                          cwd=tmp_path)
    assert result.returncode == 1  # no such data folder: the run fails, and its report says why
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    seen = open_offline(browser, run_dir / "report.html", run_dir / "report.png")
    assert seen["dialogs"] == [] and seen["outside"] == []
    assert PAYLOAD in seen["text"]  # literally, in the parameters table
    index = open_offline(browser, tmp_path / "reports" / "index.html", tmp_path / "reports" / "index.png")
    assert index["dialogs"] == [] and index["errors"] == []


@pytest.mark.full  # make test: a parameter full of markup, in a report and the index (above)
def test_image_file_names_full_of_markup_are_shown_as_text(browser, report_run, tmp_path):
    from conftest import REPOSITORY, digitlib_cli, run_dir_of

    images = tmp_path / "images"
    images.mkdir()
    for name in IMAGE_NAMES:
        shutil.copy(REPOSITORY / "notebooks" / "samples" / "drawn_7.png", images / name)
    result = digitlib_cli("report", "--json", "--notebook", "predict_your_digits", "-p", "images", images,
                          "-p", "model_path", report_run / "model.keras", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = run_dir_of(result, tmp_path)
    seen = open_offline(browser, run_dir / "report.html", run_dir / "report.png")
    assert seen["dialogs"] == [] and seen["errors"] == [] and seen["outside"] == []
    for name in IMAGE_NAMES:
        assert name in seen["text"]


@pytest.mark.full  # make test runs the comparison notebook in its sweeps; test_cli refuses bad `digitlib compare`s
def test_a_comparison_works_offline_and_shows_a_title_and_a_run_folder_full_of_markup_as_text(
        browser, mnist, mnist_dir, tmp_path):
    """`digitlib compare A B C` of runs that disagree on known images, with a title full of markup and a run whose
    folder's name is markup: offline, inert, every figure described in words (the name among them, as text), and
    with the both-ways thumbnails of those images."""
    from conftest import digitlib_cli, run_dir_of
    from digitlib.run.pages import PLACEHOLDER_ALT
    from test_comparison import fake_run, outcomes

    reports = tmp_path / "reports"
    fake_run(reports, "a", outcomes(1000, [7, 500, 9]), seed=1, labels=mnist.y_test)
    fake_run(reports, "b", outcomes(1000, [2, 30, 31, 400, 9]), seed=2, labels=mnist.y_test)
    planted = reports / "<img src=x onerror=alert(5)>"  # a folder someone else put in the reports folder
    shutil.copytree(reports / "a", planted)
    named = fake_run(tmp_path / "elsewhere", "<img src=x onerror=alert(9)>", outcomes(1000, range(40)), seed=1,
                     labels=mnist.y_test)  # a run folder given by its path: its name is its id, shown in the figures
    result = digitlib_cli("compare", "a", reports / "b", named, "--json", "--title", PAYLOAD, "--data-dir",
                          mnist_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "alt text" not in result.stderr, result.stderr[-3000:]
    comparison = run_dir_of(result, tmp_path)
    seen = open_offline(browser, comparison / "report.html", comparison / "report.png")
    assert seen["dialogs"] == [] and seen["errors"] == [] and seen["outside"] == []
    # significance, confusion difference, thumbnails, reliability, cost, per digit, curves, shared mistakes
    assert len(seen["images"]) == 8 and all(width > 0 for width in seen["images"])
    for heading in ["What differs between the runs", "What one reads right and the other wrong",
                    "Digits every model gets wrong: possibly ambiguous or mislabeled"]:
        assert heading in seen["headings"], heading
    assert PAYLOAD in seen["text"]
    page = browser.new_page()
    page.goto((comparison / "report.html").resolve().as_uri(), wait_until="load")
    alts = page.eval_on_selector_all("img", "images => images.map(i => i.getAttribute('alt'))")
    thumbnails = page.evaluate("""() => {  // the first image after the section's heading, and the next heading
        const all = [...document.querySelectorAll('h2, img')];
        const at = all.findIndex(e => e.tagName === 'H2' && e.textContent.includes('What one reads right'));
        const next = all[at + 1];
        return next && next.tagName === 'IMG' ? [next.naturalWidth, next.naturalHeight] : null;
    }""")
    page.close()
    assert thumbnails is not None and thumbnails[0] > 1000 and thumbnails[1] > 300, thumbnails  # two grids
    assert len(alts) == 8 and all(alt and alt.strip() and alt != PLACEHOLDER_ALT for alt in alts), alts
    assert all(re.search(r"\d", alt) for alt in alts), alts  # each with its numbers
    named_as = "seed · 3 ep · seed 1 (<img src=x onerror=alert(9)>)"  # its label repeats a's: its id tells them apart
    said = [alt for alt in alts if named_as in alt]  # the markup, read back as text
    assert [alt.split(",")[0] for alt in said] == ["Accuracy difference in percentage points", "Reliability diagrams "
                                                   "of 3 runs overlaid"], alts
    index = open_offline(browser, reports / "index.html", reports / "index.png")
    assert index["dialogs"] == [] and index["errors"] == [] and index["outside"] == []


def test_the_pages_run_no_script_even_if_markup_slipped_through(browser, tmp_path):
    """Defence in depth: a notebook output that *is* raw HTML still cannot run a script (the CSP)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from digitlib.run.index import write_index
    from digitlib.run.runner import render_html

    cell = new_code_cell("", outputs=[new_output("display_data", data={
        "text/html": "<script>alert(6)</script><img src=x onerror=alert(7)><svg onload=alert(8)></svg>"})])
    notebook = tmp_path / "raw.ipynb"
    nbformat.write(new_notebook(cells=[cell]), notebook)
    seen = open_offline(browser, render_html(notebook, tmp_path / "raw.html"), tmp_path / "raw.png")
    assert seen["dialogs"] == [] and seen["outside"] == []
    index = open_offline(browser, write_index(tmp_path), tmp_path / "index.png")
    assert index["dialogs"] == [] and index["errors"] == []


def test_a_report_neither_navigates_nor_re_points_links_nor_submits_whatever_its_notebook_carries(browser, tmp_path):
    """A notebook is untrusted (a sweep's comes back from its Dask worker): refreshes (which no policy stops), a
    <base> and a form in its outputs and markdown are left out of the page, and the policy refuses the last two."""
    import nbformat

    from digitlib.run.runner import render_html
    from test_pages import acting_notebook

    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text("<title>elsewhere</title>moved")
    nbformat.write(acting_notebook(elsewhere.as_uri()), tmp_path / "acting.ipynb")
    report = render_html(tmp_path / "acting.ipynb", tmp_path / "acting.html")
    page, errors, outside, dialogs = watched_page(browser, width=1200)
    page.goto(report.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(1000)  # a refresh after 0 s has happened by now (the sync API sees it only while waiting)
    relative = page.eval_on_selector("#relative", "a => a.href")
    page.click("#submit")
    page.wait_for_timeout(500)
    url = page.url
    page.close()
    assert url == report.resolve().as_uri() and relative == (tmp_path / "next.html").resolve().as_uri()
    assert errors == [] and outside == [] and dialogs == []
