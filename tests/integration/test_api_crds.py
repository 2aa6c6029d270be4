"""The KubeNode CRDs on the real embedded API server: registered, served, defaulted, and rejecting bad input.

Everything goes over HTTP exactly as kubectl or an operator would send it.
"""

from __future__ import annotations

import copy
from typing import Any

from kubenode import api

from ..api_examples import GOOD, SHA, TEMPLATE, manifest
from .kube import Kube

Obj = dict[str, Any]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _url(kind: str, name: str = "", sub: str = "") -> str:
    group, version, plural = api.RESOURCES[kind]
    return f"/apis/{group}/{version}/{plural}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


async def _install(kube: Kube) -> None:
    for crd in api.all_crds():
        r = await kube.post(CRDS, crd)
        assert r.status == 201, r


def _fields(r: Any) -> set[str]:
    return {c["field"] for c in r.json["details"]["causes"]}


async def test_crds_register_and_every_kind_accepts_a_valid_object(kube: Kube) -> None:
    await _install(kube)
    r = await kube.get(f"/apis/{api.GROUP}/{api.VERSION}")
    assert r.status == 200
    served = {res["name"]: res for res in r.json["resources"]}
    for k in api.KINDS:
        assert served[k.plural]["namespaced"] is False
        assert served[k.plural]["shortNames"] == [k.short_name]
        assert f"{k.plural}/status" in served
    assert "machinesets/scale" in served

    for kind, obj in GOOD:
        body = copy.deepcopy(obj)
        body.pop("status", None)
        r = await kube.post(_url(kind), body)
        assert r.status == 201, (kind, r)
        assert r.json["metadata"]["generation"] == 1


async def test_defaults_applied_by_the_server(kube: Kube) -> None:
    await _install(kube)
    r = await kube.post(_url("MachineComponentSet"), manifest("MachineComponentSet", "kubelet", {
        "component": "kubelet", "selector": {}, "template": {
            "version": "1.30.0", "source": {"url": "file:///srv/kubelet.tgz", "sha256": SHA}}}))
    assert r.status == 201, r
    spec = r.json["spec"]
    assert spec["paused"] is False
    assert spec["template"]["disruption"] == "None"
    assert spec["updateStrategy"]["rollingUpdate"]["maxFailures"] == 0


async def test_bad_machine_spec_is_422_with_field_paths(kube: Kube) -> None:
    await _install(kube)
    r = await kube.post(_url("Machine"), manifest("Machine", "bad", {
        "providerRef": {}, "nodeTaints": [{"key": "a", "effect": "Sometimes"}], "unschedulable": "yes"}))
    assert r.status == 422, r
    assert r.json["reason"] == "Invalid"
    assert {"spec.providerRef.name", "spec.nodeTaints[0].effect", "spec.unschedulable"} <= _fields(r)


async def test_bad_component_template_is_422_with_field_paths(kube: Kube) -> None:
    await _install(kube)
    template = copy.deepcopy(TEMPLATE)
    del template["source"]["sha256"]
    template["run"]["command"][0] = "/bin/sh"
    template["files"][0]["path"] = "../../etc/passwd"
    r = await kube.post(_url("MachineComponentSet"), manifest("MachineComponentSet", "evil", {
        "component": "x", "selector": {}, "template": template}))
    assert r.status == 422, r
    assert {"spec.template.source.sha256", "spec.template.run.command[0]",
            "spec.template.files[0].path"} <= _fields(r)
    assert (await kube.get(_url("MachineComponentSet", "evil"))).status == 404


async def test_status_subresource_validates_status(kube: Kube) -> None:
    await _install(kube)
    r = await kube.post(_url("Machine"), manifest("Machine", "m", {"providerRef": {"name": "local"}}))
    assert r.status == 201, r
    bad = await kube.patch(_url("Machine", "m", "status"), {"status": {"phase": "Happy"}})
    assert bad.status == 422 and "status.phase" in _fields(bad)
    ok = await kube.patch(_url("Machine", "m", "status"), {"status": {
        "phase": "Running", "nodeRef": {"name": "m"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    assert ok.status == 200, ok
    table = await kube.get(_url("Machine"), headers={"Accept": TABLE})
    assert [c["name"] for c in table.json["columnDefinitions"]][:5] == ["Name", "Phase", "Node", "Provider", "Agent"]
    assert table.json["rows"][0]["cells"][:4] == ["m", "Running", "m", "local"]


async def test_machineset_scale_subresource(kube: Kube) -> None:
    await _install(kube)
    ms = manifest("MachineSet", "pool", {
        "replicas": 2, "selector": {"matchLabels": {"pool": "a"}},
        "template": {"metadata": {"labels": {"pool": "a"}}, "spec": {"providerRef": {"name": "local"}}}})
    assert (await kube.post(_url("MachineSet"), ms)).status == 201
    r = await kube.patch(_url("MachineSet", "pool", "scale"), {"spec": {"replicas": 5}})
    assert r.status == 200, r
    assert r.json["spec"]["replicas"] == 5
    assert (await kube.get(_url("MachineSet", "pool"))).json["spec"]["replicas"] == 5
    r = await kube.patch(_url("MachineSet", "pool", "scale"), {"spec": {"replicas": -1}})
    assert r.status == 422, r
