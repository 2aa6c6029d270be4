"""CustomResourceDefinition manifests of the KubeNode kinds, for the embedded server and real clusters.

The same dicts are POSTed to the embedded API server by `kubenode up` and
printed by `kubenode crds` for `kubectl apply -f -` on a real cluster, so the
two servers validate custom resources identically (principle "one API, two
servers").
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import yaml

from .constants import GROUP, VERSION
from .kinds import KINDS, KindSpec, kind_spec

__all__ = ["RESOURCES", "SERVER_SIDE_CHECKS", "GroupVersionResource", "all_crds", "crd", "crd_name",
           "crds_yaml"]


class GroupVersionResource(NamedTuple):
    """Where a kind is served: `/apis/{group}/{version}/{plural}` (all KubeNode kinds are cluster-scoped)."""

    group: str
    version: str
    plural: str


#: Kind -> (group, version, plural), for clients that build URLs.
RESOURCES: dict[str, GroupVersionResource] = {k.kind: GroupVersionResource(GROUP, VERSION, k.plural) for k in KINDS}

#: Rules the schemas cannot express structurally (no CEL in the embedded server); enforce them in an admission
#: hook or in the controllers, and say so in a condition when they are broken.
SERVER_SIDE_CHECKS: tuple[str, ...] = (
    "MachineSet: spec.template.metadata.labels must match spec.selector.",
    "MachineSet/MachineComponentSet/NodeRemedier/DefenderPolicy: label selector values must be empty for "
    "Exists/DoesNotExist and non-empty for In/NotIn; keys and values must be valid label syntax.",
    "Component template: only run.command[0] / healthCheck.exec.command[0] need to be paths inside the "
    "component directory, but the schema checks every element (no leading '/', no '..' segment).",
    "Component template: files[].path must not resolve through a symlink out of the component directory "
    "(the agent must check the real path).",
    "MachineComponentSet: pauseAfterBatches numbers beyond the number of batches are ignored, not rejected.",
    "DefenderPolicy: freezeWindows[].schedule is only checked for five fields, not parsed as cron; "
    "timeZone is not checked against the IANA database; budgets[].window '0s' passes the pattern.",
    "DefenderPolicy: a rule that sets no limit at all (no budgets, maxConcurrent, maxUnhealthy, "
    "freezeWindows, requireApproval) is accepted; the Defender should report Valid=False for it.",
    "RemedyOperationJob: spec.rule and spec.action should match a rule and ladder step of spec.remedier.",
    "Machine: spec.import and spec.providerRef may both be set; the provider decides whether that is valid.",
)


def _version(k: KindSpec) -> dict[str, Any]:
    subresources: dict[str, Any] = {"status": {}}
    if k.scale:
        subresources["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                                 "labelSelectorPath": ".status.selector"}
    return {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": subresources,
        "additionalPrinterColumns": [col.to_dict() for col in k.printer_columns],
        "schema": {"openAPIV3Schema": copy.deepcopy(k.schema)},
    }


def crd_name(kind: str) -> str:
    """`<plural>.kubenode.io`, the CRD object's name for `kind`."""
    return f"{kind_spec(kind).plural}.{GROUP}"


def crd(kind: str) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of `kind` (a fresh dict each call)."""
    k = kind_spec(kind)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{k.plural}.{GROUP}",
                     "labels": {"app.kubernetes.io/name": "kubenode", "app.kubernetes.io/part-of": "kubenode"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"kind": k.kind, "listKind": f"{k.kind}List", "plural": k.plural, "singular": k.singular,
                      "shortNames": [k.short_name], "categories": list(k.categories)},
            "versions": [_version(k)],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    """The CRDs of every KubeNode kind."""
    return [crd(k.kind) for k in KINDS]


class _NoAliasDumper(yaml.SafeDumper):
    """Never emit YAML anchors/aliases: some tools (and humans) read the manifests literally."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def crds_yaml() -> str:
    """All CRDs as one multi-document YAML stream (what `kubenode crds` prints)."""
    return yaml.dump_all(all_crds(), Dumper=_NoAliasDumper, sort_keys=False, explicit_start=True,
                         default_flow_style=False, width=120)
