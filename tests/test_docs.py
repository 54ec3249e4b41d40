"""The README and docs/: every relative link leads to a file in the repository, and the README stays short
enough to read in five minutes (the details live in docs/)."""

import re
from pathlib import Path

from conftest import REPOSITORY

README_MOST_LINES = 200
FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE_SOURCE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
EXTERNAL = ("http://", "https://", "mailto:")


def documentation_pages() -> list[Path]:
    return [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """The relative targets of `page`'s Markdown links and images and its <img src>, anchors stripped; links
    shown as code (fenced blocks, `inline`) are not links."""
    text = INLINE_CODE.sub("", FENCED_CODE.sub("", page.read_text(encoding="utf-8")))
    targets = MARKDOWN_LINK.findall(text) + IMAGE_SOURCE.findall(text)
    paths = [target.split("#", 1)[0] for target in targets if not target.lower().startswith(EXTERNAL)]
    return [path for path in paths if path]  # "#anchor" alone points into the page itself


def test_every_relative_link_in_the_readme_and_docs_leads_to_an_existing_file():
    assert (REPOSITORY / "docs").is_dir() and len(documentation_pages()) > 1
    broken = [f"{page.relative_to(REPOSITORY)}: {target}"
              for page in documentation_pages() for target in relative_links(page)
              if not (page.parent / target).exists()]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_the_link_finder_sees_markdown_links_images_and_img_tags_but_not_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('[a](one.md#part) ![b\nc](two.png "title") <img src="three.png" width="90"> '
                    "[web](https://example.org) [mail](mailto:a@b.c) [here](#top) `[code](not.md)`\n"
                    "```\n[fenced](not-either.md)\n```\n", encoding="utf-8")
    assert relative_links(page) == ["one.md", "two.png", "three.png"]


def test_the_readme_has_at_most_200_lines():
    lines = len((REPOSITORY / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MOST_LINES, f"README.md has {lines} lines; move details into docs/"
