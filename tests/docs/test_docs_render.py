"""The built site as a reader sees it, in a real headless Chromium: pages load, Markdown is rendered.

One browser visits every page (over the DevTools pipe, see browser.py) and reads the rendered
text: no raw fences, no stray backslash escapes (`PATH\\|NAME`), numbered lists that keep their
numbering, and code blocks inside list items rendered as code.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser

from bed_support import require

ROOT = Path(__file__).resolve().parents[2]

# What the page shows, as data: its title, text, and the shapes of its lists and code blocks.
PROBE = """(() => ({
  title: document.title,
  text: document.querySelector('[role=main], main, .col-md-9, body').innerText,
  longestList: Math.max(0, ...[...document.querySelectorAll('ol')].map(o => o.querySelectorAll(':scope > li').length)),
  codeInLists: document.querySelectorAll('li pre code').length,
}))()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(shutil.which("chromium") is not None, "Chromium (Debian package chromium)")
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def _pages(site: Path) -> list[tuple[Path, Path]]:
    """(markdown source, built page) for every page of docs/."""
    pairs = []
    for source in sorted((ROOT / "docs").rglob("*.md")):
        relative = source.relative_to(ROOT / "docs").with_suffix("")
        built = site / ("index.html" if relative.name == "index" and relative.parent == Path(".")
                        else relative / "index.html")
        pairs.append((source, built))
    return pairs


def _expected(markdown: str) -> tuple[int, int]:
    """The longest numbered list the source writes, and how many fences it nests in list items."""
    longest = max((int(n) for n in re.findall(r"^(\d+)\. ", markdown, re.M)), default=0)
    nested = len(re.findall(r"^ {2,}(?:```|~~~)\w*\n.*?^ {2,}(?:```|~~~)\s*$", markdown, re.M | re.S))
    return longest, nested


def test_every_page_renders_its_markdown(site: Path, browser: Browser) -> None:
    problems: list[str] = []
    for source, built in _pages(site):
        name = str(source.relative_to(ROOT))
        browser.load(built.as_uri())
        page = browser.evaluate(PROBE)
        if not page or not page["title"] or not page["text"].strip():
            problems.append(f"{name}: did not load")
            continue
        text = page["text"]
        for raw in ("```", "~~~", "\\|", "\\_", "\\*"):
            if raw in text:
                where = text[max(text.index(raw) - 40, 0):text.index(raw) + 20].replace("\n", " ")
                problems.append(f"{name}: raw Markdown {raw!r} in the rendered text: …{where}…")
        longest, nested = _expected(source.read_text(encoding="utf-8"))
        if page["longestList"] < longest:
            problems.append(f"{name}: a numbered list to {longest} renders as {page['longestList']} items at most")
        if page["codeInLists"] < nested:
            problems.append(f"{name}: {nested} code blocks in list items, {page['codeInLists']} render as code")
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_broken_page(tmp_path: Path, browser: Browser) -> None:
    """The probe itself: a list broken by an unrendered fence is caught (so the test above can fail)."""
    broken = tmp_path / "broken.html"
    broken.write_text("<title>t</title><main><ol><li>one<p>```sh sitoken tokens ```</p></li></ol>"
                      "<ol><li>two</li></ol><p>PATH\\|NAME</p></main>", encoding="utf-8")
    browser.load(broken.as_uri())
    page = browser.evaluate(PROBE)
    assert "```" in page["text"] and "\\|" in page["text"]
    assert page["longestList"] < _expected("1. one\n   ```sh\n   x\n   ```\n2. two\n")[0]
    assert page["codeInLists"] < _expected("1. one\n   ```sh\n   x\n   ```\n")[1]
