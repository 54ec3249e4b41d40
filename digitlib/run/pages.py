"""The HTML pages digitlib writes: where their templates are, and what every page promises the browser."""

import base64
import hashlib
from functools import cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"  # the report's nbconvert template, the index's

# Reports need no script and nothing from outside: images are embedded data: URIs and styles are
# inline. The browser is told to allow exactly that, so markup that slipped past escaping can
# neither run nor phone home; nor re-point the page's links (base-uri: default-src does not cover
# it) nor submit a form (form-action, likewise).
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                           "base-uri 'none'; form-action 'none'")

# The index alone runs a script: its own, inline (sorting and filtering, from file:// with nothing fetched). Its policy
# is the reports' plus that one script, by the SHA-256 of its exact text: markup that slipped past escaping can still
# neither run (an inline script or handler of anyone else's has another hash, or none) nor phone home.
INDEX_SCRIPT = TEMPLATES / "index.js"


def script_policy(script: str) -> str:
    """The reports' policy, allowing also the inline script whose text is exactly `script`."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"{CONTENT_SECURITY_POLICY}; script-src 'sha256-{digest}'"


@cache
def index_script() -> tuple[str, str]:
    """The index page's inline script and the policy that allows it (:func:`script_policy`)."""
    script = INDEX_SCRIPT.read_text(encoding="utf-8")
    if "</" in script or "<!--" in script:  # would end (or upset) its <script> element: the rest shown as text
        raise ValueError(f"{INDEX_SCRIPT} holds '</' or '<!--', which an inline <script> cannot: write '<\\/'")
    return script, script_policy(script)


# Cell tags the report's layout follows (set in the notebooks; JupyterLab shows cells where they stand).
HEADLINE_TAG = "headline"  # a cell whose output is the result at a glance: the report shows it under the title
OPTIONAL_TAG = "optional-section"  # a section's heading shown only if the code cells under it output something


def arrange_report(notebook):
    """The executed notebook as the report shows it: headline cells moved up under the title (the first
    cell), and optional sections whose code printed nothing left out (an ensemble's members, for a
    single network). Returns a copy; the executed notebook in the run directory keeps every cell."""
    import copy

    cells = copy.deepcopy(notebook["cells"])
    kept, index = [], 0
    while index < len(cells):
        end = index + 1
        if cells[index]["cell_type"] == "markdown" and OPTIONAL_TAG in cells[index].get("metadata", {}).get("tags", []):
            while end < len(cells) and cells[end]["cell_type"] != "markdown":
                end += 1
            if not any(cell.get("outputs") for cell in cells[index + 1:end]):
                index = end  # nothing under the heading: leave the section out
                continue
        kept += cells[index:end]
        index = end
    headline = [c for c in kept if HEADLINE_TAG in c.get("metadata", {}).get("tags", [])]
    rest = [c for c in kept if all(c is not h for h in headline)]
    arranged = copy.copy(notebook)
    arranged["cells"] = rest[:1] + headline + rest[1:]
    return arranged


# What nbconvert writes into an <img> that came without alt text. A report never carries it: every figure of
# digitlib's says what it shows (digitlib.report.figures.DescribedFigure), and the template writes that.
PLACEHOLDER_ALT = "No description has been provided for this image"
CONTENTS_CLASS = "report-contents"  # the table of contents' <nav>; the template's CSS keeps it in view


def add_contents(page) -> None:
    """Put a table of contents before the rendered report's <main> (`page`: a BeautifulSoup document): a link
    to each h2 and h3 heading of its markdown cells, by the id nbconvert gave it, h3s nested under their h2.
    The headings' text is set as text, never as markup. A page without such headings is left as it is."""
    headings = page.select(".jp-MarkdownCell h2[id], .jp-MarkdownCell h3[id]")
    if not headings or page.main is None:
        return
    nav = page.new_tag("nav", attrs={"class": CONTENTS_CLASS, "aria-label": "Contents"})
    title = page.new_tag("p", attrs={"class": f"{CONTENTS_CLASS}-title"})
    title.string = "Contents"
    top = page.new_tag("ol")
    nav.extend([title, top])
    section = None  # the last h2's item, where h3s nest
    for heading in headings:
        item, link = page.new_tag("li"), page.new_tag("a", href=f"#{heading['id']}")
        link.string = _heading_text(heading)
        item.append(link)
        if heading.name == "h3" and section is not None:
            if section.ol is None:
                section.append(page.new_tag("ol"))
            section.ol.append(item)
        else:
            top.append(item)
            section = item if heading.name == "h2" else section
    page.main.insert_before(nav)


def _heading_text(heading) -> str:
    """A heading's words, without the ¶ link nbconvert appends."""
    return "".join(text for text in heading.find_all(string=True)
                   if text.find_parent("a", class_="anchor-link") is None).strip()


# Elements a report never shows and a browser would act on. A <meta> refresh navigates away from the page, and
# no policy stops it (a CSP does not govern navigation); a <base> re-points every link; a <form> submits what is
# typed into it; a <link> prefetches. Scripts, frames and plugins the CSP blocks already: they go too, as does
# every comment, whose end an HTML parser and a browser may not agree on. Only the <head> the template wrote keeps
# its own <meta>s (charset, viewport, the policy).
ACTIVE_ELEMENTS = ("meta", "base", "link", "form", "script", "noscript", "iframe", "frame", "frameset", "object",
                   "embed", "applet", "portal")


def strip_active_markup(page) -> list[str]:
    """Remove from a rendered page (a BeautifulSoup document) what a notebook's cells and outputs may carry and
    a report must not act on: ACTIVE_ELEMENTS outside the template's <head> (a <form> keeps its text), and
    comments, declarations and processing instructions after the doctype. A notebook is untrusted input: one
    executed on a Dask worker comes back from that worker. Returns the names of the elements removed, in order."""
    from bs4.element import PreformattedString  # comments, CDATA, declarations, doctypes, processing instructions

    for node in page.find_all(string=lambda text: isinstance(text, PreformattedString)):
        if node is not page.contents[0]:  # the doctype, first in the file, stays
            node.extract()
    head, removed = page.head, []
    for element in page.find_all(ACTIVE_ELEMENTS):
        if element.decomposed or (element.name == "meta" and element.parent is head):
            continue  # inside one removed already, or the template's own
        removed.append(element.name)
        element.unwrap() if element.name == "form" else element.decompose()
    return removed


def images_without_alt(page) -> list[str]:
    """The <img>s of a rendered page (a BeautifulSoup document) that do not say what they show: no alt, an empty
    one, or nbconvert's placeholder. Each as the start of its src, to find it by."""
    return [image.get("src", "")[:60] for image in page.find_all("img")
            if not (image.get("alt") or "").strip() or image.get("alt") == PLACEHOLDER_ALT]
