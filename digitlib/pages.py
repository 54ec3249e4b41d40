"""What every HTML page digitlib writes promises the browser."""

# Reports and the index need no script and nothing from outside: images are embedded data: URIs
# and styles are inline. The browser is told to allow exactly that, so markup that slipped past
# escaping can neither run nor phone home.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
