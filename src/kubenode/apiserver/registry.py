"""The set of served resources: built-ins plus whatever CRDs are established.

Discovery, OpenAPI and request routing all read from here; a version counter
lets them cache derived documents until the set changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from .resources import Obj, ResourceInfo
from .schema import StructuralSchema


class Registry:
    """Served resources by (group, version, plural), with their compiled schemas."""

    def __init__(self, builtins: Iterable[ResourceInfo] = ()) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._schemas: dict[tuple[str, str, str], StructuralSchema | None] = {}
        self._crd_owned: dict[str, list[tuple[str, str, str]]] = {}
        #: Bumped on every change so discovery/OpenAPI caches know when to rebuild.
        self.generation = 0
        self._group_versions: tuple[int, frozenset[tuple[str, str]]] = (-1, frozenset())
        for info in builtins:
            self._add(info)

    def _add(self, info: ResourceInfo) -> None:
        gvr = (info.group, info.version, info.plural)
        self._by_gvr[gvr] = info
        self._schemas[gvr] = StructuralSchema(info.schema) if info.schema is not None else None
        self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        """The resource served at /apis/group/version/plural (or /api/v1/plural), if any."""
        return self._by_gvr.get((group, version, plural))

    def schema(self, info: ResourceInfo) -> StructuralSchema | None:
        """The compiled structural schema of `info` (None: accept anything)."""
        return self._schemas.get((info.group, info.version, info.plural))

    def all(self) -> list[ResourceInfo]:
        """Every served resource, in a stable order."""
        return sorted(self._by_gvr.values(), key=lambda i: (i.group, i.version, i.plural))

    def versions_of(self, group: str, plural: str) -> list[ResourceInfo]:
        """Every served version of one resource."""
        return [i for (g, _, p), i in self._by_gvr.items() if g == group and p == plural]

    def group_versions(self) -> frozenset[tuple[str, str]]:
        """Every served (group, version); kept until the set of resources changes (every request asks)."""
        generation, known = self._group_versions
        if generation != self.generation:
            known = frozenset((g, v) for g, v, _ in self._by_gvr)
            self._group_versions = (self.generation, known)
        return known

    def set_crd(self, crd_name: str, infos: list[ResourceInfo]) -> None:
        """Serve exactly `infos` for the CRD `crd_name` (replacing what it served before)."""
        self.remove_crd(crd_name)
        for info in infos:
            self._add(info)
        self._crd_owned[crd_name] = [(i.group, i.version, i.plural) for i in infos]

    def remove_crd(self, crd_name: str) -> None:
        """Stop serving what the CRD `crd_name` defined."""
        for gvr in self._crd_owned.pop(crd_name, []):
            self._by_gvr.pop(gvr, None)
            self._schemas.pop(gvr, None)
            self.generation += 1

    def crd_of(self, info: ResourceInfo) -> str | None:
        """The name of the CRD that defines `info`, if it is a custom resource."""
        gvr = (info.group, info.version, info.plural)
        for name, owned in self._crd_owned.items():
            if gvr in owned:
                return name
        return None


def crd_names_conflict(registry: Registry, crd: Obj) -> str | None:
    """Why a CRD's names cannot be accepted (NamesAccepted=False), or None."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    own = crd.get("metadata", {}).get("name", "")
    for info in registry.all():
        if info.group != group:
            continue
        if registry.crd_of(info) == own:
            continue
        if info.plural == plural:
            return f'"{plural}" is already in use'
        if names.get("kind") and info.kind == names.get("kind"):
            return f'"{names.get("kind")}" is already in use'
    return None
