"""Restarting `kubenode apiserver` (SIGTERM, same data dir and port) loses nothing; kubectl keeps working."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from ..integration.crds import WIDGET_CRD, widget
from .conftest import Cluster, LineReader, wait_until

pytestmark = pytest.mark.e2e


def test_restart_loses_nothing(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(WIDGET_CRD))
    wait_until(lambda: c.jsonpath("crd", "widgets.example.com",
                                  path='{.status.conditions[?(@.type=="Established")].status}') == "True",
               10, "CRD Established")
    c.kubectl("create", "namespace", "keep")
    c.kubectl("create", "configmap", "cfg", "-n", "keep", "--from-literal=k=v")
    c.kubectl("create", "secret", "generic", "sec", "-n", "keep", "--from-literal=password=pw")
    apply_w = widget("persisted", "large", replicas=3)
    apply_w["metadata"].update(namespace="keep", labels={"app": "demo"})
    c.apply_docs(apply_w)
    c.kubectl("patch", "widget", "persisted", "-n", "keep", "--type=merge", "-p", '{"spec":{"replicas":4}}')
    c.kubectl("patch", "widget", "persisted", "-n", "keep", "--subresource=status", "--type=merge",
              "-p", '{"status":{"phase":"Running","observedGeneration":2}}')
    ssa = widget("ssa-owned", replicas=2)
    ssa["metadata"]["namespace"] = "keep"
    c.apply_docs(ssa, extra=("--server-side",))
    held = widget("held")
    held["metadata"].update(namespace="keep", finalizers=["example.com/hold"])
    c.apply_docs(held)
    c.kubectl("delete", "widget", "held", "-n", "keep", "--wait=false")
    c.kubectl("create", "-f", "-", stdin=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n-keep", "labels": {"zone": "a"}}}))
    c.kubectl("taint", "node", "n-keep", "k=v:NoExecute")

    def snapshot() -> dict[str, object]:
        out: dict[str, object] = {}
        for args in (("widgets", "-n", "keep"), ("configmaps", "-n", "keep"), ("secrets", "-n", "keep"),
                     ("nodes",), ("namespaces",), ("crd",)):
            items = json.loads(c.kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)["items"]
            out[args[0]] = {i["metadata"]["name"]: i for i in items}
        return out

    before = snapshot()
    rv_before = int(json.loads(c.kubectl("get", "--raw", "/api/v1/namespaces/keep/configmaps").stdout)
                    ["metadata"]["resourceVersion"])
    table_before = c.kubectl("get", "widgets", "-n", "keep").table()
    saved_kubeconfig = c.root / "kubeconfig.saved"
    shutil.copy(c.kubeconfig, saved_kubeconfig)
    port = c.port

    # An open watch must not hold the shutdown up; it ends with the server.
    watch = LineReader(c.popen("get", "widgets", "-n", "keep", "-w"))
    try:
        watch.wait_for(lambda line: line.startswith("persisted "))
        # A watch that held the shutdown up would end in SIGKILL at `stop`'s deadline, not in exit code 0.
        assert c.stop() == 0, f"SIGTERM must stop the server cleanly with a watch open:\n{c.log_tail()}"
        watch.proc.wait(15)
    finally:
        watch.stop()
    r = c._run(["get", "--raw", "/readyz"], timeout=10, kubeconfig=saved_kubeconfig)
    assert r.returncode != 0 and "was refused" in r.stderr, r
    c.start()
    assert c.port == port
    assert c.kubeconfig.read_text() == saved_kubeconfig.read_text(), "the kubeconfig must stay valid"

    # The same kubeconfig (and kubectl's discovery cache) keep working.
    r = c.kubectl("get", "widgets", "-n", "keep", kubeconfig=saved_kubeconfig)
    assert r.table()[0] == ["NAME", "REPLICAS", "PHASE", "AGE"]
    assert [cells[:-1] for cells in r.table()[1:]] == [cells[:-1] for cells in table_before[1:]]
    assert ["persisted", "4", "Running"] in [cells[:3] for cells in r.table()]

    after = snapshot()
    for kind, objs in before.items():
        assert isinstance(objs, dict)
        got = after[kind]
        assert isinstance(got, dict)
        assert sorted(got) == sorted(objs), kind
        for name, obj in objs.items():
            assert got[name] == obj, f"{kind}/{name} changed across the restart"

    widgets = after["widgets"]
    assert isinstance(widgets, dict)
    assert widgets["persisted"]["metadata"]["generation"] == 2
    assert widgets["persisted"]["status"] == {"phase": "Running", "observedGeneration": 2}
    assert widgets["held"]["metadata"]["deletionTimestamp"]
    assert {m["manager"] for m in widgets["ssa-owned"]["metadata"]["managedFields"]} == {"kubectl"}

    # Writes continue with a higher resourceVersion; the pending deletion completes.
    cm = json.loads(c.kubectl("create", "configmap", "after", "-n", "keep", "--from-literal=x=y",
                              "-o", "json").stdout)
    assert int(cm["metadata"]["resourceVersion"]) > rv_before
    r = c.kubectl("patch", "widget", "held", "-n", "keep", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert r.stdout.strip() == "widget.example.com/held patched"
    assert "held" not in c.jsonpath("widgets", "-n", "keep", path="{.items[*].metadata.name}").split()
    # Field ownership survived too: another manager still conflicts on spec.replicas.
    r = c._run(["apply", "--server-side", "--field-manager=other", "-f", "-"],
               stdin=yaml.safe_dump({**ssa, "spec": {"size": "small", "replicas": 5}}), kubeconfig=saved_kubeconfig)
    assert r.returncode != 0 and 'conflict with "kubectl": .spec.replicas' in r.stderr, r
    node = json.loads(c.kubectl("get", "node", "n-keep", "-o", "json").stdout)
    assert node["spec"]["taints"] == [{"key": "k", "value": "v", "effect": "NoExecute"}]
