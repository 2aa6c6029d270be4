"""The node-isolation ValidatingAdmissionPolicy: one node's credentials never reach another node.

Plain `admissionregistration.k8s.io/v1` objects: the embedded server evaluates them, `kubenode up` applies
them through the API at start, and `kubenode policies` prints them for `kubectl apply` on a real cluster
(>= 1.30; the CEL below uses only what kube-apiserver 1.30 offers: no optional types, no `authorizer`).

Who is an agent, and for which node (DESIGN.md, "Trust model"):

* on hosts, an X.509 client certificate: user `kubenode:agent:<node>` in group `kubenode:agents`;
* in a DaemonSet, the ServiceAccount `kubenode-system/kubenode-agent` whose bound token carries the
  extra `authentication.kubernetes.io/node-name: [<node>]`.

The policy judges the object before (`oldObject`) and after (`object`) every write, so a write can
neither reach another node's object nor move its own object to another node. An agent writes only:

* its own Node: registration and status; labels only the keys an agent owns (the kubelet's well-known
  labels as NodeRestriction allows them, `kubenode.io/gpu*`, and `kubenode.io/machine` when it registers);
  never `node-role.kubernetes.io/*` or `node-restriction.kubernetes.io/*`;
* its own Lease `kube-node-lease/<node>`;
* the status of its own Machine (the Machine whose `spec.nodeName`, or name, is the node);
* MachineComponents and RemedyOperationJobs whose `spec.nodeName` is the node (a MachineComponent
  without `spec.nodeName`: its `spec.machineName`), without creating or deleting them and without
  changing their spec, labels or owner references; of a MachineComponent's finalizers only
  `kubenode.io/machinecomponent` (the agent's own) may be added or removed.

Authorization (RBAC, `api/rbac.py`) decides which verbs an agent has at all; this policy decides
which objects, by content.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from . import constants as c

__all__ = ["NODE_ISOLATION_BINDING", "NODE_ISOLATION_POLICY", "all_policies", "policies_yaml"]

Obj = dict[str, Any]

POLICY_NAME = "kubenode-node-isolation"
AGENT_PREFIX = "kubenode:agent:"
AGENT_GROUP = "kubenode:agents"
AGENT_SERVICE_ACCOUNT = "system:serviceaccount:kubenode-system:kubenode-agent"
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"
COMPONENT_FINALIZER = "kubenode.io/machinecomponent"

#: Node labels an agent may set or change (the kubelet's under NodeRestriction, plus KubeNode's facts).
AGENT_NODE_LABELS = (
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone", "kubenode.io/gpu", "kubenode.io/gpu-vendor",
)
AGENT_NODE_LABEL_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")


def _q(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _lines(*parts: str) -> str:
    return " ".join(p.strip() for p in parts)


_U = "request.userInfo.username"
_EXTRA = f"request.userInfo.extra['{NODE_NAME_EXTRA}']"

_VARIABLES: list[Obj] = [
    {"name": "nodeName", "expression": _lines(
        f"{_U}.startsWith('{AGENT_PREFIX}') ? {_U}.substring({len(AGENT_PREFIX)}) :",
        f"({_U} == '{AGENT_SERVICE_ACCOUNT}' && has(request.userInfo.extra) &&",
        f"'{NODE_NAME_EXTRA}' in request.userInfo.extra && size({_EXTRA}) == 1) ? {_EXTRA}[0] : ''")},
    {"name": "core", "expression": "request.resource.group == ''"},
    {"name": "kubenode", "expression": f"request.resource.group == '{c.GROUP}'"},
    {"name": "res", "expression": "request.resource.resource"},
    {"name": "newLabels", "expression":
        "object == null || !has(object.metadata.labels) ? {} : object.metadata.labels"},
    {"name": "oldLabels", "expression":
        "oldObject == null || !has(oldObject.metadata.labels) ? {} : oldObject.metadata.labels"},
    {"name": "changedLabels", "expression": _lines(
        "variables.newLabels.filter(k, !(k in variables.oldLabels) ||",
        "variables.oldLabels[k] != variables.newLabels[k])",
        "+ variables.oldLabels.filter(k, !(k in variables.newLabels))")},
    {"name": "sameOwnersAndSpec", "expression": _lines(
        "object == null || oldObject == null ||",
        "((has(object.metadata.ownerReferences) ? object.metadata.ownerReferences : []) ==",
        " (has(oldObject.metadata.ownerReferences) ? oldObject.metadata.ownerReferences : []) &&",
        " variables.newLabels == variables.oldLabels &&",
        " (has(object.spec) ? object.spec : {}) == (has(oldObject.spec) ? oldObject.spec : {}))")},
    {"name": "otherFinalizersSame", "expression": _lines(
        "object == null || oldObject == null ||",
        "(has(object.metadata.finalizers) ? object.metadata.finalizers : [])",
        f".filter(f, f != '{COMPONENT_FINALIZER}') ==",
        "(has(oldObject.metadata.finalizers) ? oldObject.metadata.finalizers : [])",
        f".filter(f, f != '{COMPONENT_FINALIZER}')")},
]

_NODE_LABEL_OK = _lines(
    f"k in {_q(AGENT_NODE_LABELS)} ||",
    " || ".join(f"k.startsWith('{p}')" for p in AGENT_NODE_LABEL_PREFIXES),
    "|| (k == 'kubenode.io/machine' && oldObject == null)")


def _both(predicate: str) -> str:
    """`predicate` (about `o`) holds for the object before and after the write, where they exist.

    Written out for `object` and `oldObject` (rather than as a list of both) so that every use of them is a
    field selection: the server then hands the policy only the top-level fields it names.
    """
    def on(name: str) -> str:
        return f"({name} == null || " + re.sub(r"\bo\.", f"{name}.", predicate) + ")"
    return f"({on('object')} && {on('oldObject')})"


def _validation(expression: str, message: str, message_expression: str = "") -> Obj:
    v: Obj = {"expression": expression, "message": message, "reason": "Forbidden"}
    if message_expression:
        v["messageExpression"] = message_expression
    return v


_VALIDATIONS: list[Obj] = [
    _validation("variables.nodeName != ''",
                f"this agent identity names no node: use a client certificate for '{AGENT_PREFIX}<node>' or the "
                f"kubenode-agent ServiceAccount with a token bound to a node"),
    # --- Node
    _validation("!(variables.core && variables.res == 'nodes') || "
                + _both("o.metadata.name == variables.nodeName"),
                "an agent may write only its own Node",
                "'an agent may write only its own Node (' + variables.nodeName + ')'"),
    _validation("!(variables.core && variables.res == 'nodes') || variables.changedLabels.all(k, "
                "!k.startsWith('node-role.kubernetes.io/') && !k.startsWith('node-restriction.kubernetes.io/'))",
                "an agent may not set node-role.kubernetes.io/* or node-restriction.kubernetes.io/* labels",
                "'an agent may not set node-role.kubernetes.io/* or node-restriction.kubernetes.io/* labels: ' + "
                "variables.changedLabels.filter(k, k.startsWith('node-role.kubernetes.io/') || "
                "k.startsWith('node-restriction.kubernetes.io/')).join(', ')"),
    _validation(f"!(variables.core && variables.res == 'nodes') || variables.changedLabels.all(k, {_NODE_LABEL_OK})",
                "an agent may change only the Node labels it owns",
                "'an agent may change only the Node labels it owns, not: ' + "
                f"variables.changedLabels.filter(k, !({_NODE_LABEL_OK})).join(', ')"),
    # --- Lease
    _validation("!(request.resource.group == 'coordination.k8s.io' && variables.res == 'leases') || "
                "(request.namespace == 'kube-node-lease' && " + _both("o.metadata.name == variables.nodeName") + ")",
                "an agent may write only its own Lease (kube-node-lease/<its node>)"),
    # --- Machine
    _validation("!(variables.kubenode && variables.res == 'machines') || (request.subResource == 'status' && "
                + _both("(has(o.spec.nodeName) ? o.spec.nodeName : o.metadata.name) == variables.nodeName") + ")",
                "an agent may write only the status of its own Machine"),
    # The CSR approver trusts the Machine's kubenode.io/bootstrap-token-id annotation: an agent never writes it.
    _validation("!(variables.kubenode && variables.res == 'machines') || object == null || oldObject == null || "
                "(has(object.metadata.annotations) ? object.metadata.annotations : {}) == "
                "(has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {})",
                "an agent may not change the annotations of a Machine"),
    # --- MachineComponent / RemedyOperationJob
    _validation("!(variables.kubenode && variables.res in ['machinecomponents', 'remedyoperationjobs']) || "
                "request.operation == 'UPDATE'",
                "an agent may not create or delete MachineComponents or RemedyOperationJobs"),
    _validation("!(variables.kubenode && variables.res == 'machinecomponents') || "
                + _both("(has(o.spec.nodeName) ? o.spec.nodeName : o.spec.machineName) == variables.nodeName"),
                "an agent may write only MachineComponents of its own node (spec.nodeName)"),
    _validation("!(variables.kubenode && variables.res == 'remedyoperationjobs') || "
                + _both("o.spec.nodeName == variables.nodeName"),
                "an agent may write only RemedyOperationJobs of its own node (spec.nodeName)"),
    _validation("!(variables.kubenode && variables.res in ['machinecomponents', 'remedyoperationjobs']) || "
                "variables.sameOwnersAndSpec",
                "an agent may not change the spec, labels or owner references of a MachineComponent or "
                "RemedyOperationJob"),
    _validation("!(variables.kubenode && variables.res == 'machinecomponents') || variables.otherFinalizersSame",
                f"of a MachineComponent's finalizers an agent may add or remove only {COMPONENT_FINALIZER}"),
    _validation("!(variables.kubenode && variables.res == 'remedyoperationjobs') || object == null || "
                "oldObject == null || (has(object.metadata.finalizers) ? object.metadata.finalizers : []) == "
                "(has(oldObject.metadata.finalizers) ? oldObject.metadata.finalizers : [])",
                "an agent may not change the finalizers of a RemedyOperationJob"),
]

_WRITES = ("CREATE", "UPDATE", "DELETE")

NODE_ISOLATION_POLICY: Obj = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": POLICY_NAME, "labels": {"app.kubernetes.io/part-of": "kubenode"}},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": list(_WRITES),
             "resources": ["nodes", "nodes/status"]},
            {"apiGroups": ["coordination.k8s.io"], "apiVersions": ["v1"], "operations": list(_WRITES),
             "resources": ["leases"]},
            {"apiGroups": [c.GROUP], "apiVersions": ["*"], "operations": list(_WRITES),
             "resources": ["machines", "machines/status", "machinecomponents", "machinecomponents/status",
                           "remedyoperationjobs", "remedyoperationjobs/status"]},
        ]},
        "matchConditions": [{
            "name": "is-node-agent",
            "expression": f"{_U}.startsWith('{AGENT_PREFIX}') || '{AGENT_GROUP}' in request.userInfo.groups || "
                          f"{_U} == '{AGENT_SERVICE_ACCOUNT}'",
        }],
        "variables": _VARIABLES,
        "validations": _VALIDATIONS,
    },
}

NODE_ISOLATION_BINDING: Obj = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": POLICY_NAME, "labels": {"app.kubernetes.io/part-of": "kubenode"}},
    "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
}


def all_policies() -> list[Obj]:
    """Every admission object KubeNode ships, in apply order (policies before their bindings)."""
    import copy

    return [copy.deepcopy(NODE_ISOLATION_POLICY), copy.deepcopy(NODE_ISOLATION_BINDING)]


def policies_yaml() -> str:
    """The objects as one multi-document YAML stream (`kubenode policies | kubectl apply -f -`)."""
    return yaml.safe_dump_all(all_policies(), sort_keys=False, width=120)
