"""ObjectMeta validation: messages (table tests) and name/label validators (property tests)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.apiserver.metadata import (
    generate_name,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_label_key,
    validate_label_value,
    validate_metadata_update,
    validate_object_meta,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
QNAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

Cause = tuple[str, str, str]

META_CASES: list[tuple[str, dict[str, Any], bool, str, list[Cause]]] = [
    ("valid cluster-scoped", {"name": "a.b-c"}, False, "dns-subdomain", []),
    ("valid namespaced", {"name": "a", "namespace": "ns-1"}, True, "dns-subdomain", []),
    (
        "name required",
        {},
        False,
        "dns-subdomain",
        [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")],
    ),
    ("generateName instead of name", {"generateName": "web-"}, False, "dns-subdomain", []),
    (
        "bad generateName",
        {"generateName": "Web-"},
        False,
        "dns-subdomain",
        [("FieldValueInvalid", "metadata.generateName", f'Invalid value: "Web-": {SUBDOMAIN_MSG}')],
    ),
    (
        "bad subdomain name",
        {"name": "Foo"},
        False,
        "dns-subdomain",
        [("FieldValueInvalid", "metadata.name", f'Invalid value: "Foo": {SUBDOMAIN_MSG}')],
    ),
    (
        "too long subdomain name",
        {"name": "a" * 254},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{"a" * 254}": must be no more than 253 characters',
            )
        ],
    ),
    (
        "dns-label rejects dots",
        {"name": "a.b"},
        False,
        "dns-label",
        [("FieldValueInvalid", "metadata.name", f'Invalid value: "a.b": {LABEL_MSG}')],
    ),
    ("path-segment allows caps", {"name": "Foo_Bar"}, False, "path-segment", []),
    (
        "path-segment rejects slash",
        {"name": "a/b"},
        False,
        "path-segment",
        [("FieldValueInvalid", "metadata.name", "Invalid value: \"a/b\": may not contain '/'")],
    ),
    (
        "path-segment rejects ..",
        {"name": ".."},
        False,
        "path-segment",
        [("FieldValueInvalid", "metadata.name", "Invalid value: \"..\": may not be '..'")],
    ),
    (
        "namespace required",
        {"name": "a"},
        True,
        "dns-subdomain",
        [("FieldValueRequired", "metadata.namespace", "Required value")],
    ),
    (
        "namespace forbidden",
        {"name": "a", "namespace": "x"},
        False,
        "dns-subdomain",
        [("FieldValueForbidden", "metadata.namespace", "Forbidden: not allowed on this type")],
    ),
    (
        "bad namespace",
        {"name": "a", "namespace": "a.b"},
        True,
        "dns-subdomain",
        [("FieldValueInvalid", "metadata.namespace", f'Invalid value: "a.b": {LABEL_MSG}')],
    ),
    (
        "negative generation",
        {"name": "a", "generation": -1},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.generation",
                "Invalid value: -1: must be greater than or equal to 0",
            )
        ],
    ),
    (
        "label key",
        {"name": "a", "labels": {"-x": "v"}},
        False,
        "dns-subdomain",
        [("FieldValueInvalid", "metadata.labels", f'Invalid value: "-x": {QNAME_MSG}')],
    ),
    (
        "label key prefix",
        {"name": "a", "labels": {"Example.com/x": "v"}},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.labels",
                f'Invalid value: "Example.com/x": prefix part {SUBDOMAIN_MSG}',
            )
        ],
    ),
    (
        "label value",
        {"name": "a", "labels": {"k": "v!"}},
        False,
        "dns-subdomain",
        [("FieldValueInvalid", "metadata.labels", f'Invalid value: "v!": {VALUE_MSG}')],
    ),
    (
        "label value too long",
        {"name": "a", "labels": {"k": "v" * 64}},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.labels",
                f'Invalid value: "{"v" * 64}": must be no more than 63 characters',
            )
        ],
    ),
    (
        "label value not a string",
        {"name": "a", "labels": {"k": 1}},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueTypeInvalid",
                "metadata.labels.k",
                'Invalid value: "integer": metadata.labels.k must be of type string: "integer"',
            )
        ],
    ),
    (
        "annotation keys are lowercased first",
        {"name": "a", "annotations": {"Example.COM/Key": "v"}},
        False,
        "dns-subdomain",
        [],
    ),
    (
        "annotation key",
        {"name": "a", "annotations": {"a/b/c": "v"}},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.annotations",
                'Invalid value: "a/b/c": a qualified name '
                + QNAME_MSG.removeprefix("name part ")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
            )
        ],
    ),
    (
        "annotations too large",
        {"name": "a", "annotations": {"k": "x" * 262144}},
        False,
        "dns-subdomain",
        [("FieldValueTooLong", "metadata.annotations", "Too long: may not be more than 262144 bytes")],
    ),
    (
        "annotations at the limit",
        {"name": "a", "annotations": {"k": "x" * 262143}},
        False,
        "dns-subdomain",
        [],
    ),
    (
        "finalizer",
        {"name": "a", "finalizers": ["example.com/ok", "bad finalizer"]},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.finalizers",
                f'Invalid value: "bad finalizer": {QNAME_MSG}',
            )
        ],
    ),
    (
        "owner reference fields",
        {"name": "a", "ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]},
        False,
        "dns-subdomain",
        [
            (
                "FieldValueInvalid",
                "metadata.ownerReferences.apiVersion",
                'Invalid value: "": version must not be empty',
            ),
            (
                "FieldValueInvalid",
                "metadata.ownerReferences.kind",
                'Invalid value: "": kind must not be empty',
            ),
            (
                "FieldValueInvalid",
                "metadata.ownerReferences.name",
                'Invalid value: "": name must not be empty',
            ),
            ("FieldValueInvalid", "metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty'),
        ],
    ),
    (
        "owner reference ok",
        {"name": "a", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "X", "name": "o", "uid": "u"}]},
        False,
        "dns-subdomain",
        [],
    ),
]


@pytest.mark.parametrize(
    ("name", "meta", "namespaced", "rule", "expected"), META_CASES, ids=[c[0] for c in META_CASES]
)
def test_validate_object_meta(
    name: str, meta: dict[str, Any], namespaced: bool, rule: str, expected: list[Cause]
) -> None:
    causes = validate_object_meta(meta, namespaced=namespaced, name_rule=rule)
    assert [(c["type"], c["field"], c["message"]) for c in causes] == expected


def test_two_controllers() -> None:
    refs = [
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": True},
    ]
    causes = validate_object_meta({"name": "x", "ownerReferences": refs}, namespaced=False)
    assert len(causes) == 1
    assert causes[0]["type"] == "FieldValueInvalid"
    assert causes[0]["field"] == "metadata.ownerReferences"
    assert causes[0]["message"].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for A/a and B/b'
    )


@pytest.mark.parametrize(
    "meta",
    [
        None,
        "x",
        [],
        {"name": 1},
        {"labels": []},
        {"finalizers": "x"},
        {"ownerReferences": [1]},
        {"annotations": {"a": None}},
    ],
)
def test_wrong_types_do_not_raise(meta: Any) -> None:
    assert isinstance(validate_object_meta(meta, namespaced=False), list)


UPDATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[Cause]]] = [
    ("unchanged", {"name": "a", "uid": "1"}, {"name": "a", "uid": "1", "labels": {"x": "y"}}, []),
    (
        "name",
        {"name": "a"},
        {"name": "b"},
        [("FieldValueInvalid", "metadata.name", 'Invalid value: "b": field is immutable')],
    ),
    (
        "namespace",
        {"name": "a", "namespace": "x"},
        {"name": "a", "namespace": "y"},
        [("FieldValueInvalid", "metadata.namespace", 'Invalid value: "y": field is immutable')],
    ),
    (
        "uid",
        {"name": "a", "uid": "1"},
        {"name": "a", "uid": "2"},
        [("FieldValueInvalid", "metadata.uid", 'Invalid value: "2": field is immutable')],
    ),
    (
        "creationTimestamp prints like Go time",
        {"name": "a", "creationTimestamp": "2024-01-02T03:04:05Z"},
        {"name": "a", "creationTimestamp": "2024-01-02T03:04:06Z"},
        [
            (
                "FieldValueInvalid",
                "metadata.creationTimestamp",
                "Invalid value: 2024-01-02 03:04:06 +0000 UTC: field is immutable",
            )
        ],
    ),
    (
        "no new finalizers while deleting",
        {"name": "a", "deletionTimestamp": "2024-01-02T03:04:05Z", "finalizers": ["a/b"]},
        {"name": "a", "deletionTimestamp": "2024-01-02T03:04:05Z", "finalizers": ["a/b", "c/d"]},
        [
            (
                "FieldValueForbidden",
                "metadata.finalizers",
                "Forbidden: no new finalizers can be added if the object is being deleted, "
                'found new finalizers []string{"c/d"}',
            )
        ],
    ),
    (
        "removing finalizers while deleting is fine",
        {"name": "a", "deletionTimestamp": "2024-01-02T03:04:05Z", "finalizers": ["a/b"]},
        {"name": "a", "deletionTimestamp": "2024-01-02T03:04:05Z", "finalizers": []},
        [],
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "expected"), UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES])
def test_validate_metadata_update(
    name: str, old: dict[str, Any], new: dict[str, Any], expected: list[Cause]
) -> None:
    causes = validate_metadata_update(old, new)
    assert [(c["type"], c["field"], c["message"]) for c in causes] == expected


@pytest.mark.parametrize(("prefix", "length"), [("web-", 9), ("", 5), ("x" * 300, 63), ("a" * 58, 63)])
def test_generate_name(prefix: str, length: int) -> None:
    name = generate_name(prefix)
    assert len(name) == length
    assert name.startswith(prefix[:58])
    assert re.fullmatch("[bcdfghjklmnpqrstvwxz2456789]{5}", name[-5:])


def test_generate_name_is_random() -> None:
    assert len({generate_name("a-") for _ in range(50)}) > 45


# --------------------------------------------------------------------------- property tests

LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QNAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

NAMEISH = st.text(alphabet="abcXYZ019-._/ \n%ä", max_size=70)


def _ref_label(s: str) -> bool:
    return len(s.encode()) <= 63 and LABEL_RE.fullmatch(s) is not None


def _ref_subdomain(s: str) -> bool:
    return len(s.encode()) <= 253 and SUBDOMAIN_RE.fullmatch(s) is not None


def _ref_key(s: str) -> bool:
    parts = s.split("/")
    if len(parts) > 2:
        return False
    name = parts[-1]
    if len(parts) == 2 and not _ref_subdomain(parts[0]):
        return False
    return 0 < len(name.encode()) <= 63 and QNAME_RE.fullmatch(name) is not None


@settings(max_examples=500)
@given(NAMEISH)
def test_names_agree_with_regexes(s: str) -> None:
    assert is_dns1123_label(s) == _ref_label(s)
    assert is_dns1123_subdomain(s) == _ref_subdomain(s)
    assert (validate_label_key(s) == []) == _ref_key(s)
    assert (validate_label_value(s) == []) == (len(s.encode()) <= 63 and VALUE_RE.fullmatch(s) is not None)


@given(st.from_regex(LABEL_RE, fullmatch=True).filter(lambda s: len(s) <= 63))
def test_generated_labels_are_valid(s: str) -> None:
    assert is_dns1123_label(s)
    assert is_dns1123_subdomain(s)
    assert validate_label_value(s) == []
    assert validate_object_meta({"name": s, "namespace": s}, namespaced=True, name_rule="dns-label") == []


@given(
    st.from_regex(SUBDOMAIN_RE, fullmatch=True).filter(lambda s: len(s) <= 253),
    st.from_regex(QNAME_RE, fullmatch=True).filter(lambda s: len(s) <= 63),
)
def test_generated_keys_are_valid(prefix: str, name: str) -> None:
    assert validate_label_key(name) == []
    assert validate_label_key(f"{prefix}/{name}") == []
    assert (
        validate_object_meta({"name": prefix, "labels": {f"{prefix}/{name}": name}}, namespaced=False) == []
    )


@given(st.text(max_size=80))
def test_generate_name_from_valid_prefix_is_valid(prefix: str) -> None:
    name = generate_name(prefix)
    if _ref_label(prefix[:58] + "a"):
        assert is_dns1123_label(name)


def test_uids_are_distinct_version_4_uuids_across_threads_and_forks() -> None:
    import multiprocessing
    import threading
    import uuid

    from kubenode.apiserver.objects import new_uid

    got: list[str] = []
    first = new_uid()  # the parent's pool is started before the fork

    def take() -> None:
        got.extend(new_uid() for _ in range(2000))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        children = pool.map(_uids, [300, 300])
    every = [first, *got, *children[0], *children[1]]
    assert len(set(every)) == len(every) == 1 + 8000 + 600
    assert all(uuid.UUID(u).version == 4 and str(uuid.UUID(u)) == u for u in every)


def _uids(n: int) -> list[str]:
    from kubenode.apiserver.objects import new_uid

    return [new_uid() for _ in range(n)]
