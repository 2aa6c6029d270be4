"""Base64 as Kubernetes decodes `[]byte` fields (Secret `data`, ConfigMap `binaryData`, `format: byte`).

kube-apiserver decodes these fields with Go's `encoding/base64.StdEncoding`,
which silently skips carriage returns and line feeds anywhere in the input.
So the line-wrapped output of `base64` (76 columns) or of `openssl base64`
(64 columns), as pasted into TLS Secret manifests, is valid; any other
character outside the standard alphabet, a missing or misplaced `=`, or a
URL-safe alphabet is not. The server stores (and returns) the canonical,
unwrapped encoding, because kube keeps the decoded bytes and re-encodes them.
"""

from __future__ import annotations

import base64
import binascii

_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_STRIP = str.maketrans("", "", "\r\n")


def decode(value: str) -> bytes:
    """The bytes `value` encodes, or ValueError with Go's message ("illegal base64 data at input byte N").

    N is the offset of the first character that is not in the alphabet; for a
    padding error it is the length of the input, where the decoder ran out.
    """
    for i, ch in enumerate(value):
        if ch not in _ALPHABET and ch not in "\r\n":
            raise ValueError(f"illegal base64 data at input byte {i}")
    compact = value.translate(_STRIP)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"illegal base64 data at input byte {len(value)}") from None


def is_valid(value: str) -> bool:
    """Whether Go's standard base64 decoding accepts `value`."""
    try:
        decode(value)
    except ValueError:
        return False
    return True


def canonical(value: str) -> str | None:
    """`value` re-encoded as kube returns it (no line breaks, zero padding bits), or None when invalid."""
    try:
        return base64.b64encode(decode(value)).decode()
    except ValueError:
        return None
