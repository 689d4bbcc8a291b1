"""The documentation: README.md stays one screen, links resolve, quoted results match their source files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
ZOO = ROOT / "data" / "checkpoints" / "zoo.json"
RESULTS = DOCS / "results.md"

# [text](target) -- not images' alt text nor reference-style links; targets without spaces
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]


def test_docs_exist():
    assert (DOCS / "index.md").is_file()
    assert len(doc_files()) > 2


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    bad = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not bad, f"broken links in {path.relative_to(ROOT)}:\n" + "\n".join(bad)


def test_every_docs_page_is_linked_from_the_index_and_readme():
    index_targets = {t.partition("#")[0] for t in relative_links(DOCS / "index.md")}
    readme_targets = {t.partition("#")[0] for t in relative_links(README)}
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "index.md":
            assert page.name in index_targets, f"docs/index.md does not link {page.name}"
            assert f"docs/{page.name}" in readme_targets, f"README.md does not link docs/{page.name}"


def test_readme_is_one_screen():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 80, f"README.md has {n} lines; keep it at most 80 and move details to docs/"


# --------------------------------------------------------------------------- quoted checkpoint results
def _zoo_rows() -> dict[str, list[str]]:
    """The checkpoint table of docs/results.md: name -> its cells (the name cell is `name`)."""
    rows = {}
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if m:
            rows[m.group(1)] = cells[1:]
    return rows


def test_results_quote_every_checkpoint_of_zoo_json():
    zoo = json.loads(ZOO.read_text(encoding="utf-8"))
    rows = _zoo_rows()
    assert set(rows) == set(zoo), f"docs/results.md rows {sorted(rows)} vs zoo.json entries {sorted(zoo)}"


@pytest.mark.parametrize("name", sorted(json.loads(ZOO.read_text(encoding="utf-8"))))
def test_results_row_matches_zoo_json(name):
    """Columns: row, NME All (2 decimals), yaw MAE (2 decimals), epochs, steps, best epoch, skipped steps,
    wall time (s, 1 decimal), size (MB = 1e6 bytes, 2 decimals) -- the rounding docs/results.md states."""
    entry = json.loads(ZOO.read_text(encoding="utf-8"))[name]
    cells = _zoo_rows().get(name)
    assert cells is not None, f"docs/results.md has no row for `{name}`"
    expected = [entry["row"], f"{entry['nme_all']:.2f}", f"{entry['yaw_mae']:.2f}", str(entry["epochs"]),
                str(entry["steps"]), str(entry["best_epoch"]), str(entry["skipped_steps"]),
                f"{entry['wall_time_s']:.1f}", f"{entry['bytes'] / 1e6:.2f}"]
    assert cells == expected, f"docs/results.md row `{name}` differs from data/checkpoints/zoo.json"
