"""Go RE2 patterns in Python: faithful translations, RE2's refusals, NPD's end anchoring."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent.detectors.re2 import RE2Error, compile_re2, translate


@pytest.mark.parametrize(("go", "python"), [
    (r"divide error: 0000 \[#\d+\] SMP", r"divide error: 0000 \[#\d+\] SMP"),
    # inline flags anywhere: from there to the end of the enclosing group
    ("(?i)Currently unreadable.*sectors|(?i)Offline uncorrectable sectors",
     "(?i:Currently unreadable.*sectors|(?i:Offline uncorrectable sectors))"),
    ("a(?i)b|c", "a(?i:b|c)"),
    ("(a(?i)b)c", "(a(?i:b))c"),
    ("(?i:x)y", "(?i:x)y"),
    ("(?s-i)x.", "(?s-i:x.)"),
    (r"x\z", r"x\Z"),
    ("x$", r"x\Z"),  # Go's $ without m is the end of the text
    ("(?m)x$", "(?m:x$)"),
    ("(?P<name>a)", "(?P<name>a)"),
    ("(?<name>a)", "(?P<name>a)"),
    (r"\Qa.b*\E", r"a\.b\*"),
    (r"\x41\x{1F600}", r"\U00000041\U0001f600"),
    (r"\101", r"\U00000041"),
    ("[[:alpha:][:digit:]_]", "[A-Za-z0-9_]"),
    ("a{,3}", r"a\{,3}"),  # a literal in Go, a repetition in Python 3.11+
    ("a{2,3}?", "a{2,3}?"),
    ("[a&&b]", r"[a\&\&b]"),  # no Python set operations inside a class
    ("[]a]", "[]a]"),
])
def test_translate(go: str, python: str) -> None:
    assert translate(go).python == python


@pytest.mark.parametrize("go", [
    "(?=x)", "(?!x)", "(?<=x)", "(?<!x)", "(?>x)", "(?#c)",  # no look-around, atomic groups, comments
    r"(a)\1",  # no back-references
    "a**", "a+*", "a*+", "a{2}{3}", "*a",  # nested/missing repetition
    r"\Z", r"\pL", r"\p{Greek}", r"\C",
    "(?U)a", "(a", "a)", "[a", "a{1001}", "a\\",  # the last one: a trailing backslash
])
def test_refused_as_go_refuses(go: str) -> None:
    with pytest.raises(RE2Error):
        translate(go)


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    # NPD appends \z to the pattern as written: in a top-level alternation only the last branch is anchored
    ("foo|bar", "xx foo yy", True),
    ("foo|bar", "xx bar yy", False),
    ("foo|bar", "xx bar", True),
    ("(foo|bar)", "xx foo yy", False),
    (r"divide error: 0000 \[#\d+\] SMP", "divide error: 0000 [#1] SMP", True),
    (r"divide error: 0000 \[#\d+\] SMP", "divide error: 0000 [#1] SMP ", False),  # hence NPD's TrimSpace
    ("(?i)Offline uncorrectable sectors", "OFFLINE UNCORRECTABLE SECTORS", True),
])
def test_anchor_end_as_npd(pattern: str, text: str, matches: bool) -> None:
    assert bool(compile_re2(pattern, anchor_end=True).search(text)) is matches


@pytest.mark.parametrize(("pattern", "single"), [
    (r"task [\S ]+:\w+ blocked for more than \w+ seconds\.", True),
    (r"a\s+b", False),  # \s matches a newline: the rule may span lines
    ("a|b", False),  # top-level alternation: an unanchored branch matches anywhere in the buffer
    ("(?s)a.b", False),
    ("^a", False),
    ("[^x]", False),
    (r"a\nb", False),
])
def test_single_line(pattern: str, single: bool) -> None:
    assert translate(pattern).single_line is single


def test_ascii_classes() -> None:
    # Go's \d and \w are ASCII-only
    assert compile_re2(r"^\d+$").search("١٢٣") is None
    assert compile_re2(r"^\w+$").search("é") is None


LITERAL = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@given(LITERAL)
def test_escaped_literals_match_themselves(text: str) -> None:
    assert compile_re2(re.escape(text), anchor_end=True).search(text) is not None


@given(st.text(max_size=40))
def test_translate_only_raises_re2_errors(text: str) -> None:
    try:
        compile_re2(text)
    except RE2Error:
        pass
