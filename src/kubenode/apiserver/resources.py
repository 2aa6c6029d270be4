"""What the server knows about one served resource.

Built-in resources (pods, nodes, ...) and CustomResourceDefinitions are both
turned into `ResourceInfo`; every handler, discovery document, OpenAPI
document and Table is derived from it, so a CRD registered at runtime is
served exactly like a built-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

#: Verbs of a normal resource, in the order kube-apiserver lists them.
DEFAULT_VERBS: tuple[str, ...] = (
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
)


@dataclass(frozen=True)
class PrinterColumn:
    """One Table column: a CRD `additionalPrinterColumns` entry, or a built-in computed cell.

    Exactly one of `json_path` (a Kubernetes JSONPath such as `.status.phase`)
    and `cell` (a function of the object and "now" in epoch seconds) is set.
    """

    name: str
    type: str = "string"  # string | integer | number | boolean | date
    json_path: str = ""
    format: str = ""
    description: str = ""
    priority: int = 0
    cell: Callable[[Obj, float], Any] | None = None


@dataclass(frozen=True)
class ScaleSpec:
    """Where the `/scale` subresource reads and writes (CRD `subresources.scale`)."""

    spec_replicas_path: str  # e.g. ".spec.replicas"
    status_replicas_path: str  # e.g. ".status.replicas"
    label_selector_path: str = ""  # e.g. ".status.selector"


@dataclass(frozen=True)
class ResourceInfo:
    """A served resource: identity, names, schema and behaviour switches."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = DEFAULT_VERBS
    #: Structural OpenAPI v3 schema of the whole object; None = accept anything (no pruning).
    schema: Obj | None = None
    status_subresource: bool = False
    scale: ScaleSpec | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    #: Built-ins accept strategic-merge patches; custom resources answer 415.
    builtin: bool = False
    #: Strategic merge hints: dotted path with "[]" for list items -> (patchStrategy, patchMergeKey).
    #: e.g. {"spec.taints": ("merge", "key"), "metadata.finalizers": ("merge", "")}
    smp_hints: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)
    #: Field selectors supported besides metadata.name and metadata.namespace, e.g. {"spec.nodeName"}.
    field_selectors: frozenset[str] = frozenset()
    #: Extra subresources beyond status/scale, e.g. {"eviction": ("policy", "v1", "Eviction", ("create",))}.
    extra_subresources: dict[str, tuple[str, str, str, tuple[str, ...]]] = field(
        default_factory=dict, hash=False, compare=False,
    )
    #: Generation is bumped on spec changes (objects with a spec); kube does it for all CRs.
    track_generation: bool = True
    #: DELETE answers with the deleted object instead of a Status (kube registries' ReturnDeletedObject).
    return_deleted_object: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        """`plural.group` (or `plural` for the core group), as in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def key(self, namespace: str, name: str) -> str:
        """The storage key of one object of this resource."""
        return f"{self.group}/{self.plural}/{namespace}/{name}"

    def prefix(self, namespace: str | None) -> str:
        """The storage key prefix of a collection (all namespaces when None)."""
        if namespace is None or not self.namespaced:
            return f"{self.group}/{self.plural}/"
        return f"{self.group}/{self.plural}/{namespace}/"
