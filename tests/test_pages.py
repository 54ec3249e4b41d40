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
