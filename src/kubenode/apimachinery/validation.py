"""Names and labels validated like `k8s.io/apimachinery/pkg/util/validation`, with its exact messages.

One implementation for the API server's ObjectMeta validation and for label selectors: messages,
regexes, limits and Go's byte lengths are the real server's (e.g. `a lowercase RFC 1123 subdomain must
consist of ...`). Each `*_errors` function returns the problems of a value, [] when it is valid.
"""

from __future__ import annotations

import re

__all__ = [
    "DNS1123_LABEL_MAX", "DNS1123_SUBDOMAIN_MAX", "LABEL_VALUE_MAX", "QUALIFIED_NAME_MAX", "dns1123_label_errors",
    "dns1123_subdomain_errors", "go_len", "is_dns1123_label", "is_dns1123_subdomain", "label_value_errors",
    "qualified_name_errors", "regex_error",
]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                      "and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric character")
_QNAME_CHAR = "[A-Za-z0-9]"
_QNAME_EXT_CHAR = "[-A-Za-z0-9_.]"
_QUALIFIED_NAME_FMT = "(" + _QNAME_CHAR + _QNAME_EXT_CHAR + "*)?" + _QNAME_CHAR
_QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                       "with an alphanumeric character")
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character")

# fullmatch with ASCII-only classes: Go's regexp anchors ^...$ and has no Unicode \w surprises
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    # Go appends "'x', " per example and " or " between them: hence the real ",  or " (two spaces)
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def go_len(s: str) -> int:
    # Go's len() counts bytes, not code points
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _full(rx: re.Pattern[str], s: str) -> bool:
    # `$` in Python also matches before a trailing newline; fullmatch does not
    return rx.fullmatch(s) is not None


# --------------------------------------------------------------------------- name validators


def is_dns1123_label(s: str) -> bool:
    """True when `s` is a lowercase RFC 1123 label (≤ 63 characters)."""
    return isinstance(s, str) and go_len(s) <= DNS1123_LABEL_MAX and _full(_DNS1123_LABEL_RE, s)


def is_dns1123_subdomain(s: str) -> bool:
    """True when `s` is a lowercase RFC 1123 subdomain (≤ 253 characters)."""
    return isinstance(s, str) and go_len(s) <= DNS1123_SUBDOMAIN_MAX and _full(_DNS1123_SUBDOMAIN_RE, s)


def dns1123_label_errors(s: str) -> list[str]:
    errs: list[str] = []
    if go_len(s) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _full(_DNS1123_LABEL_RE, s):
        errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(s: str) -> list[str]:
    errs: list[str] = []
    if go_len(s) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _full(_DNS1123_SUBDOMAIN_RE, s):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs

def qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name " + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name",
                                               "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif go_len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _full(_QUALIFIED_NAME_RE, name):
        errs.append("name part " + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name",
                                                "123-abc"))
    return errs


def label_value_errors(v: str) -> list[str]:
    """Error strings for a label value (≤ 63, may be empty); [] when valid."""
    errs: list[str] = []
    if go_len(v) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _full(_LABEL_VALUE_RE, v):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


