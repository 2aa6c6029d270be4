"""Prometheus text exposition (format 0.0.4), written by hand for exact numbers and a cheap scrape.

Two reasons not to route node metrics through prometheus_client's metric
objects: its float formatting turns large integers into exponents
(`2.5276e+10`-style, which readers of `node_memory_MemTotal_bytes` rightly
distrust), and it appends `_total` to every counter, while
node-problem-detector's counter is named `problem_counter`. Integers are
therefore written as integers, floats with `repr` (shortest round-trip
form), and each family keeps exactly the name it is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Family", "format_value", "render"]

Labels = Mapping[str, str]


def format_value(value: float | int) -> str:
    """A sample value: integers exactly, floats in their shortest round-trip form."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


@dataclass
class Family:
    """One metric family: a name, its type and help, and its samples."""

    name: str
    type: str  # counter | gauge | untyped
    help: str
    samples: list[tuple[tuple[tuple[str, str], ...], float | int]] = field(default_factory=list)

    def add(self, value: float | int, labels: Labels | None = None) -> None:
        """Add one sample (labels in the order given)."""
        self.samples.append((tuple((labels or {}).items()), value))


def render(families: Iterable[Family]) -> str:
    """The text exposition of `families` (empty families keep their HELP/TYPE lines)."""
    out: list[str] = []
    for f in families:
        out.append(f"# HELP {f.name} {_escape_help(f.help)}")
        out.append(f"# TYPE {f.name} {f.type}")
        for labels, value in f.samples:
            if labels:
                text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                out.append(f"{f.name}{{{text}}} {format_value(value)}")
            else:
                out.append(f"{f.name} {format_value(value)}")
    return "\n".join(out) + "\n" if out else ""
