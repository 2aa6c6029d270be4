"""Inline a ValidatingAdmissionPolicy's `variables.<name>` references into the expressions that use them.

kube-apiserver evaluates a policy's variables lazily: a variable costs nothing unless an expression
reaches it, and its error matters only then. Evaluating them eagerly in Python would also round-trip
every value (often whole objects) between CEL and Python. Substituting each reference by the variable's
own (already inlined) expression, in parentheses, gives the same semantics — CEL has no side effects,
and `&&`, `||` and `?:` short-circuit — inside one compiled program.

A reference under `has(...)` cannot be inlined (`has` needs a field selection): `inline` returns None
and the caller falls back to evaluating the variables first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["inline_variables"]

_REF = re.compile(r"variables\.([A-Za-z_][A-Za-z0-9_]*)")
_IDENT = re.compile(r"[A-Za-z0-9_.]")


def _string_end(expr: str, i: int) -> int:
    """Index just past the string literal that starts at `i` (a quote, maybe after an r/R prefix)."""
    raw = i > 0 and expr[i - 1] in "rR" and (i < 2 or not _IDENT.match(expr[i - 2]))
    quote = expr[i:i + 3] if expr[i:i + 3] in ("'''", '"""') else expr[i]
    j = i + len(quote)
    while j < len(expr):
        if not raw and expr[j] == "\\":
            j += 2
            continue
        if expr.startswith(quote, j):
            return j + len(quote)
        j += 1
    return len(expr)


def inline_variables(expr: str, sources: Mapping[str, str]) -> str | None:
    """`expr` with every `variables.<name>` in `sources` replaced by `(source)`; None if that is not possible."""
    out: list[str] = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "'\"":
            j = _string_end(expr, i)
            out.append(expr[i:j])
            i = j
            continue
        m = _REF.match(expr, i)
        if m and (i == 0 or not _IDENT.match(expr[i - 1])) and m.group(1) in sources:
            if re.search(r"has\(\s*$", "".join(out)):
                return None
            out.append(f"({sources[m.group(1)]})")
            i = m.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)
