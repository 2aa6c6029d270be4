"""`kubenode up --clusters A,B,C`: a management control plane and one embedded member cluster per name.

Each member is a whole `kubenode up` of its own — API server, operators and
N local machines — under `DIR/clusters/<name>/` (its kubeconfig at
`DIR/clusters/<name>/kubeconfig`). The management cluster has no machines;
it serves the demo archives, holds a `Cluster` per member (labelled
`kubenode.io/stage=<name>`) whose kubeconfig Secret
`kubenode-system/cluster-<name>` is refreshed on every start (ports may
change), and runs the release controller that rolls ComponentReleases
through the members in the order given. Everything talks HTTPS through the
Kubernetes API, as it would across real clusters.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubenode.api import constants as c
from kubenode.api.rbac import SYSTEM_NAMESPACE
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import SECRETS
from kubenode.demo.artifacts import COMPONENT
from kubenode.demo.start import template
from kubenode.release.resources import CLUSTERS

from .up import ControlPlane, UpConfig, start_control_plane

log = logging.getLogger("kubenode.up.clusters")
Obj = dict[str, Any]


def secret_name(cluster: str) -> str:
    """The kubeconfig Secret of member `cluster` in kubenode-system."""
    return f"cluster-{cluster}"


def release_manifest(name: str, stages: list[str], tmpl: Obj, soak_seconds: int = 5) -> Obj:
    """A ComponentRelease of the demo component through `stages` (each selecting kubenode.io/stage=<stage>)."""
    return {
        "apiVersion": c.API_VERSION, "kind": c.KIND_COMPONENT_RELEASE, "metadata": {"name": name},
        "spec": {
            "component": COMPONENT, "selector": {}, "template": tmpl,
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"batches": [1, "100%"], "batchSoakSeconds": 1, "maxFailures": 0}},
            "stages": [{"name": s, "clusterSelector": {"matchLabels": {c.LABEL_STAGE: s}},
                        "clusterBatches": [1, "100%"], "soakSeconds": soak_seconds} for s in stages],
        },
    }


@dataclass
class MultiCluster:
    """A running management cluster and its members."""

    management: ControlPlane
    members: dict[str, ControlPlane] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop the management cluster first (no release step starts), then every member."""
        await self.management.stop()
        for member in reversed(list(self.members.values())):
            await member.stop()


async def register_member(admin: KubeClient, name: str, kubeconfig: bytes) -> None:
    """Create or refresh the member's kubeconfig Secret and its Cluster object."""
    secret: Obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": secret_name(name), "namespace": SYSTEM_NAMESPACE,
                           "labels": {"app.kubernetes.io/managed-by": "kubenode-up"}},
              "data": {"kubeconfig": base64.b64encode(kubeconfig).decode()}}
    try:
        current = await admin.get(SECRETS, secret_name(name), SYSTEM_NAMESPACE)
        secret["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await admin.replace(SECRETS, secret, SYSTEM_NAMESPACE)
    except errors.NotFound:
        await admin.create(SECRETS, secret, SYSTEM_NAMESPACE)
    cluster = {"apiVersion": c.API_VERSION, "kind": c.KIND_CLUSTER,
               "metadata": {"name": name, "labels": {c.LABEL_STAGE: name}},
               "spec": {"kubeconfigSecretRef": {"name": secret_name(name), "namespace": SYSTEM_NAMESPACE}}}
    try:
        await admin.create(CLUSTERS, cluster)
    except errors.AlreadyExists:
        pass


async def start_multicluster(config: UpConfig, names: list[str], machines: int | None) -> MultiCluster:
    """Start the members, then the management cluster; register the members there."""
    members: dict[str, ControlPlane] = {}
    try:
        for name in names:
            member_dir = config.data_dir / "clusters" / name
            member_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            members[name] = await start_control_plane(dataclasses.replace(
                config, data_dir=member_dir, machines=machines, port=0, demo=False, prometheus=False, console=False))
        mgmt = await start_control_plane(dataclasses.replace(config, machines=0, demo=True, demo_set=False))
    except BaseException:
        for m in reversed(list(members.values())):
            await m.stop()
        raise
    mc = MultiCluster(mgmt, members)
    try:
        async with KubeClient(load_config(mgmt.server.kubeconfig)) as admin:
            for name, member in members.items():
                kubeconfig = await asyncio.to_thread(Path(member.server.kubeconfig).read_bytes)
                await register_member(admin, name, kubeconfig)
        mc.notes = _write_manifests(config.data_dir, mgmt, names)
    except BaseException:
        await mc.stop()
        raise
    return mc


def _write_manifests(data_dir: Path, mgmt: ControlPlane, names: list[str]) -> list[str]:
    lines: list[str] = []
    if mgmt.demo is None:
        return lines
    directory = data_dir / "artifacts"
    lines.append(f"releases of the demo component {COMPONENT} through {' → '.join(names)}:")
    for a in mgmt.demo.artifacts:
        manifest = release_manifest(COMPONENT, names, template(a, mgmt.demo.server.url(a.filename)))
        path = directory / f"release-{COMPONENT}-{a.version}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        what = "healthy" if a.healthy else "broken: stops in the first stage"
        lines.append(f"  {a.version} ({what}): kubectl apply -f {path}")
    lines.append(f"  then: kubenode release status {COMPONENT}")
    return lines
