"""The demo component in `kubenode up`: build the archives, serve them, roll 1.0.0 out once, say how to go on.

On every start the archives are rebuilt (reproducibly: same bytes, same
checksums) into ``DATA/artifacts/`` and served from a loopback HTTP server;
MachineComponentSet manifests for each version are written next to them.
On the *first* start only (``DATA/artifacts/.demo-installed``) the
MachineComponentSet ``node-exporter`` at 1.0.0 is created on the fleet —
afterwards it is the user's to change or delete. :attr:`Demo.notes` are the
lines `kubenode up` prints: how to roll to 1.1.0 and to the broken 1.2.0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubenode.api.constants import API_VERSION, KIND_MACHINE_COMPONENT_SET
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.kinds import MACHINE_COMPONENT_SETS

from .artifact_server import ArtifactServer
from .artifacts import COMPONENT, Artifact, build_all

__all__ = ["MACHINE_COMPONENT_SETS", "Demo", "component_set", "start_demo", "template"]

log = logging.getLogger("kubenode.demo")
Obj = dict[str, Any]


def template(artifact: Artifact, url: str) -> Obj:
    """The component template of one demo version."""
    return {
        "version": artifact.version,
        "source": {"url": url, "sha256": artifact.sha256},
        "run": {"command": ["bin/node-exporter"]},
        "healthCheck": {"exec": {"command": ["bin/check"]}, "initialDelaySeconds": 1, "periodSeconds": 2,
                        "timeoutSeconds": 3, "failureThreshold": 3},
        "disruption": "Restart",
    }


def component_set(artifact: Artifact, url: str, selector: Obj) -> Obj:
    """The MachineComponentSet ``node-exporter`` at ``artifact``'s version."""
    return {
        "apiVersion": API_VERSION, "kind": KIND_MACHINE_COMPONENT_SET,
        "metadata": {"name": COMPONENT},
        "spec": {
            "component": COMPONENT,
            "selector": selector,
            "template": template(artifact, url),
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"batches": [1, 2, 5], "batchSoakSeconds": 5, "maxFailures": 0}},
        },
    }


@dataclass
class Demo:
    """The running demo: its artifact server, archives and the lines to print."""

    server: ArtifactServer
    artifacts: list[Artifact]
    notes: list[str] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop the artifact server."""
        await self.server.stop()


#: The annotation `kubectl apply` keeps (so a later `kubectl apply -f` of our manifests merges cleanly).
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def as_applied(manifest: Obj) -> Obj:
    """`manifest` as `kubectl apply` would create it: with its last-applied-configuration annotation."""
    body = json.loads(json.dumps(manifest))
    meta = body.setdefault("metadata", {})
    meta.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(manifest, separators=(",", ":")) + "\n"
    return body


def _notes(directory: Path, demo: Demo, created: bool, current: str | None = None) -> list[str]:
    """The banner lines; `current` is the version the set targets now (only other versions are suggested)."""
    lines = [f"demo component {COMPONENT}: archives served from {demo.server.base_url}/"]
    if created:
        lines.append(f"  rolling out {COMPONENT} {demo.artifacts[0].version} to the fleet: kubectl get mcs,mc")
    elif current:
        lines.append(f"  {COMPONENT} targets {current}: kubenode rollout status {COMPONENT}")
    if demo.server.port_changed:
        lines.append("  note: the artifact server's previous port was taken; re-apply a manifest below so the "
                     "MachineComponentSet uses the new URL")
    for a in demo.artifacts:
        if a.version == (current or demo.artifacts[0].version):
            continue  # already the target: suggesting it would do nothing
        patch = {"spec": {"template": {"version": a.version,
                                       "source": {"url": demo.server.url(a.filename), "sha256": a.sha256}}}}
        what = "healthy upgrade" if a.healthy else "its health check fails: the node rolls back, the rollout stops"
        lines.append(f"  roll to {a.version} ({what}):")
        lines.append(f"    kubectl patch mcs {COMPONENT} --type=merge -p {shlex.quote(json.dumps(patch))}")
        lines.append(f"    (or: kubectl apply -f {directory / f'{COMPONENT}-{a.version}.yaml'})")
    return lines


async def start_demo(client: KubeClient, data_dir: Path, selector: Obj, *, create_set: bool = True) -> Demo:
    """Build and serve the demo archives; create the MachineComponentSet on the first start (with `create_set`)."""
    directory = data_dir / "artifacts"
    artifacts = await asyncio.to_thread(build_all, directory)
    server = ArtifactServer(directory)
    await server.start()
    demo = Demo(server, artifacts)
    try:
        for a in artifacts:
            manifest = component_set(a, server.url(a.filename), selector)
            (directory / f"{COMPONENT}-{a.version}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        marker = directory / ".demo-installed"
        created = False
        if create_set and not marker.exists():
            try:
                await client.create(MACHINE_COMPONENT_SETS, as_applied(
                    component_set(artifacts[0], server.url(artifacts[0].filename), selector)))
                created = True
            except errors.AlreadyExists:
                pass
            marker.write_text("the demo MachineComponentSet was created once; delete this file to recreate it\n")
        current = None
        if not created:
            try:
                existing = await client.get(MACHINE_COMPONENT_SETS, COMPONENT)
                current = str(((existing.get("spec") or {}).get("template") or {}).get("version") or "") or None
            except errors.NotFound:
                current = None
        demo.notes = _notes(directory, demo, created, current)
    except BaseException:
        await server.stop()
        raise
    return demo
