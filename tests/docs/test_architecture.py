"""docs/architecture.md's import rules match the imports in src/sitoken (imports go downward only)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
_ROW = re.compile(r"^\| `(sitoken[\w.]*)` \|(.*)\|$")


def _rules() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Import rules", 1)[1]
    rules: dict[str, set[str]] = {}
    for line in section.splitlines():
        if match := _ROW.match(line.strip()):
            rules[match[1]] = set(re.findall(r"`(sitoken[\w.]*)`", match[2]))
    return rules


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _names_bound_in(package: str) -> set[str]:
    """Names a package's __init__ defines or imports, at its top level."""
    init = SRC.joinpath(*package.split("."), "__init__.py")
    if not init.is_file():
        return set()
    bound: set[str] = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(t.id for t in targets if isinstance(t, ast.Name))
    return bound


def _imports(path: Path) -> Iterator[str]:
    """Every sitoken module that ``path`` imports, at any depth in the file (lazy imports too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("sitoken"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if not base.startswith("sitoken"):
                continue
            # "from . import pcsc" imports a module; "from .. import __version__" a name the
            # package binds. Decided from the source, so an unbuilt extension counts the same.
            bound = _names_bound_in(base)
            for alias in node.names:
                is_package = SRC.joinpath(*base.split("."), "__init__.py").is_file()
                yield f"{base}.{alias.name}" if is_package and alias.name not in bound else base


def _layer(module: str, layers: set[str]) -> str | None:
    """The longest listed layer that ``module`` is, or lies inside."""
    candidates = [layer for layer in layers if module == layer or module.startswith(layer + ".")]
    return max(candidates, key=len) if candidates else None


def test_every_import_goes_where_the_rules_allow() -> None:
    rules = _rules()
    assert "sitoken.pin" in rules and rules["sitoken.errors"] == set(), "the table did not parse"
    allowed_for_cli = set(rules) - {"sitoken.cli", "sitoken.__main__"}
    broken: set[str] = set()
    for path in sorted((SRC / "sitoken").rglob("*.py")):
        module = _module_name(path)
        layer = _layer(module, set(rules) - {"sitoken"}) or "sitoken"
        assert module == "sitoken" or layer != "sitoken", f"{module} belongs to no layer in the table"
        allowed = allowed_for_cli if layer == "sitoken.cli" else rules[layer]
        for target in _imports(path):
            target_layer = _layer(target, set(rules) - {"sitoken"}) or target
            if target_layer not in allowed | {layer}:
                broken.add(f"{module} imports {target} ({target_layer} is not below {layer})")
    assert not broken, "update the code or docs/architecture.md:\n" + "\n".join(sorted(broken))
