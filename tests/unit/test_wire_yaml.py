"""YAML request bodies: strings no UTF-8 can hold are repaired at decoding, as Go's YAML decoder does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver.wire import load_yaml, valid_unicode


@pytest.mark.parametrize(("text", "want"), [
    ("plain", "plain"),
    ("grüße 😀", "grüße 😀"),
    ("\ud800", "\ufffd"),                 # a lone high surrogate
    ("a\udc00b", "a\ufffdb"),             # a lone low surrogate
    ("\ud83d\ude00", "😀"),              # an escaped pair is the character it encodes
    ("\ude00\ud83d", "\ufffd\ufffd"),     # the wrong order is two lone ones
])
def test_valid_unicode(text: str, want: str) -> None:
    assert valid_unicode(text) == want


@given(st.text())
def test_valid_unicode_always_encodes_and_keeps_valid_text(text: str) -> None:
    fixed = valid_unicode(text)
    fixed.encode()  # never raises
    try:
        text.encode()
    except UnicodeEncodeError:
        return
    assert fixed == text


def test_yaml_escapes_in_keys_values_and_lists_are_repaired() -> None:
    doc = load_yaml(b'a: "\\ud800x"\nb: "\\ud83d\\ude00"\n"\\udc00": 1\nc: ["\\ud800", 2]\n')
    assert doc == {"a": "\ufffdx", "b": "😀", "\ufffd": 1, "c": ["\ufffd", 2]}
