"""Go (RE2) regular expressions, translated faithfully into Python's `re` syntax.

node-problem-detector's configs are written for Go's `regexp`. Most of its
syntax is Python's too, but not all of it, and a monitor that silently means
something else is worse than one that refuses to load:

* **inline flags anywhere** — Go allows `a|(?i)b`: the flags hold from there
  to the end of the enclosing group. Python 3.11 refuses global flags that are
  not at the start, so `X(?i)Y` becomes `X(?i:Y)` up to the group's end;
* `\\z` (end of text) is Python's `\\Z`; Go has no `\\Z`, so it is an error;
* `$` without the `m` flag is Go's end of *text* (Python's `$` also matches
  before a final newline): it becomes `\\Z`;
* `(?<name>…)` becomes `(?P<name>…)`; `(?P<name>…)` is the same in both;
* `\\Q…\\E` literal text is escaped; `\\x{10FFFF}` and octal `\\123` become
  Python escapes; `[[:alpha:]]` POSIX classes become ranges;
* `{,n}` is a literal in Go (a repetition in Python 3.11+): it is escaped;
* what RE2 refuses — look-around, back-references, possessive and nested
  repetition, the `U` flag — is refused here too, with the reason; Unicode
  classes (`\\pL`) are refused because Python's `re` has none;
* patterns are compiled with `re.ASCII`: Go's `\\w`, `\\d`, `\\s`, `\\b` are
  ASCII-only.

NPD anchors a rule at the end of its log buffer by appending `\\z` to the
pattern *as written* — so in a top-level alternation only the last branch is
anchored. :func:`compile_re2` with ``anchor_end`` does exactly the same.

:class:`Translation` also says whether a pattern can only ever match inside
one line (no newline in any class, no anchors, no top-level alternation),
which lets the matcher test the newest line instead of the joined buffer —
the same optimisation, under the same conditions, as NPD's `lastLineOnly`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["RE2Error", "Translation", "compile_re2", "translate"]


class RE2Error(ValueError):
    """The pattern is not valid Go RE2 syntax (or uses what Python cannot express)."""


POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\(\?([imsU]*)(-([imsU]*))?([:)])")
_NAMED = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")
# Characters inside a Python class that would start a (future) set operation or a nested set.
_CLASS_SPECIAL = {"[": "\\[", "&": "\\&", "~": "\\~", "|": "\\|"}
_NEWLINE_CAPABLE = ("\\s", "\\W", "\\D", "\\n", "\\x", "\\u", "\\U", "\\0", "\\v", "\\f", "\\r", "\\A", "\\Z",
                    "[^", "^", "$", "\n")


@dataclass
class _Frame:
    flags: set[str]
    closers: int = 0


@dataclass(frozen=True)
class Translation:
    """A Go pattern in Python syntax, and whether it can only match within one line."""

    go: str
    python: str
    single_line: bool


@dataclass
class _State:
    out: list[str] = field(default_factory=list)
    stack: list[_Frame] = field(default_factory=lambda: [_Frame(set())])
    top_level_alternation: bool = False
    dot_all: bool = False
    last: str = ""  # kind of the last emitted atom: "atom", "quant", "lazy", "" (nothing / not repeatable)


def _hex(code: int) -> str:
    if code > 0x10FFFF:
        raise RE2Error(f"invalid character code {code:#x}")
    return f"\\U{code:08x}"


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape at p[i] == '\\'; returns (python text, next index)."""
    if i + 1 >= len(p):
        raise RE2Error("trailing backslash at end of expression")
    c = p[i + 1]
    if c == "z" and not in_class:
        return "\\Z", i + 2
    if c in "ZCG" or (c in "zAbB" and in_class):
        raise RE2Error(f"invalid escape sequence: \\{c}")
    if c in "pP":
        raise RE2Error(f"Unicode character classes (\\{c}…) are not supported by Python's re")
    if c == "x":
        if i + 2 < len(p) and p[i + 2] == "{":
            end = p.find("}", i + 3)
            if end < 0 or not re.fullmatch(r"[0-9A-Fa-f]{1,8}", p[i + 3:end]):
                raise RE2Error("invalid escape sequence: \\x{")
            return _hex(int(p[i + 3:end], 16)), end + 1
        digits = p[i + 2:i + 4]
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
            raise RE2Error("invalid escape sequence: \\x")
        return _hex(int(digits, 16)), i + 4
    if c.isdigit():
        m = re.match(r"[0-7]{1,3}", p[i + 1:])
        if c in "89" or m is None or (c != "0" and len(m.group(0)) == 1):
            raise RE2Error(f"invalid escape sequence: \\{c} (back-references are not RE2 syntax)")
        return _hex(int(m.group(0), 8)), i + 1 + len(m.group(0))
    if c == "Q":
        end = p.find("\\E", i + 2)
        literal = p[i + 2:] if end < 0 else p[i + 2:end]
        return re.escape(literal), len(p) if end < 0 else end + 2
    if c == "E":
        return "", i + 2  # a stray \E is ignored by Go
    if c.isalnum() and c not in "abfnrtvdDsSwWAbB":
        raise RE2Error(f"invalid escape sequence: \\{c}")
    return "\\" + c, i + 2


def _char_class(p: str, i: int) -> tuple[str, int]:
    """Translate the class starting at p[i] == '['; returns (python text, next index)."""
    j = i + 1
    out = ["["]
    if j < len(p) and p[j] == "^":
        out.append("^")
        j += 1
    first = True
    prev_dash = False
    while True:
        if j >= len(p):
            raise RE2Error(f"missing closing ]: {p[i:]}")
        c = p[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and p.startswith("[:", j):
            end = p.find(":]", j + 2)
            name = p[j + 2:end] if end > 0 else ""
            neg = name.startswith("^")
            body = POSIX_CLASSES.get(name.lstrip("^"))
            if body is None:
                raise RE2Error(f"invalid character class range: {p[j:end + 2] if end > 0 else p[j:]}")
            if neg:
                raise RE2Error(f"negated POSIX classes inside a class ([:^{name[1:]}:]) are not supported")
            out.append(body)
            j = end + 2
            prev_dash = False
            continue
        if c == "\\":
            text, j = _escape(p, j, in_class=True)
            out.append(text)
            prev_dash = False
            continue
        if c == "-" and prev_dash:
            out.append("\\-")
            prev_dash = False
        else:
            out.append(_CLASS_SPECIAL.get(c, c))
            prev_dash = c == "-"
        j += 1


def _push_flags(st: _State, on: str, off: str) -> set[str]:
    if "U" in on or "U" in off:
        raise RE2Error("the U (ungreedy) flag has no Python equivalent")
    flags = (st.stack[-1].flags | set(on)) - set(off)
    if "s" in flags:
        st.dot_all = True
    return flags


def translate(pattern: str) -> Translation:
    """`pattern` (Go syntax) in Python syntax; RE2Error when Go would refuse it."""
    p = pattern
    st = _State()
    i = 0
    while i < len(p):
        c = p[i]
        frame = st.stack[-1]
        if c == "\\":
            text, i = _escape(p, i, in_class=False)
            st.out.append(text)
            st.last = "atom" if text and text not in ("\\Z", "\\A", "\\b", "\\B") else ""
        elif c == "[":
            text, i = _char_class(p, i)
            st.out.append(text)
            st.last = "atom"
        elif c == "(":
            if p.startswith("(?", i):
                named = _NAMED.match(p, i)
                flags = None if p.startswith("(?:", i) else _FLAGS.match(p, i)
                if named:
                    st.out.append(f"(?P<{named.group(1)}>")
                    st.stack.append(_Frame(set(frame.flags)))
                    i = named.end()
                elif flags:
                    on, off, end = flags.group(1), flags.group(3) or "", flags.group(4)
                    if not on and not off:
                        raise RE2Error(f"missing argument to repetition operator or invalid flags: {p[i:i + 4]}")
                    new = _push_flags(st, on, off)
                    spec = on + (f"-{off}" if off else "")
                    st.out.append(f"(?{spec}:")
                    if end == ":":
                        st.stack.append(_Frame(new))
                    else:  # (?flags) — from here to the end of the enclosing group
                        frame.closers += 1
                        frame.flags = new
                    i = flags.end()
                    st.last = ""
                    continue
                elif p.startswith("(?:", i):
                    st.out.append("(?:")
                    st.stack.append(_Frame(set(frame.flags)))
                    i += 3
                else:
                    raise RE2Error(f"invalid or unsupported Perl syntax: {p[i:i + 4]!r} (RE2 has no look-around, "
                                   "atomic groups or comments)")
            else:
                st.out.append("(")
                st.stack.append(_Frame(set(frame.flags)))
                i += 1
            st.last = ""
            continue
        elif c == ")":
            if len(st.stack) == 1:
                raise RE2Error(f"unexpected ): {pattern}")
            done = st.stack.pop()
            st.out.append(")" * done.closers + ")")
            st.last = "atom"
            i += 1
        elif c in "*+?":
            if st.last == "quant" and c == "?":
                st.out.append("?")
                st.last = "lazy"
            elif st.last in ("quant", "lazy"):
                raise RE2Error(f"invalid nested repetition operator: {p[max(0, i - 1):i + 1]}")
            elif st.last == "":
                raise RE2Error(f"missing argument to repetition operator: {c}")
            else:
                st.out.append(c)
                st.last = "quant"
            i += 1
        elif c == "{":
            m = _REPEAT.match(p, i)
            if m and st.last in ("quant", "lazy"):
                raise RE2Error(f"invalid nested repetition operator: {m.group(0)}")
            if m and st.last == "atom":
                lo, hi = int(m.group(1)), m.group(3)
                if lo > 1000 or (hi and int(hi) > 1000) or (hi and int(hi) < lo):
                    raise RE2Error(f"invalid repeat count: {m.group(0)}")
                st.out.append(m.group(0))
                st.last = "quant"
                i = m.end()
            else:
                st.out.append("\\{")  # Go: a brace that does not start a repetition is a literal
                st.last = "atom"
                i += 1
        elif c == "$":
            st.out.append("$" if "m" in frame.flags else "\\Z")
            st.last = ""
            i += 1
        elif c == "|":
            if len(st.stack) == 1:
                st.top_level_alternation = True
            st.out.append("|")
            st.last = ""
            i += 1
        elif c == "^":
            st.out.append("^")
            st.last = ""
            i += 1
        else:
            st.out.append(c)
            st.last = "atom"
            i += 1
    if len(st.stack) != 1:
        raise RE2Error(f"missing closing ): {pattern}")
    python = "".join(st.out) + ")" * st.stack[0].closers
    single = not st.top_level_alternation and not st.dot_all and not any(t in python for t in _NEWLINE_CAPABLE)
    return Translation(go=pattern, python=python, single_line=single)


def compile_re2(pattern: str, *, anchor_end: bool = False) -> re.Pattern[str]:
    """Compile a Go pattern; with `anchor_end`, anchored as NPD anchors rules (`pattern + \\z`)."""
    translate(pattern)  # errors cite the pattern as written, as NPD's do
    t = translate(pattern + "\\z") if anchor_end else translate(pattern)
    try:
        return re.compile(t.python, re.ASCII)
    except re.error as exc:
        raise RE2Error(str(exc)) from None
