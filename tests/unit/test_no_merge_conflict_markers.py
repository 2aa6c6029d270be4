"""No tracked text file keeps a git merge-conflict marker (a merge once left some in docs/scale.md unnoticed).

The markers are git's own: a line that starts with seven `<` or `>` and a space, or a line of exactly seven
`=`. They are built from their characters here so that this file does not hold one itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS, THEIRS, SPLIT = "<" * 7 + " ", ">" * 7 + " ", "=" * 7


def conflict_lines(text: str) -> list[int]:
    """The 1-based numbers of the lines of `text` that are merge-conflict markers."""
    return [i for i, line in enumerate(text.splitlines(), 1)
            if line.startswith((OURS, THEIRS)) or line.rstrip("\r") == SPLIT]


@pytest.mark.parametrize(("text", "expected"), [
    ("plain\ntext\n", []),
    (f"a\n{OURS}HEAD\nours\n{SPLIT}\ntheirs\n{THEIRS}branch\nb\n", [2, 4, 6]),
    (f"{SPLIT}\r\n", [1]),  # a CRLF file
    # Not markers: a longer rule, a marker-like run inside a line, seven `<` without the space.
    ("=" * 8 + "\n", []),
    (f"x {OURS}y\n", []),
    ("<" * 7 + "\n", []),
    (f" {SPLIT}\n", []),
])
def test_conflict_lines(text: str, expected: list[int]) -> None:
    assert conflict_lines(text) == expected


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_text_file_has_a_conflict_marker() -> None:
    found = []
    files = tracked_files()
    for path in files:
        if not path.is_file():  # deleted in the working tree, not yet in the index
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        found += [f"{path.relative_to(ROOT)}:{n}" for n in conflict_lines(data.decode(errors="replace"))]
    assert files and not found, "merge-conflict markers left in: " + ", ".join(found)
