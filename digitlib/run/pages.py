"""The HTML pages digitlib writes: where their templates are, and what every page promises the browser."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"  # the report's nbconvert template, the index's

# Reports and the index need no script and nothing from outside: images are embedded data: URIs
# and styles are inline. The browser is told to allow exactly that, so markup that slipped past
# escaping can neither run nor phone home.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"

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
