"""Label and field selectors: kube's grammar, messages and matching semantics."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubenode.apiserver.selectors import (
    EVERYTHING,
    FieldSelector,
    LabelSelector,
    escape_field_value,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    unescape_field_value,
)

KEY_ERR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(("text", "canonical"), [
    ("", ""),
    ("   ", ""),
    ("a=b", "a=b"),
    ("a==b", "a==b"),
    ("a!=b", "a!=b"),
    (" a = b ", "a=b"),
    ("a in (y,x)", "a in (x,y)"),
    ("a in(x)", "a in (x)"),
    ("a notin (x, y ,x)", "a notin (x,y)"),
    ("a", "a"),
    ("!a", "!a"),
    ("! a", "!a"),
    ("a>1", "a>1"),
    ("a<10", "a<10"),
    ("a=", "a="),
    ("a in ()", "a in ()"),
    ("a in (,)", "a in ()"),
    ("a notin (a,,b)", "a notin (,a,b)"),
    ("z=1,a=2,m", "a=2,m,z=1"),
    ("example.com/role=x,kubernetes.io/os=linux", "example.com/role=x,kubernetes.io/os=linux"),
    ("in in (in)", "in in (in)"),
    ("notin", "notin"),
    ("a=b,a!=c", "a=b,a!=c"),
])
def test_parse_label_selector_canonical(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(("text", "message"), [
    ("app:monolith", f'unable to parse requirement: <nil>: Invalid value: "app:monolith": {KEY_ERR}'),
    ("a/b/c", 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist '
              "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
              "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
              "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
              "(e.g. 'example.com/MyName')"),
    ("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'),
    ("a=-x", f'unable to parse requirement: values[0][a]: Invalid value: "-x": {VALUE_ERR}'),
    ("a=" + "x" * 64, 'unable to parse requirement: values[0][a]: Invalid value: "' + "x" * 64
     + '": must be no more than 63 characters'),
    ("a>x", 'unable to parse requirement: values[0]: Invalid value: "x": for \'Gt\', \'Lt\' operators, '
            "the value must be an integer"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
])
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == message


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("", None, True),
    ("", {"a": "b"}, True),
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", None, False),
    ("a==b", {"a": "b", "x": "y"}, True),
    ("a!=b", {}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=b", {"a": "c"}, True),
    ("a in (x,y)", {"a": "y"}, True),
    ("a in (x,y)", {"a": "z"}, False),
    ("a in (x,y)", {}, False),
    ("a notin (x,y)", {}, True),
    ("a notin (x,y)", {"a": "x"}, False),
    ("a", {"a": ""}, True),
    ("a", {"b": "x"}, False),
    ("!a", {"b": "x"}, True),
    ("!a", {"a": ""}, False),
    ("a=", {"a": ""}, True),
    ("a=", {}, False),
    ("a in ()", {"a": ""}, True),
    ("a>1", {"a": "2"}, True),
    ("a>1", {"a": "1"}, False),
    ("a>1", {"a": "x"}, False),
    ("a>1", {}, False),
    ("a<10", {"a": "-3"}, True),
    ("a<10", {"a": "+3"}, True),
    ("a<10", {"a": "3.0"}, False),
    ("a<10", {"a": " 3"}, False),
    ("a<10", {"a": "99999999999999999999"}, False),
    ("a=b,c", {"a": "b"}, False),
    ("a=b,c", {"a": "b", "c": "d"}, True),
])
def test_label_selector_matches(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize(("sel", "labels", "expected", "canonical"), [
    (None, {}, False, ""),
    ({}, {}, True, ""),
    ({"matchLabels": {}, "matchExpressions": []}, {"a": "b"}, True, ""),
    ({"matchLabels": {"b": "2", "a": "1"}}, {"a": "1", "b": "2"}, True, "a=1,b=2"),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False, "a=1"),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["y", "x"]}]}, {"a": "x"}, True,
     "a in (x,y)"),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, {"a": "x"}, False,
     "a notin (x)"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True, "a"),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False, "!a"),
])
def test_label_selector_from_dict(sel: dict[str, Any] | None, labels: dict[str, str], expected: bool,
                                  canonical: str) -> None:
    selector = label_selector_from_dict(sel)
    assert selector.matches(labels) is expected
    assert str(selector) == canonical
    everything = sel is not None and not sel.get("matchLabels") and not sel.get("matchExpressions")
    assert selector.empty is everything


@pytest.mark.parametrize(("sel", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     '"Gt" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'),
    ({"matchLabels": {"a b": "c"}}, f'key: Invalid value: "a b": {KEY_ERR}'),
    ({"matchLabels": {"a": "-"}}, f'values[0][a]: Invalid value: "-": {VALUE_ERR}'),
])
def test_label_selector_from_dict_errors(sel: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        label_selector_from_dict(sel)
    assert str(exc.value) == message


def test_label_selector_immutable_and_equal() -> None:
    a = parse_label_selector("b=1, a in (y,x)")
    b = parse_label_selector("a in (x,y),b=1")
    assert a == b
    assert hash(a) == hash(b)
    assert parse_label_selector("") == EVERYTHING
    assert EVERYTHING.empty
    with pytest.raises(AttributeError):
        a.requirements = ()  # type: ignore[misc]


# --- property tests ---------------------------------------------------------------------------

_name = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?", fullmatch=True)
_prefix = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,5}[a-z0-9])?(\.[a-z0-9]{1,4}){0,2}", fullmatch=True)
_key = st.one_of(_name, st.builds(lambda p, n: f"{p}/{n}", _prefix, _name))
_value = st.one_of(st.just(""), _name)
_int_value = st.integers(min_value=0, max_value=10**6).map(str)


@st.composite
def _requirement_text(draw: st.DrawFn) -> str:
    key = draw(_key)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if op == "exists":
        return key
    if op == "!":
        return "!" + key
    if op in (">", "<"):
        return f"{key}{op}{draw(_int_value)}"
    if op in ("in", "notin"):
        vals = draw(st.lists(_value, min_size=1, max_size=4, unique=True))  # kube rejects "(,,)"
        return f"{key} {op} ({','.join(vals)})"
    return f"{key}{op}{draw(_value)}"


_selector_text = st.lists(_requirement_text(), max_size=5).map(",".join)


@given(_selector_text)
@settings(max_examples=300)
def test_label_selector_string_round_trips(text: str) -> None:
    parsed = parse_label_selector(text)
    again = parse_label_selector(str(parsed))
    assert again == parsed
    assert str(again) == str(parsed)


_small_key = st.sampled_from(["a", "b", "c", "x.io/d"])
_small_value = st.sampled_from(["", "1", "2", "v", "w"])


@given(
    st.dictionaries(_small_key, _small_value, max_size=4),
    st.lists(st.tuples(_small_key, st.sampled_from(["=", "!=", "in", "exists", "!"]),
                       st.lists(_small_value, min_size=1, max_size=3, unique=True)), max_size=4),
)
@settings(max_examples=300)
def test_label_selector_matches_reference(labels: dict[str, str],
                                          reqs: list[tuple[str, str, list[str]]]) -> None:
    parts = []
    for key, op, vals in reqs:
        if op in ("=", "!="):
            parts.append(f"{key}{op}{vals[0]}")
        elif op == "in":
            parts.append(f"{key} in ({','.join(vals)})")
        elif op == "exists":
            parts.append(key)
        else:
            parts.append("!" + key)

    def naive(key: str, op: str, vals: list[str]) -> bool:
        if op == "=":
            return labels.get(key) == vals[0]
        if op == "!=":
            return labels.get(key) != vals[0]
        if op == "in":
            return key in labels and labels[key] in vals
        if op == "exists":
            return key in labels
        return key not in labels

    expected = all(naive(*r) for r in reqs)
    assert parse_label_selector(",".join(parts)).matches(labels) is expected


# --- field selectors --------------------------------------------------------------------------

POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "n1", "unschedulable": True},
    "status": {"phase": "Running"},
    "source": {"component": "kubelet", "host": "n1"},
    "involvedObject": {"kind": "Pod", "uid": "u-1"},
    "count": 3,
}
SUPPORTED = frozenset({"spec.nodeName", "status.phase", "spec.unschedulable", "source",
                       "involvedObject.kind", "involvedObject.uid", "count", "status.podIP"})


@pytest.mark.parametrize(("text", "expected"), [
    ("", True),
    ("metadata.name=web-1", True),
    ("metadata.name==web-1", True),
    ("metadata.name!=web-1", False),
    ("metadata.name=web-2", False),
    ("metadata.namespace=prod,spec.nodeName=n1", True),
    ("metadata.namespace=prod,spec.nodeName=n2", False),
    ("status.phase!=Failed", True),
    ("status.podIP=", True),
    ("status.podIP!=", False),
    ("spec.unschedulable=true", True),
    ("source=kubelet", True),
    ("involvedObject.kind=Pod,involvedObject.uid=u-1", True),
    ("count=3", True),
])
def test_field_selector_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text, SUPPORTED).matches(POD) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("spec.other=x", "field label not supported: spec.other"),
    ("metadata.name = x", "field label not supported: metadata.name "),
    ("name", "invalid selector: 'name'; can't understand 'name'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
    ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
])
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_field_selector(text, SUPPORTED)
    assert str(exc.value) == message


@pytest.mark.parametrize(("text", "field", "exact", "canonical"), [
    ("metadata.name=a", "metadata.name", "a", "metadata.name=a"),
    ("metadata.name!=a", "metadata.name", None, "metadata.name!=a"),
    ("spec.nodeName=n,metadata.name==x", "metadata.name", "x", "metadata.name=x,spec.nodeName=n"),
    ("metadata.name=a\\,b\\=c\\\\", "metadata.name", "a,b=c\\", "metadata.name=a\\,b\\=c\\\\"),
    ("", "metadata.name", None, ""),
])
def test_field_selector_exact_and_string(text: str, field: str, exact: str | None, canonical: str) -> None:
    sel = parse_field_selector(text, SUPPORTED)
    assert sel.exact(field) == exact
    assert str(sel) == canonical
    assert isinstance(sel, FieldSelector)
    assert sel.empty is (text == "")


@given(st.text(max_size=20))
def test_field_value_escape_round_trips(value: str) -> None:
    assert unescape_field_value(escape_field_value(value)) == value
    sel = parse_field_selector("metadata.name=" + escape_field_value(value), frozenset())
    assert sel.exact("metadata.name") == value
    assert parse_field_selector(str(sel), frozenset()) == sel
    assert sel.matches({"metadata": {"name": value}})


def test_label_selector_is_cheap() -> None:
    sel = parse_label_selector("app in (a1,a2),tier=web,!gone")
    assert isinstance(sel, LabelSelector)
    labels = [{"app": f"a{i % 10}", "tier": "web"} for i in range(10000)]
    assert sum(sel.matches(lab) for lab in labels) == 2000
