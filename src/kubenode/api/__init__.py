"""KubeNode's kinds (group kubenode.io): CRD schemas, constants, condition types and reasons.

Everything other layers need is importable from here; condition types,
reasons, phases, labels and finalizers live in `kubenode.api.constants`
(import that module for the full list).
"""

from typing import TYPE_CHECKING, Any

from . import constants
from .constants import (
    ANNOTATION_APPROVED,
    ANNOTATION_APPROVED_STAGE,
    ANNOTATION_DELETE_MACHINE,
    ANNOTATION_RELEASE_REVISION,
    API_VERSION,
    FINALIZER_MACHINE,
    FINALIZER_MACHINE_COMPONENT,
    GROUP,
    KIND_CLUSTER,
    KIND_COMPONENT_RELEASE,
    KIND_DEFENDER_POLICY,
    KIND_INFRA_PROVIDER,
    KIND_MACHINE,
    KIND_MACHINE_COMPONENT,
    KIND_MACHINE_COMPONENT_SET,
    KIND_MACHINE_SET,
    KIND_NODE_REMEDIER,
    KIND_REMEDY_OPERATION_JOB,
    LABEL_COMPONENT,
    LABEL_MACHINE,
    LABEL_MACHINE_COMPONENT_SET,
    LABEL_MACHINE_SET,
    LABEL_NODE,
    LABEL_RELEASE,
    LABEL_REMEDIER,
    LABEL_REVISION,
    LABEL_STAGE,
    VERSION,
)

if TYPE_CHECKING:
    from .crds import RESOURCES, SERVER_SIDE_CHECKS, GroupVersionResource, all_crds, crd, crd_name, crds_yaml
    from .kinds import KINDS, KindSpec, PrinterColumn, kind_spec

# The kinds' schemas are built on first use, not by every `import kubenode.api` (an agent never needs them).
_LAZY = {**dict.fromkeys(("RESOURCES", "SERVER_SIDE_CHECKS", "GroupVersionResource", "all_crds", "crd", "crd_name",
                          "crds_yaml"), "crds"),
         **dict.fromkeys(("KINDS", "KindSpec", "PrinterColumn", "kind_spec"), "kinds")}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

__all__ = [
    "ANNOTATION_APPROVED",
    "ANNOTATION_APPROVED_STAGE",
    "ANNOTATION_DELETE_MACHINE",
    "ANNOTATION_RELEASE_REVISION",
    "API_VERSION",
    "FINALIZER_MACHINE",
    "FINALIZER_MACHINE_COMPONENT",
    "GROUP",
    "KINDS",
    "KIND_CLUSTER",
    "KIND_COMPONENT_RELEASE",
    "KIND_DEFENDER_POLICY",
    "KIND_INFRA_PROVIDER",
    "KIND_MACHINE",
    "KIND_MACHINE_COMPONENT",
    "KIND_MACHINE_COMPONENT_SET",
    "KIND_MACHINE_SET",
    "KIND_NODE_REMEDIER",
    "KIND_REMEDY_OPERATION_JOB",
    "LABEL_COMPONENT",
    "LABEL_MACHINE",
    "LABEL_MACHINE_COMPONENT_SET",
    "LABEL_MACHINE_SET",
    "LABEL_NODE",
    "LABEL_RELEASE",
    "LABEL_REMEDIER",
    "LABEL_REVISION",
    "LABEL_STAGE",
    "RESOURCES",
    "SERVER_SIDE_CHECKS",
    "VERSION",
    "GroupVersionResource",
    "KindSpec",
    "PrinterColumn",
    "all_crds",
    "constants",
    "crd",
    "crd_name",
    "crds_yaml",
    "kind_spec",
]
