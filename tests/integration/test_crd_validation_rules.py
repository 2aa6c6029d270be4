"""CRD x-kubernetes-validations (CEL) evaluated at their schema node, errors as kube's (422 + field path)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .kube import Kube

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
G = "/apis/example.com/v1/gizmos"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "has(self.url) != has(self.package)", "message": "exactly one of url or package"},
                {"rule": "!has(self.url) || has(self.sha256)", "message": "url needs sha256",
                 "fieldPath": ".sha256", "reason": "FieldValueRequired"},
                {"rule": "self.owner == oldSelf.owner", "message": "owner is immutable"},
            ],
            "properties": {
                "url": {"type": "string"},
                "sha256": {"type": "string"},
                "package": {"type": "string"},
                "owner": {"type": "string"},
                "replicas": {"type": "integer", "x-kubernetes-validations": [
                    {"rule": "self >= oldSelf", "messageExpression": "'may not shrink from ' + string(oldSelf)"},
                ]},
                "env": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string", "x-kubernetes-validations": [
                                {"rule": "!(self in ['LD_PRELOAD', 'BASH_ENV'])",
                                 "message": "changes how programs load", "reason": "FieldValueForbidden"}]},
                            "value": {"type": "string", "x-kubernetes-validations": [
                                {"rule": "self == oldSelf", "message": "value is immutable"}]},
                        }}},
            },
        },
    },
}


def crd(schema: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gizmos.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                     "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def gizmo(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
async def gizmos(kube: Kube) -> Kube:
    r = await kube.post(CRDS, crd(SCHEMA))
    assert r.status == 201, r
    return kube


def causes(r: Any) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in r.json["details"]["causes"]]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"owner": "a"}, [("spec", 'Invalid value: "object": exactly one of url or package')]),
    ({"owner": "a", "url": "u", "package": "p", "sha256": "x"},
     [("spec", 'Invalid value: "object": exactly one of url or package')]),
    ({"owner": "a", "url": "u"}, [("spec.sha256", "Required value: url needs sha256")]),
    ({"owner": "a", "package": "p", "env": [{"name": "OK"}, {"name": "LD_PRELOAD", "value": "x"}]},
     [("spec.env[1].name", "Forbidden: changes how programs load")]),
])
async def test_rules_on_create(gizmos: Kube, spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    r = await gizmos.post(G, gizmo("g", **spec))
    assert r.status == 422, r
    assert causes(r) == expected
    assert r.json["message"].startswith('Gizmo.example.com "g" is invalid: ')


async def test_transition_rules_only_on_update(gizmos: Kube) -> None:
    r = await gizmos.post(G, gizmo("g", owner="a", package="p", replicas=3, env=[{"name": "A", "value": "1"}]))
    assert r.status == 201, r  # oldSelf rules do not run on create
    r = await gizmos.patch(f"{G}/g", {"spec": {"owner": "b"}})
    assert r.status == 422 and causes(r) == [("spec", 'Invalid value: "object": owner is immutable')], r
    r = await gizmos.patch(f"{G}/g", {"spec": {"replicas": 2}})
    assert r.status == 422 and causes(r) == [("spec.replicas", 'Invalid value: "integer": may not shrink from 3')]
    r = await gizmos.patch(f"{G}/g", {"spec": {"env": [{"name": "A", "value": "2"}]}})
    assert r.status == 422 and causes(r) == [("spec.env[0].value", 'Invalid value: "string": value is immutable')]
    # a new list-map item has no old value to compare with
    r = await gizmos.patch(f"{G}/g", {"spec": {"replicas": 4, "env": [{"name": "A", "value": "1"},
                                                                     {"name": "B", "value": "x"}]}})
    assert r.status == 200, r


async def test_crd_with_a_rule_that_does_not_compile_is_rejected(kube: Kube) -> None:
    bad = copy.deepcopy(SCHEMA)
    bad["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.url.startsWith("}]
    r = await kube.post(CRDS, crd(bad))
    assert r.status == 422, r
    (field, message), = causes(r)
    assert field == "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    assert "compilation failed" in message
