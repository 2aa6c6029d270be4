"""The CEL engine (standard CEL + Kubernetes' libraries), variable inlining and policy matching."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.apiserver.admission_policy import _Match, _resource_matches
from kubenode.apiserver.cel_engine import (
    CRD_RULE_VARIABLES,
    POLICY_VARIABLES,
    CELCompileError,
    CELEvalError,
    activation,
    compile_expression,
)
from kubenode.apiserver.cel_inline import inline_variables

OBJ = {"metadata": {"name": "n1", "labels": {"a": "1", "node-role.kubernetes.io/x": ""}},
       "spec": {"list": [3, 1, 2], "s": "Hello/World"}}


def run(expr: str, **values: Any) -> Any:
    values.setdefault("object", OBJ)
    return compile_expression(expr, POLICY_VARIABLES).evaluate(activation(POLICY_VARIABLES, values))


@pytest.mark.parametrize(("expr", "expected"), [
    # core
    ("object.metadata.name == 'n1'", True),
    ("has(object.spec.s) && !has(object.spec.missing)", True),
    ("size(object.metadata.labels)", 2),
    ("'a' in object.metadata.labels", True),
    ("object.metadata.labels.all(k, !k.startsWith('node-role.kubernetes.io/'))", False),
    ("object.metadata.labels.exists(k, k.endsWith('/x'))", True),
    ("object.metadata.labels.exists_one(k, k == 'a')", True),
    ("object.spec.list.map(x, x * 2)", [6, 2, 4]),
    ("object.spec.list.filter(x, x > 1)", [3, 2]),
    ("object.metadata.labels.filter(k, k == 'a')", ["a"]),
    ("object.spec.s.matches('^H.*d$')", True),
    ("oldObject == null", True),
    ("int('5') + 1", 6),
    ("string(1) + 'x'", "1x"),
    ("dyn(1) == 1.0", True),
    ("duration('1m') > duration('59s')", True),
    ("false && (1 / 0 == 1)", False),
    ("true || object.missing", True),
    ("[1, 2] + [3]", [1, 2, 3]),
    ("{'a': 1} == {'a': 1}", True),
    ("object.spec.list[0]", 3),
    # strings extension
    ("object.spec.s.lowerAscii()", "hello/world"),
    ("object.spec.s.upperAscii()", "HELLO/WORLD"),
    ("object.spec.s.split('/')", ["Hello", "World"]),
    ("['a', 'b'].join('-')", "a-b"),
    ("object.spec.s.substring(6)", "World"),
    ("object.spec.s.indexOf('/')", 5),
    ("object.spec.s.replace('o', '0')", "Hell0/W0rld"),
    ("'  x '.trim()", "x"),
    ("object.spec.s.charAt(0)", "H"),
    ("'%s-%d'.format(['a', 1])", "a-1"),
    # optional types
    ("object.?spec.?missing.orValue('d')", "d"),
    ("object.metadata.labels[?'a'].orValue('')", "1"),
    ("object.?spec.?s.hasValue()", True),
    # cel.bind
    ("cel.bind(l, object.spec.list, l.size() + l[0])", 6),
    # Kubernetes' lists and regex libraries
    ("object.spec.list.isSorted()", False),
    ("[1, 2, 2].isSorted()", True),
    ("object.spec.list.sum()", 6),
    ("object.spec.list.min()", 1),
    ("object.spec.list.max()", 3),
    ("'abc 123 de 45'.find('[0-9]+')", "123"),
    ("'abc 123 de 45'.findAll('[0-9]+')", ["123", "45"]),
    ("'abc 123 de 45'.findAll('[0-9]+', 1)", ["123"]),
])
def test_expressions(expr: str, expected: Any) -> None:
    assert run(expr, oldObject=None) == expected


@pytest.mark.parametrize(("expr", "fragment"), [
    ("object.metadata.labels.b == 'x'", "b"),        # no such key
    ("1 / 0 == 1", "divide by zero"),
    ("oldObject.metadata", ""),                    # select on null
    ("[].min()", "empty"),
    ("object.?spec", "optional"),                  # an optional is not a result
])
def test_runtime_errors(expr: str, fragment: str) -> None:
    with pytest.raises(CELEvalError) as exc:
        run(expr, oldObject=None)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("expr", ["object.metadata.name ==", "foo(1)", "url('x')", "authorizer.group('x')",
                                  "[1].indexOf(1)", "sets.contains([1], [1])", "self == 1", "", "  "])
def test_compile_errors(expr: str) -> None:
    with pytest.raises(CELCompileError):
        compile_expression(expr, POLICY_VARIABLES)


def test_crd_environment_has_self_and_old_self_only() -> None:
    p = compile_expression("self.a == oldSelf.a", CRD_RULE_VARIABLES)
    assert p.evaluate_bool(activation(CRD_RULE_VARIABLES, {"self": {"a": 1}, "oldSelf": {"a": 1}}))
    with pytest.raises(CELCompileError):
        compile_expression("object.a == 1", CRD_RULE_VARIABLES)


def test_programs_are_cached() -> None:
    assert compile_expression("1 == 1") is compile_expression("1 == 1")


def test_bool_results_are_required() -> None:
    with pytest.raises(CELEvalError, match="expected a bool"):
        compile_expression("1").evaluate_bool(activation(POLICY_VARIABLES, {}))


_LABEL = st.text(st.sampled_from("ab./-_x9"), min_size=1, max_size=8)  # label keys and values never hold NUL


@given(st.dictionaries(_LABEL, _LABEL, max_size=6), st.dictionaries(_LABEL, _LABEL, max_size=6))
def test_changed_label_keys_agree_with_python(new: dict[str, str], old: dict[str, str]) -> None:
    expr = ("object.metadata.labels.filter(k, !(k in oldObject.metadata.labels) || "
            "oldObject.metadata.labels[k] != object.metadata.labels[k]) + "
            "oldObject.metadata.labels.filter(k, !(k in object.metadata.labels))")
    got = run(expr, object={"metadata": {"labels": new}}, oldObject={"metadata": {"labels": old}})
    want = [k for k in new if k not in old or old[k] != new[k]] + [k for k in old if k not in new]
    assert sorted(got) == sorted(want)


#: Strings a request can carry: JSON refuses lone surrogates and YAML's are replaced at decoding
#: (`wire.valid_unicode`, tested in test_wire_yaml); the engine's answer to one is tested below.
_TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))


@given(st.text(_TEXT, max_size=20), st.text(_TEXT, max_size=5))
def test_string_functions_agree_with_python(s: str, sep: str) -> None:
    values = {"object": {"s": s, "sep": sep}}
    assert run("object.s.startsWith(object.sep)", **values) == s.startswith(sep)
    assert run("object.s.contains(object.sep)", **values) == (sep in s)
    assert run("object.s.lowerAscii()", **values) == "".join(c.lower() if c.isascii() else c for c in s)
    if sep:
        assert run("object.s.split(object.sep)", **values) == s.split(sep)


@pytest.mark.parametrize("value", [chr(0xD800), "a" + chr(0xDC00) + "b", chr(0xD83D) + "x"])
def test_a_string_no_utf8_can_hold_is_an_evaluation_error_not_a_crash(value: str) -> None:
    with pytest.raises(CELEvalError, match="cannot be evaluated on this input"):
        run("object.s.contains(object.sep)", object={"s": "abc", "sep": value})


# --------------------------------------------------------------------------- inlining


@pytest.mark.parametrize(("expr", "out"), [
    ("variables.a + 1", "(x.b) + 1"),
    ("variables.a == 'variables.a'", "(x.b) == 'variables.a'"),
    ("myvariables.a", "myvariables.a"),
    ("variables.unknown", "variables.unknown"),
    ('"it\'s variables.a" + variables.a', '"it\'s variables.a" + (x.b)'),
    ("r'\\' + variables.a", "r'\\' + (x.b)"),
    ("'''variables.a''' + variables.a", "'''variables.a''' + (x.b)"),
])
def test_inline(expr: str, out: str) -> None:
    assert inline_variables(expr, {"a": "x.b"}) == out


def test_inline_under_has_is_not_possible() -> None:
    assert inline_variables("has(variables.a)", {"a": "x"}) is None


@given(st.integers(-100, 100), st.integers(-100, 100))
def test_inlined_equals_evaluated(a: int, b: int) -> None:
    sources = {"x": "object.a * 2", "y": inline_variables("variables.x + object.b", {"x": "object.a * 2"}) or ""}
    got = run(inline_variables("variables.y > variables.x", sources) or "", object={"a": a, "b": b})
    assert got == (a * 2 + b > a * 2)


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(("pattern", "resource", "sub", "hit"), [
    ("nodes", "nodes", "", True), ("nodes", "nodes", "status", False), ("nodes/status", "nodes", "status", True),
    ("nodes/*", "nodes", "status", True), ("nodes/*", "nodes", "", False), ("*", "pods", "", True),
    ("*", "pods", "status", False), ("*/*", "pods", "status", True), ("*/*", "pods", "", True),
    ("*/scale", "machinesets", "scale", True), ("*/scale", "machinesets", "status", False),
    ("pods", "nodes", "", False),
])
def test_resource_patterns(pattern: str, resource: str, sub: str, hit: bool) -> None:
    assert _resource_matches(pattern, resource, sub) == hit


@pytest.mark.parametrize(("rule", "op", "namespaced", "name", "hit"), [
    ({"operations": ["CREATE"]}, "CREATE", True, "a", True),
    ({"operations": ["CREATE"]}, "UPDATE", True, "a", False),
    ({"operations": ["*"]}, "DELETE", True, "a", True),
    ({"operations": ["*"], "scope": "Cluster"}, "CREATE", True, "a", False),
    ({"operations": ["*"], "scope": "Namespaced"}, "CREATE", True, "a", True),
    ({"operations": ["*"], "resourceNames": ["b"]}, "CREATE", True, "a", False),
    ({"operations": ["*"], "resourceNames": ["a"]}, "CREATE", True, "a", True),
])
def test_rules(rule: dict[str, Any], op: str, namespaced: bool, name: str, hit: bool) -> None:
    m = _Match.of({"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"],
                                      **rule}]})
    assert m is not None
    assert m.rules[0].matches(op, "", "v1", "configmaps", "", name, namespaced) == hit


@pytest.mark.parametrize(("exprs", "fields"), [
    (["object.metadata.name == 'x'", "oldObject.?spec.?x.orValue(1) == 1"], {"metadata", "spec"}),
    (["object == null || object.metadata.name == 'status'"], {"metadata"}),  # a string names no field
    (["has(object.status) && object.status.phase == 'x'"], {"status"}),
    (["request.subResource == 'status'"], set()),
    (["object == oldObject"], None),
    (["[object].all(o, o.spec == 1)"], None),
    (["object.all(k, k != 'status')"], None),
    (["object['status'] == 1"], None),
    (["cel.bind(o, object, o.status)"], None),
    (["size(object) > 1"], None),
])
def test_fields_a_policy_can_read(exprs: list[str], fields: set[str] | None) -> None:
    from kubenode.apiserver.admission_policy import _fields_read

    got = _fields_read(exprs)
    assert (None if got is None else set(got)) == fields


@pytest.mark.parametrize(("exprs", "fields"), [
    (["object.metadata.name == 'x'", "has(oldObject.metadata.labels) && oldObject.?metadata.?uid == 'u'"],
     {"name", "labels", "uid"}),
    (["object.spec.x == 1", "request.name == 'metadata'"], set()),  # no use of metadata at all
    (["object.metadata == oldObject.metadata"], None),  # whole maps compared
    (["has(object.metadata)"], None),
    (["object.metadata.all(k, k != 'managedFields')"], None),  # iterated
    (["object.metadata['managedFields'] == []"], None),  # indexed
    (["cel.bind(m, object.metadata, m.managedFields)"], None),  # bound to a name
    (["size(oldObject.metadata) > 1"], None),
])
def test_metadata_fields_a_policy_can_read(exprs: list[str], fields: set[str] | None) -> None:
    from kubenode.apiserver.admission_policy import _metadata_fields_read

    got = _metadata_fields_read(exprs)
    assert (None if got is None else set(got)) == fields


def test_projection_leaves_out_managed_fields_only_when_unread() -> None:
    from kubenode.apiserver.admission_policy import _project

    obj = {"metadata": {"name": "a", "managedFields": [{"manager": "m"}]}, "spec": {"x": 1}, "status": {"y": 2}}
    assert _project(obj, frozenset({"metadata", "spec"}), frozenset({"name"})) == {
        "metadata": {"name": "a"}, "spec": {"x": 1}}
    assert _project(obj, frozenset({"metadata"}), None) == {"metadata": obj["metadata"]}
    assert _project(obj, None, frozenset({"name"})) is obj  # whole objects: nothing is projected
    assert obj["metadata"]["managedFields"] == [{"manager": "m"}]  # the stored object is left as it was
