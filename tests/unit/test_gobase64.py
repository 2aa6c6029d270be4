"""Base64 of []byte fields as Go decodes it: CR and LF ignored, everything else strict."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver import gobase64


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("", b""),
        ("YQ==", b"a"),
        ("YWJj", b"abc"),
        ("YW\nJj", b"abc"),
        ("YW\r\nJj\r\n", b"abc"),
        ("\nYQ=\n=\n", b"a"),  # Go skips newlines even inside the padding
        ("YR==", b"a"),  # non-zero padding bits: accepted by Go's non-strict StdEncoding
    ],
)
def test_valid(value: str, decoded: bytes) -> None:
    assert gobase64.decode(value) == decoded
    assert gobase64.canonical(value) == base64.b64encode(decoded).decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("YQ", "illegal base64 data at input byte 2"),  # padding is required
        ("Y Q==", "illegal base64 data at input byte 1"),  # spaces are not skipped, only CR and LF
        ("YQ==\t", "illegal base64 data at input byte 4"),
        ("_-8=", "illegal base64 data at input byte 0"),  # the URL-safe alphabet is not the standard one
        ("YQ==YQ==", "illegal base64 data at input byte 8"),  # nothing may follow the padding
        ("ä", "illegal base64 data at input byte 0"),
    ],
)
def test_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gobase64.decode(value)
    assert not gobase64.is_valid(value)
    assert gobase64.canonical(value) is None


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=12),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_line_breaks_anywhere_decode_to_the_same_bytes(data: bytes, cuts: list[int], newline: str) -> None:
    encoded = base64.b64encode(data).decode()
    wrapped = encoded
    for cut in sorted({min(c, len(encoded)) for c in cuts}, reverse=True):
        wrapped = wrapped[:cut] + newline + wrapped[cut:]
    assert gobase64.decode(wrapped) == data
    assert gobase64.canonical(wrapped) == encoded


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


@given(st.binary(min_size=1, max_size=60), st.integers(min_value=0), st.characters(
    blacklist_characters=_ALPHABET + "\r\n"))
def test_any_other_character_is_rejected_at_its_offset(data: bytes, where: int, bad: str) -> None:
    encoded = base64.b64encode(data).decode()
    at = where % (len(encoded) + 1)
    with pytest.raises(ValueError, match=f"at input byte {at}$"):
        gobase64.decode(encoded[:at] + bad + encoded[at:])
