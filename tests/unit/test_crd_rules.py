"""The CEL rules (x-kubernetes-validations) of KubeNode's own CRDs, evaluated as the server evaluates them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.api import kind_spec
from kubenode.api.loader_env import LOADER_ENV_NAMES, is_loader_env
from kubenode.apiserver.crd_validation import compile_errors, rule_causes

from ..api_examples import GOOD, TEMPLATE

Obj = dict[str, Any]


def example(kind: str, index: int = 0) -> Obj:
    return copy.deepcopy([o for k, o in GOOD if k == kind][index])


def causes(kind: str, obj: Obj, old: Obj | None = None) -> list[tuple[str, str]]:
    return [(c["field"], c["type"]) for c in rule_causes(kind_spec(kind).schema, obj, old)]


def test_every_rule_of_every_kind_compiles() -> None:
    from kubenode.api.kinds import KINDS

    for spec in KINDS:
        assert compile_errors(spec.schema, "openAPIV3Schema") == [], spec.kind


@pytest.mark.parametrize("kind", ["Machine", "MachineComponentSet", "MachineComponent", "RemedyOperationJob"])
def test_good_examples_pass(kind: str) -> None:
    for o in [o for k, o in GOOD if k == kind]:
        assert causes(kind, o) == []
        assert causes(kind, o, copy.deepcopy(o)) == []


def mcs_with(**template: Any) -> Obj:
    o = example("MachineComponentSet")
    o["spec"]["template"] = {**copy.deepcopy(TEMPLATE), **template}
    return o


@pytest.mark.parametrize(("name", "obj", "expected"), [
    ("LD_PRELOAD", mcs_with(run={"command": ["bin/x"], "env": [{"name": "LD_PRELOAD", "value": "/x.so"}]}),
     [("spec.template.run.env[0].name", "FieldValueForbidden")]),
    ("any LD_ variable", mcs_with(run={"command": ["bin/x"], "env": [{"name": "OK"}, {"name": "LD_AUDIT"}]}),
     [("spec.template.run.env[1].name", "FieldValueForbidden")]),
    ("BASH_ENV", mcs_with(run={"command": ["bin/x"], "env": [{"name": "BASH_ENV"}]}),
     [("spec.template.run.env[0].name", "FieldValueForbidden")]),
    ("a plain variable", mcs_with(run={"command": ["bin/x"], "env": [{"name": "LOG_LEVEL", "value": "debug"}]}),
     []),
    ("./ path", mcs_with(files=[{"path": "./bin/x", "content": ""}]),
     [("spec.template.files[0].path", "FieldValueInvalid")]),
    ("/./ path", mcs_with(files=[{"path": "bin/./x", "content": ""}]),
     [("spec.template.files[0].path", "FieldValueInvalid")]),
    ("world-writable", mcs_with(files=[{"path": "etc/x", "content": "", "mode": 0o666}]),
     [("spec.template.files[0].mode", "FieldValueForbidden")]),
    ("0755 is fine", mcs_with(files=[{"path": "etc/x", "content": "", "mode": 0o755}]), []),
])
def test_component_template_rules(name: str, obj: Obj, expected: list[tuple[str, str]]) -> None:
    assert causes("MachineComponentSet", obj) == expected, name


def test_machine_provider_and_import_are_exclusive() -> None:
    m = example("Machine", 1)
    m["spec"]["providerRef"] = {"name": "local"}
    assert causes("Machine", m) == [("spec", "FieldValueInvalid")]


@pytest.mark.parametrize(("field", "value"), [("machineName", "m2"), ("nodeName", "other")])
def test_machine_component_target_is_immutable(field: str, value: str) -> None:
    old = example("MachineComponent")
    old["spec"]["nodeName"] = "m1"
    new = copy.deepcopy(old)
    new["spec"][field] = value
    assert causes("MachineComponent", new, old) == [("spec", "FieldValueInvalid")]
    # set once on objects created before nodeName existed
    legacy = copy.deepcopy(old)
    del legacy["spec"]["nodeName"]
    assert causes("MachineComponent", old, legacy) == []


@pytest.mark.parametrize(("field", "value"), [("nodeName", "n2"), ("machineName", "m2")])
def test_remedy_job_target_is_immutable(field: str, value: str) -> None:
    old = example("RemedyOperationJob")
    old["spec"].setdefault("machineName", "m1")
    new = copy.deepcopy(old)
    new["spec"][field] = value
    assert causes("RemedyOperationJob", new, old) == [("spec", "FieldValueInvalid")]


@given(st.from_regex(r"^[-._a-zA-Z][-._a-zA-Z0-9]{0,20}$", fullmatch=True))
def test_env_rule_agrees_with_the_agents_check(name: str) -> None:
    obj = mcs_with(run={"command": ["bin/x"], "env": [{"name": name}]})
    assert bool(causes("MachineComponentSet", obj)) == is_loader_env(name)


@given(st.sampled_from(LOADER_ENV_NAMES))
def test_every_listed_name_is_rejected(name: str) -> None:
    assert causes("MachineComponentSet", mcs_with(run={"command": ["bin/x"], "env": [{"name": name}]}))


@given(st.lists(st.sampled_from(["bin", "x", ".", "", "..a", ".cfg"]), min_size=1, max_size=5))
def test_path_rule_is_normal_form(segments: list[str]) -> None:
    path = "/".join(segments)
    obj = mcs_with(files=[{"path": path, "content": ""}])
    normal = all(s not in (".", "") for s in segments)
    assert (("spec.template.files[0].path", "FieldValueInvalid") in causes("MachineComponentSet", obj)) != normal
