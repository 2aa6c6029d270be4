"""deploy/: the generated manifests never drift from their Python source, and the hand-written ones say
what the product needs (the entrypoints and flags, least privilege, probes on the ports the operator serves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.api.crds import all_crds
from kubenode.api.manifests import generated_files
from kubenode.api.policies import all_policies
from kubenode.api.rbac import OPERATOR, SYSTEM_NAMESPACE, all_objects

BASE = Path(__file__).resolve().parents[2] / "deploy" / "base"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]


def _kind(name: str, kind: str) -> dict[str, Any]:
    return next(d for d in _docs(name) if d["kind"] == kind)


@pytest.mark.parametrize("name", sorted(generated_files()))
def test_generated_manifest_matches_its_generator(name: str) -> None:
    on_disk = (BASE / name).read_text()
    assert on_disk == generated_files()[name], (
        f"deploy/base/{name} is out of date: run `python -m kubenode.api.manifests deploy/base`")


def test_generated_manifests_hold_the_objects_the_commands_print() -> None:
    assert _docs("crds.yaml") == all_crds()
    assert _docs("policies.yaml") == all_policies()
    rbac = _docs("rbac.yaml")
    assert rbac[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": rbac[0]["metadata"]}
    assert rbac[0]["metadata"]["name"] == SYSTEM_NAMESPACE
    assert rbac[1:] == all_objects()


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in BASE.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")


def test_operator_deployment() -> None:
    deployment = _kind("operator.yaml", "Deployment")
    assert deployment["metadata"]["namespace"] == SYSTEM_NAMESPACE and deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == OPERATOR and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"][0] == "operator" and "--health-address=0.0.0.0" in container["args"]
    port = next(a for a in container["args"] if a.startswith("--health-port=")).split("=")[1]
    assert container["ports"] == [{"name": "metrics", "containerPort": int(port)}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    pdb = _kind("operator.yaml", "PodDisruptionBudget")
    service = _kind("operator.yaml", "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_agent_daemonset() -> None:
    ds = _kind("agent.yaml", "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["serviceAccountName"] == "kubenode-agent"
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    (container,) = pod["containers"]
    # exactly the DaemonSet mode of the issue: kubenode agent --node-name $(NODE_NAME) --host-root /host
    assert container["args"] == ["agent", "--node-name", "$(NODE_NAME)", "--host-root", "/host"]
    assert container["env"] == [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    sc = container["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and set(sc["capabilities"]["add"]) == {"SYS_CHROOT", "SYSLOG"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["host-root"] == "/host"
    host_paths = [v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v]
    assert host_paths == ["/"]
