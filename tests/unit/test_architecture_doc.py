"""docs/architecture.md matches the tree: every module it names exists, and it needs no file outside the repo."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()
PACKAGE = ROOT / "src" / "kubenode"


def test_every_module_it_names_exists() -> None:
    names = set(re.findall(r"`([\w/]+\.py)`", DOC))
    known = {p.name for p in PACKAGE.rglob("*.py")} | {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert names and not sorted(n for n in names if n not in known and Path(n).name not in known)


def test_every_package_in_the_layer_list_exists() -> None:
    block = DOC.split("```", 2)[1]
    packages = set(re.findall(r"(?:^|\s)(\w+)/", block))
    dirs = {p.name for p in PACKAGE.rglob("*") if p.is_dir() and (p / "__init__.py").exists()}
    assert packages and not sorted(p for p in packages if p not in dirs)


def test_it_reads_without_files_outside_the_repository() -> None:
    assert "../" not in DOC


def test_every_package_is_described() -> None:
    packages = sorted(p.parent.relative_to(PACKAGE).parts[0] for p in PACKAGE.glob("*/__init__.py"))
    assert packages and not [p for p in packages if f"{p}/" not in DOC]


def test_every_operator_module_is_named() -> None:
    operators = ["machine", "componentset", "remedy", "defender", "release"]
    modules = [p for op in operators for p in sorted((PACKAGE / op).glob("*.py")) if p.name != "__init__.py"]
    assert modules and not [str(p.relative_to(PACKAGE)) for p in modules if f"`{p.name}`" not in DOC
                            and f"`{p.parent.name}/{p.name}`" not in DOC]


def test_a_module_named_with_its_package_is_there() -> None:
    named = set(re.findall(r"`((?:\w+/)+\w+\.py)`", DOC))
    assert named and not sorted(n for n in named if not (PACKAGE / n).exists() and not (ROOT / n).exists())
