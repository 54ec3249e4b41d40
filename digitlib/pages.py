"""The HTML pages digitlib writes: where their templates are, and what every page promises the browser."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"  # the report's nbconvert template, the index's

# Reports and the index need no script and nothing from outside: images are embedded data: URIs
# and styles are inline. The browser is told to allow exactly that, so markup that slipped past
# escaping can neither run nor phone home.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
