"""`kubenode release status|pause|resume|approve|undo NAME`: drive ComponentReleases on a management cluster.

Like `kubenode rollout`, the commands only write what a user could write with
kubectl — `spec.paused` and the annotation `kubenode.io/approved-stage` —
and leave every decision to the release controller. `undo` is the one that
reaches member clusters: it pauses the release, then rolls the release's
MachineComponentSet back to its previous revision in every cluster the
release touched, with the kubeconfig each Cluster's Secret holds, read with
the caller's own rights.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Manage ComponentReleases (staged component releases across clusters).",
                  no_args_is_help=True, add_completion=False)

Obj = dict[str, Any]
Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig of the management cluster "
                                                 "(default: $KUBECONFIG, ~/.kube/config, in-cluster).")]
Name = Annotated[str, typer.Argument(help="Name of the ComponentRelease.")]

#: Must match `kubenode.api.constants.ANNOTATION_APPROVED_STAGE`.
ANNOTATION_APPROVED_STAGE = "kubenode.io/approved-stage"


class ReleaseError(Exception):
    """A user-facing failure with a clear message."""


async def get_release(client: Any, name: str) -> Obj:
    """The release `name`, or a ReleaseError saying how to list them."""
    from kubenode.release.resources import COMPONENT_RELEASES

    from .lookup import get_named

    return await get_named(client, COMPONENT_RELEASES, name, ReleaseError)


async def pause(client: Any, name: str) -> str:
    """Set spec.paused: no new cluster starts."""
    from kubenode.release.resources import COMPONENT_RELEASES

    from . import lookup

    return await lookup.pause(client, COMPONENT_RELEASES, name, ReleaseError)


async def resume(client: Any, name: str) -> str:
    """Clear spec.paused (a stage stopped by failures stays stopped)."""
    from kubenode.release.resources import COMPONENT_RELEASES

    cr = await get_release(client, name)
    st = cr.get("status") or {}
    if not (cr.get("spec") or {}).get("paused"):
        failed = [s["name"] for s in st.get("stages") or [] if s.get("phase") == "Failed"]
        if failed:
            raise ReleaseError(f"componentrelease {name} stopped because clusters failed in stage {failed[0]}; "
                               "resume cannot override that: fix the template or run `kubenode release undo`")
        waiting = [s["name"] for s in st.get("stages") or [] if s.get("phase") == "Paused"]
        if waiting:
            raise ReleaseError(f"componentrelease {name} waits for approval of stage {waiting[0]}: "
                               f"run `kubenode release approve {name}`")
        return f"componentrelease {name} is not paused"
    await client.patch(COMPONENT_RELEASES, name, {"spec": {"paused": False}})
    return f"componentrelease {name} resumed"


async def approve(client: Any, name: str, stage: str | None = None) -> str:
    """Approve `stage` (default: the stage waiting for approval) for the current revision."""
    from kubenode.release.resources import COMPONENT_RELEASES

    cr = await get_release(client, name)
    st = cr.get("status") or {}
    revision = st.get("revision")
    if not revision:
        raise ReleaseError(f"componentrelease {name} has no status yet (is the operator running?)")
    names = [s.get("name") for s in (cr.get("spec") or {}).get("stages") or []]
    if stage is None:
        stage = next((s["name"] for s in st.get("stages") or [] if s.get("phase") == "Paused"), None)
        if stage is None:
            raise ReleaseError(f"componentrelease {name} has no stage waiting for approval; name one with --stage")
    elif stage not in names:
        raise ReleaseError(f"componentrelease {name} has no stage {stage!r} (stages: {', '.join(map(str, names))})")
    current = (cr["metadata"].get("annotations") or {}).get(ANNOTATION_APPROVED_STAGE) or ""
    items = [i.strip() for i in current.split(",") if i.strip() and i.strip().partition("/")[0] == revision]
    if f"{revision}/{stage}" in items:
        return f"stage {stage} of componentrelease {name} is already approved"
    items.append(f"{revision}/{stage}")
    await client.patch(COMPONENT_RELEASES, name, {"metadata": {"annotations": {
        ANNOTATION_APPROVED_STAGE: ",".join(items)}}})
    return f"stage {stage} of componentrelease {name} approved (revision {revision})"


async def member_client(client: Any, cluster_name: str) -> Any:
    """A client of member `cluster_name` from its Cluster's kubeconfig Secret (read with the caller's rights)."""
    from kubenode.client.client import KubeClient
    from kubenode.client.config import config_from_kubeconfig_text
    from kubenode.client.resources import SECRETS
    from kubenode.release.resources import CLUSTERS

    cluster = await client.get(CLUSTERS, cluster_name)
    ref = (cluster.get("spec") or {}).get("kubeconfigSecretRef") or {}
    secret = await client.get(SECRETS, ref.get("name"), ref.get("namespace"))
    raw = (secret.get("data") or {}).get("kubeconfig")
    if not raw:
        raise ReleaseError(f"the Secret {ref.get('namespace')}/{ref.get('name')} of cluster {cluster_name} has no "
                           "key 'kubeconfig'")
    return KubeClient(config_from_kubeconfig_text(base64.b64decode(raw)))


async def undo(client: Any, name: str) -> str:
    """Pause the release and roll every touched cluster back to its previous revision."""
    from kubenode.cli import rollout_cmd
    from kubenode.client.errors import ApiError

    cr = await get_release(client, name)
    touched = [c["name"] for s in (cr.get("status") or {}).get("stages") or [] for c in s.get("clusters") or []
               if c.get("phase") not in (None, "Pending")]
    await pause(client, name)
    if not touched:
        return f"componentrelease {name} paused; it has touched no cluster, nothing to roll back"
    lines = [f"componentrelease {name} paused"]
    failures = 0
    for cluster in touched:
        try:
            member = await member_client(client, cluster)
            async with member:
                lines.append(f"  {cluster}: {await rollout_cmd.undo(member, name)}")
        except (rollout_cmd.RolloutError, ApiError, OSError, ReleaseError) as exc:
            failures += 1
            lines.append(f"  {cluster}: could not roll back: {exc}")
    if failures:
        raise ReleaseError("\n".join(lines))
    return "\n".join(lines)


def render(cr: Obj) -> Any:
    """A rich table of the release: stages, their clusters and phases, conditions."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    st, spec = cr.get("status") or {}, cr.get("spec") or {}
    colors = {"Succeeded": "green", "Failed": "red", "Paused": "yellow", "Rolling": "cyan", "Completed": "green"}
    phase = st.get("phase") or "Unknown"
    head = Text.assemble((cr["metadata"]["name"], "bold"), f"  component {spec.get('component')}  version ",
                         (str((spec.get("template") or {}).get("version")), "bold"),
                         f"  revision {st.get('revision', '?')}  ", (phase, f"bold {colors.get(phase, 'cyan')}"))
    table = Table("stage", "phase", "batch", "started", "completed", "clusters")
    for s in st.get("stages") or []:
        cl = ", ".join(f"{c['name']}={c.get('phase')}" for c in s.get("clusters") or []) or "-"
        table.add_row(s["name"], Text(str(s.get("phase")), style=colors.get(str(s.get("phase")), "")),
                      f"{s.get('currentBatch', 0)}/{s.get('totalBatches', 0)}", s.get("startedAt", "-"),
                      s.get("completedAt", "-"), cl)
    parts: list[Any] = [head, table]
    for cnd in st.get("conditions") or []:
        parts.append(Text(f"{cnd['type']}={cnd['status']} {cnd.get('reason')}: {cnd.get('message', '')}"))
    if st.get("message"):
        parts.append(Text(f"message: {st['message']}"))
    return Group(*parts)


def _run(kubeconfig: Path | None, fn: Any) -> Any:
    """`fn(client)`; a ReleaseError, an API error or an unreachable server exits 1 with its message."""
    from .api_session import run_or_exit

    return run_or_exit(kubeconfig, fn, (ReleaseError,))


@app.command()
def status(name: Name, kubeconfig: Kubeconfig = None,
           output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table") -> None:
    """Show the release: each stage, its batches and clusters, times and conditions."""
    import json

    from rich.console import Console

    cr = _run(kubeconfig, lambda client: get_release(client, name))
    if output == "json":
        typer.echo(json.dumps(cr.get("status") or {}, indent=2))
        return
    Console().print(render(cr))


@app.command("pause")
def pause_cmd(name: Name, kubeconfig: Kubeconfig = None) -> None:
    """Start no new cluster (clusters already rolling finish)."""
    typer.echo(_run(kubeconfig, lambda client: pause(client, name)))


@app.command("resume")
def resume_cmd(name: Name, kubeconfig: Kubeconfig = None) -> None:
    """Continue a release paused with `pause`."""
    typer.echo(_run(kubeconfig, lambda client: resume(client, name)))


@app.command("approve")
def approve_cmd(name: Name, kubeconfig: Kubeconfig = None,
                stage: Annotated[str | None, typer.Option("--stage", help="Stage to approve (default: the one "
                                                          "waiting).")] = None) -> None:
    """Approve a stage with requireApproval, for the release's current revision."""
    typer.echo(_run(kubeconfig, lambda client: approve(client, name, stage)))


@app.command("undo")
def undo_cmd(name: Name, kubeconfig: Kubeconfig = None) -> None:
    """Pause the release and roll every cluster it touched back to its previous revision."""
    typer.echo(_run(kubeconfig, lambda client: undo(client, name)))
