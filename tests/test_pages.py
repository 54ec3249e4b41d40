"""The report's layout: the headline under the title, sections that do not apply left out."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from digitlib.run.pages import HEADLINE_TAG, OPTIONAL_TAG, arrange_report
from digitlib.run.runner import render_html


def tagged(cell, tag):
    cell.metadata["tags"] = [tag]
    return cell


def printed(source, text):
    cell = new_code_cell(source)
    cell.outputs = [new_output("stream", name="stdout", text=text)] if text else []
    return cell


def executed_report():
    return new_notebook(cells=[
        new_markdown_cell("# Title"),
        printed("train()", "epoch 1"),
        tagged(printed("headline()", "99.38% accuracy"), HEADLINE_TAG),
        tagged(new_markdown_cell("### An ensemble's members"), OPTIONAL_TAG),
        printed("members_table()", ""),
        printed("members_figure()", ""),
        new_markdown_cell("### Per digit"),
        printed("per_class()", "digit table"),
        tagged(new_markdown_cell("### Optional, applies"), OPTIONAL_TAG),
        printed("shown()", "something"),
    ])


def test_the_headline_moves_under_the_title_and_empty_optional_sections_go():
    notebook = executed_report()
    arranged = arrange_report(notebook)
    assert [cell.source for cell in arranged.cells] == [
        "# Title", "headline()", "train()", "### Per digit", "per_class()", "### Optional, applies", "shown()"]
    assert len(notebook.cells) == 10  # the executed notebook itself keeps every cell


def test_the_rendered_report_follows_the_layout(tmp_path):
    path = tmp_path / "notebook.ipynb"
    nbformat.write(executed_report(), path)
    html = render_html(path, tmp_path / "report.html").read_text()
    assert "An ensemble" not in html
    assert html.index("Title") < html.index("99.38% accuracy") < html.index("epoch 1") < html.index("digit table")


def test_a_notebook_without_tags_is_shown_as_it_is():
    notebook = new_notebook(cells=[new_markdown_cell("# T"), printed("a()", "1"), new_markdown_cell("## S"),
                                   printed("b()", "")])
    assert [c.source for c in arrange_report(notebook).cells] == ["# T", "a()", "## S", "b()"]


MARKUP = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")  # 1x1


def figure_output(alt=None):
    return new_output("display_data", data={"image/png": PNG}, metadata={"image/png": {"alt": alt}} if alt else {})


def test_a_figure_alt_text_is_written_escaped_and_one_without_is_named(tmp_path, capsys):
    from bs4 import BeautifulSoup

    from digitlib.run.pages import PLACEHOLDER_ALT, images_without_alt

    cell = new_code_cell("figures()", outputs=[figure_output(f"Confusion matrix of {MARKUP}.png: 3 mistakes"),
                                              figure_output()])
    path = tmp_path / "notebook.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# T"), cell]), path)
    page = BeautifulSoup(render_html(path, tmp_path / "report.html").read_text(), "html.parser")
    described, plain = page.find_all("img")
    assert described["alt"] == f"Confusion matrix of {MARKUP}.png: 3 mistakes"  # the text, read back as text
    assert page.find("script") is None and len(page.find_all("img")) == 2  # nothing of it became markup
    assert plain["alt"] == PLACEHOLDER_ALT and images_without_alt(page) == [plain["src"][:60]]
    assert "1 image(s) in " in capsys.readouterr().err  # render says so; the report is still written


def test_the_contents_link_each_section_by_its_id_with_subsections_nested(tmp_path):
    from bs4 import BeautifulSoup

    cells = [new_markdown_cell("# Title"), new_markdown_cell("## Data & <em>its</em> shape"),
             printed("a()", "1"), new_markdown_cell("### Per digit\n\ntext"), new_markdown_cell("### Confusion"),
             new_markdown_cell("## How sure is it? Calibration"), printed("b()", "<h2>printed, not a section</h2>")]
    path = tmp_path / "notebook.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    page = BeautifulSoup(render_html(path, tmp_path / "report.html").read_text(), "html.parser")
    nav = page.select_one("nav.report-contents")
    assert nav.find_next_sibling("main") is not None  # before the report, where the CSS keeps it in view
    top = nav.ol.find_all("li", recursive=False)
    assert [li.a.get_text() for li in top] == ["Data & its shape", "How sure is it? Calibration"]
    assert [li.a.get_text() for li in top[0].ol.find_all("li")] == ["Per digit", "Confusion"]
    for link in nav.find_all("a"):
        target = page.find(id=link["href"][1:])
        assert target is not None and target.name in ("h2", "h3")
        assert target.get_text().replace("¶", "").strip() == link.get_text()


def test_a_page_without_sections_gets_no_contents(tmp_path):
    path = tmp_path / "notebook.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Only a title"), printed("a()", "1")]), path)
    assert "report-contents\"" not in render_html(path, tmp_path / "report.html").read_text().split("</style>")[-1]


def acting_notebook(target: str):
    """A notebook whose markdown and outputs carry markup a browser would act on: refreshes to `target` (plain,
    hidden from a parser behind a comment's end that browsers read differently, after a closed </body>, inside
    an <svg>), a <base> re-pointing a relative link, a form submitting what it holds, a prefetch."""
    refresh = f'<meta http-equiv="refresh" content="0;url={target}">'
    outputs = [f"<p>before</p>{refresh}",
               f"<!-- --!>{refresh} -->",
               f"</div></body></html>{refresh}",
               f"<svg>{refresh}</svg>",
               '<base href="https://example.invalid/"><a id="relative" href="next.html">next</a>',
               f'<form action="{target}"><label>Kept text <input name="q" value="secret"></label>'
               '<button id="submit">Go</button></form>',
               '<link rel="prefetch" href="https://example.invalid/x">']
    return new_notebook(cells=[new_markdown_cell(f"# Title\n\n{refresh}\n\n## Section"),
                               new_code_cell("", outputs=[new_output("display_data", data={"text/html": html})
                                                          for html in outputs])])


def test_markup_a_browser_would_act_on_is_left_out_and_named(tmp_path, capsys):
    from bs4 import BeautifulSoup, Comment

    path = tmp_path / "notebook.ipynb"
    nbformat.write(acting_notebook("elsewhere.html"), path)
    page = BeautifulSoup(render_html(path, tmp_path / "report.html").read_text(), "html.parser")
    assert [meta.parent.name for meta in page.find_all("meta")] == ["head"] * 3  # charset, viewport, the policy
    policy = page.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "base-uri 'none'; form-action 'none'" in policy
    assert page.find_all(["base", "form", "link", "script"]) == [] and "refresh" not in str(page.body)
    assert page.find_all(string=lambda text: isinstance(text, Comment)) == []
    assert "before" in page.text and "Kept text" in page.text and page.find(id="relative")["href"] == "next.html"
    assert page.select_one("nav.report-contents a")["href"] == "#Section"  # the report itself is whole
    warning = capsys.readouterr().err
    assert "left 7 element(s) out of " in warning and "(<meta>, <base>, <form>, <link>)" in warning, warning
