"""Every link between the project's markdown files leads somewhere: the file exists and, for a
``#fragment``, so does the heading it names (GitHub's anchors). A section moved or renamed
leaves no dead link behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HEADING = re.compile(r"#{1,6} (.*)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents() -> list[Path]:
    return [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "benchmarks").glob("*.md")),
    ]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def _links() -> list[tuple[str, str]]:
    found = []
    for path in _documents():
        for target in _LINK.findall(path.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://", "mailto:")):
                found.append((str(path.relative_to(ROOT)), target))
    return sorted(set(found))


def test_anchors_follow_githubs_rules(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A title\n## OpenAI's Files + Batch API\n```sh\n# not a heading\n```\n## Fixtures\n## Fixtures\n")
    assert anchors(page) == {"a-title", "openais-files--batch-api", "fixtures", "fixtures-1"}


@pytest.mark.parametrize(("where", "target"), _links())
def test_each_link_leads_somewhere(where: str, target: str) -> None:
    path, _, fragment = target.partition("#")
    dest = (ROOT / where).parent / path if path else ROOT / where
    assert dest.exists(), f"{where} links to {target}: there is no {path}"
    if fragment and dest.suffix == ".md":
        assert fragment in anchors(dest), f"{where} links to {target}: {dest.name} has no such heading"
