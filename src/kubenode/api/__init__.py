"""KubeNode's kinds (group kubenode.io): CRD schemas, constants, condition types and reasons.

Everything other layers need is importable from here; condition types,
reasons, phases, labels and finalizers live in `kubenode.api.constants`
(import that module for the full list).
"""

from . import constants
from .constants import (
    ANNOTATION_APPROVED,
    ANNOTATION_DELETE_MACHINE,
    API_VERSION,
    FINALIZER_MACHINE,
    FINALIZER_MACHINE_COMPONENT,
    GROUP,
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
    LABEL_REMEDIER,
    LABEL_REVISION,
    VERSION,
)
from .crds import RESOURCES, SERVER_SIDE_CHECKS, GroupVersionResource, all_crds, crd, crd_name, crds_yaml
from .kinds import KINDS, KindSpec, PrinterColumn, kind_spec

__all__ = [
    "ANNOTATION_APPROVED",
    "ANNOTATION_DELETE_MACHINE",
    "API_VERSION",
    "FINALIZER_MACHINE",
    "FINALIZER_MACHINE_COMPONENT",
    "GROUP",
    "KINDS",
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
    "LABEL_REMEDIER",
    "LABEL_REVISION",
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
