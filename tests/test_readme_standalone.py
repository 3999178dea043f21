"""The README stands on its own in a clone: no link leaves the repository, every relative link
names a file that is in it, and every #anchor names a heading of the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_nothing_points_outside_the_repository() -> None:
    assert "../" not in README
    for name in ("DESIGN.md", "STYLE.md", "providers.md"):
        assert name not in README, name


def test_relative_links_and_anchors_resolve() -> None:
    headings = {anchor(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    for target in LINK.findall(README):
        if target.startswith(("http://", "https://")):
            continue
        if target.startswith("#"):
            assert target[1:] in headings, target
        else:
            assert (ROOT / target.split("#")[0]).exists(), target
