"""The documentation site builds with `mkdocs build --strict`: a warning (broken link, bad docstring) fails."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_markdown_page_is_built(site: Path) -> None:
    # A page left out of the nav is a warning under --strict; this names the page instead.
    for page in (ROOT / "docs").rglob("*.md"):
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / ("index.html" if relative.name == "index" else relative / "index.html")
        assert built.is_file(), f"docs/{page.relative_to(ROOT / 'docs')} was not built"


def test_api_reference_covers_the_public_modules(site: Path) -> None:
    html = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    modules = re.findall(r"^::: (\S+)", (ROOT / "docs" / "reference" / "api.md").read_text(), re.M)
    assert "sitoken.signing.cms" in modules and "sitoken.provisioning.applicant" in modules
    for module in modules:
        assert f'id="{module}"' in html, f"{module} has no section in the API reference"
    # Members come from the docstrings, not only the module headings.
    for member in ("sitoken.pin.PinPolicy.violations", "sitoken.signing.cms.verify_cms",
                   "sitoken.errors.InvalidInput", "sitoken.provisioning.applicant.load_applicants"):
        assert f'id="{member}"' in html, f"{member} is missing from the API reference"


def test_cli_reference_lists_every_command(site: Path) -> None:
    import click

    from sitoken.cli import cli

    html = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    # Commands that other layers register later (certs, provisioning) appear here with no edit.
    for name in cli.list_commands(click.Context(cli)):
        assert f'id="sitoken-{name}"' in html, f"sitoken {name} is missing from the CLI reference"
