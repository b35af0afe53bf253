"""Every private module or name the docs and the docstrings point a reader to exists: a module
moved or renamed leaves no stale pointer behind."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_DOTTED = re.compile(r"\bbatchsim\.(_[A-Za-z_][\w.]*[A-Za-z_])")
_PATHS = re.compile(r"`(_(?:engine|anthropic|openai|gemini|http|storage|serve|pytest)/[\w/]+\.py)")


def _sources() -> list[Path]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return docs + sorted((ROOT / "batchsim").rglob("*.py"))


def _resolves(dotted: str) -> bool:
    parts = f"batchsim.{dotted}".split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[cut:]:
                target = getattr(target, name)
        except AttributeError:
            return False
        return True
    return False


def _references() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        found.extend((where, f"batchsim.{m}") for m in _DOTTED.findall(text))
        found.extend((where, m) for m in _PATHS.findall(text))
    return sorted(set(found))


@pytest.mark.parametrize(("where", "name"), _references())
def test_each_name_the_docs_give_exists(where: str, name: str) -> None:
    if name.endswith(".py"):
        assert (ROOT / "batchsim" / name).is_file(), f"{where} points to {name}, which does not exist"
    else:
        assert _resolves(name.removeprefix("batchsim.")), f"{where} names {name}, which does not exist"
