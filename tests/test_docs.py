"""The README and docs/: short README, every relative link resolves (file, and heading where an
#anchor is given), and every "ALGORITHM.md §N" / "PAPER.md §N.M" the repository cites exists in
docs/algorithm.md / docs/paper.md."""

from __future__ import annotations

import os
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
SOURCES = ("*.py", "*.cu", "*.cuh", "*.h", "*.c", "*.md", "*.sh")
SKIP = {".git", ".venv", "__pycache__", "build", "dist", "data", "runs", ".ci"}

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
# a citation: the file name, then the sections up to the end of the clause: "§2", "§2-4",
# "§2, §3", "§2 readout, §4 readout backward"
CITE = re.compile(r"\b(algorithm|paper)\.md\b((?:(?!(?:algorithm|paper)\.md)[^;)\n]){0,60})", re.I)
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)?)(?:\s*[-\u2013]\s*(\d+))?")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = CODE.sub("", page.read_text())
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def _sections(page: Path) -> set[str]:
    """Section numbers of a page's headings ("## 2. Forward" -> "2", "### 4.2 ..." -> "4.2")."""
    return set(re.findall(r"^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s", page.read_text(), re.M))


def _repository_files() -> list[Path]:
    """The repository's source and documentation files (virtual environments, build output
    and data folders are not walked)."""
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")]
        out += [Path(folder) / f for f in files if any(fnmatch(f, p) for p in SOURCES)]
    return out


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= 150, f"README.md has {n} lines (at most 150: depth goes into docs/)"


def test_docs_hold_the_contract_and_the_paper_notes():
    assert {"1", "2", "3", "4", "5", "6", "7", "8"} <= _sections(DOCS / "algorithm.md")
    assert {"3", "4.2"} <= _sections(DOCS / "paper.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    bad = []
    for target in LINK.findall(CODE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not bad, f"{page.relative_to(ROOT)}: {bad}"


def _citations() -> list[tuple[str, str, str]]:
    """(file:line, "algorithm" or "paper", section) of every citation in the repository."""
    out = []
    for f in _repository_files():
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            for m in CITE.finditer(line):
                for s in SECTION.finditer(m.group(2)):
                    first, last = s.group(1), s.group(2)
                    numbers = [first]
                    if last:
                        numbers = [str(k) for k in range(int(first), int(last) + 1)]
                    where = f"{f.relative_to(ROOT)}:{n}"
                    out += [(where, m.group(1).lower(), k) for k in numbers]
    return out


def test_cited_sections_exist():
    cites = _citations()
    assert sum(doc == "algorithm" for _, doc, _ in cites) >= 20  # the code cites the contract
    have = {"algorithm": _sections(DOCS / "algorithm.md"), "paper": _sections(DOCS / "paper.md")}
    bad = [f"{where}: {doc}.md §{s}" for where, doc, s in cites if s not in have[doc]]
    assert not bad, f"cited sections missing from docs/: {bad}"


def test_citation_parser():
    line = "see ALGORITHM.md §2-4 and PAPER.md §4.2, also algorithm.md §2 readout, §8 (ALIF)"
    found = [(d, s) for d, s in ((m.group(1).lower(), m.group(2)) for m in CITE.finditer(line))]
    secs = [[x.group(0) for x in SECTION.finditer(rest)] for _, rest in found]
    assert [d for d, _ in found] == ["algorithm", "paper", "algorithm"]
    assert secs[0][0] == "§2-4" and secs[2] == ["§2", "§8"]
    assert _slug("## 2. Forward (one hidden layer)".lstrip("# ")) == "2-forward-one-hidden-layer"
