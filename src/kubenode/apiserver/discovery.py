"""Discovery documents: /api, /apis, /apis/G, /api/v1, /apis/G/V and aggregated discovery v2.

Pure functions of the served `ResourceInfo`s. kubectl 1.32 asks for the
aggregated form (APIGroupDiscoveryList) and decides by the response
Content-Type which shape it got; other clients (kopf, kr8s, `kubectl drain`)
read the legacy per-group-version lists, so both are served from the same
data.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from kubenode.apiserver.resources import Obj, ResourceInfo

CONTENT_TYPE_AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
CONTENT_TYPE_AGGREGATED_V2BETA1 = (
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)

#: Verbs of the status and scale subresources, as kube-apiserver lists them.
SUBRESOURCE_VERBS: tuple[str, ...] = ("get", "patch", "update")

_AGGREGATED_BY_VERSION = {"v2": CONTENT_TYPE_AGGREGATED_V2, "v2beta1": CONTENT_TYPE_AGGREGATED_V2BETA1}


def _media_clauses(accept_header: str) -> list[tuple[float, str, dict[str, str]]]:
    """Parse an Accept header into (q, media type, parameters), highest q first, stable."""
    clauses: list[tuple[float, str, dict[str, str]]] = []
    for raw in accept_header.split(","):
        parts = [p.strip() for p in raw.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        clauses.append((q, media, params))
    # sorted() is stable, so equal q keeps the client's order (as Go's negotiation does).
    return sorted(clauses, key=lambda c: -c[0])


def wants_aggregated(accept_header: str) -> str | None:
    """The aggregated-discovery content type to answer /api or /apis with, or None for the legacy shape.

    Goes through the Accept clauses in preference order: the first clause that
    asks for APIGroupDiscoveryList v2 (or v2beta1) wins; a plain JSON or
    wildcard clause met first means the client wants the legacy documents.
    """
    for q, media, params in _media_clauses(accept_header or ""):
        if q <= 0:
            continue
        if media not in ("application/json", "application/*", "*/*"):
            continue
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
            content_type = _AGGREGATED_BY_VERSION.get(params.get("v", ""))
            if content_type:
                return content_type
            continue  # an aggregated version we do not serve: try the next clause
        if not params.get("as"):
            return None
    return None


# --------------------------------------------------------------------------- helpers

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key (ascending = preferred first) of Kubernetes-style versions.

    GA before beta before alpha, higher numbers first, non-Kubernetes-looking
    versions last in alphabetical order (as kube-apiserver orders CRD versions).
    """
    match = _KUBE_VERSION.match(version)
    if not match:
        return (3, 0, 0, version)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor, "")


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """kube-apiserver's storageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind")."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _groups_in_order(resources: Sequence[ResourceInfo]) -> list[str]:
    """Named groups in first-seen order (built-ins first, then CRD groups as registered)."""
    seen: dict[str, None] = {}
    for info in resources:
        if info.group:
            seen.setdefault(info.group, None)
    return list(seen)


def _versions_of(group: str, resources: Sequence[ResourceInfo]) -> list[str]:
    """The versions served for a group, preferred first."""
    versions = {info.version for info in resources if info.group == group}
    return sorted(versions, key=version_priority)


def _subresources(info: ResourceInfo) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """(subresource, group, version, kind, verbs) of a resource, by name as kube lists them."""
    subs: list[tuple[str, str, str, str, tuple[str, ...]]] = []
    if info.scale is not None:
        subs.append(("scale", "autoscaling", "v1", "Scale", SUBRESOURCE_VERBS))
    if info.status_subresource:
        subs.append(("status", info.group, info.version, info.kind, SUBRESOURCE_VERBS))
    for name, (group, version, kind, verbs) in info.extra_subresources.items():
        subs.append((name, group, version, kind, tuple(verbs)))
    return sorted(subs)


# --------------------------------------------------------------------------- legacy documents


def api_versions(server_address: str) -> Obj:
    """`GET /api`: the core group's APIVersions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str, resources: Sequence[ResourceInfo]) -> Obj:
    """`GET /apis/<group>`: one APIGroup with its versions, preferred first."""
    versions = [
        {"groupVersion": _group_version(group, v), "version": v} for v in _versions_of(group, resources)
    ]
    body: Obj = {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions}
    if versions:
        body["preferredVersion"] = versions[0]
    return body


def api_group_list(resources: Sequence[ResourceInfo]) -> Obj:
    """`GET /apis`: every named group (the core group is served at /api)."""
    groups = []
    for group in _groups_in_order(resources):
        entry = api_group(group, resources)
        del entry["kind"], entry["apiVersion"]
        groups.append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str, resources: Sequence[ResourceInfo]) -> Obj:
    """`GET /api/v1` or `GET /apis/<group>/<version>`: APIResourceList with subresource entries."""
    entries: list[Obj] = []
    for info in resources:
        if info.group != group or info.version != version:
            continue
        entry: Obj = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        entry["storageVersionHash"] = storage_version_hash(info.group, info.version, info.kind)
        entries.append(entry)
        for sub, sub_group, sub_version, sub_kind, verbs in _subresources(info):
            sub_entry: Obj = {
                "name": f"{info.plural}/{sub}",
                "singularName": "",
                "namespaced": info.namespaced,
            }
            # group/version appear only when they differ from the list's own, as in kube.
            if (sub_group, sub_version) != (group, version):
                sub_entry["group"] = sub_group
                sub_entry["version"] = sub_version
            sub_entry["kind"] = sub_kind
            sub_entry["verbs"] = list(verbs)
            entries.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": _group_version(group, version),
        "resources": entries,
    }


# --------------------------------------------------------------------------- aggregated discovery


def _resource_discovery(info: ResourceInfo) -> Obj:
    entry: Obj = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = [
        {
            "subresource": sub,
            "responseKind": {"group": sub_group, "version": sub_version, "kind": sub_kind},
            "verbs": list(verbs),
        }
        for sub, sub_group, sub_version, sub_kind, verbs in _subresources(info)
    ]
    if subs:
        entry["subresources"] = subs
    return entry


def _group_discovery(group: str, resources: Sequence[ResourceInfo]) -> Obj:
    versions = []
    for version in _versions_of(group, resources):
        served = [
            _resource_discovery(info)
            for info in resources if info.group == group and info.version == version
        ]
        versions.append({"version": version, "resources": served, "freshness": "Current"})
    metadata: Obj = {"name": group, "creationTimestamp": None} if group else {"creationTimestamp": None}
    return {"metadata": metadata, "versions": versions}


def aggregated_discovery(
    resources: Sequence[ResourceInfo], *, legacy_core: bool, api_version: str = "v2",
) -> Obj:
    """APIGroupDiscoveryList for `/api` (legacy_core=True: the core group) or `/apis` (named groups).

    Versions are listed preferred first: kubectl takes the first as the
    group's preferred version. `api_version` is "v2" or "v2beta1" (same shape).
    """
    if legacy_core:
        items = [_group_discovery("", resources)] if any(not r.group for r in resources) else []
    else:
        items = [_group_discovery(group, resources) for group in _groups_in_order(resources)]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{api_version}",
        "metadata": {},
        "items": items,
    }


def aggregated_api_version(content_type: str) -> str:
    """The apidiscovery version ("v2" or "v2beta1") of a content type `wants_aggregated` returned."""
    return "v2beta1" if content_type == CONTENT_TYPE_AGGREGATED_V2BETA1 else "v2"
