"""`kubenode rollout status|pause|resume|undo NAME`: drive MachineComponentSet rollouts.

The commands only write what a user could write with kubectl — `spec.paused`,
`spec.template` and the annotation `kubenode.io/resume-batch` — and leave
every decision to the controller, so they work the same against a real
cluster. The async functions are the API (tests call them); the typer
commands are a thin synchronous facade with a rich live display.

Resume clears both kinds of pause: it sets `spec.paused=false` and approves
the pause point the rollout stopped at by writing
`kubenode.io/resume-batch: "<revision>/<batch>"` (tied to the revision, so a
later rollout never inherits the approval).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Manage MachineComponentSet rollouts.", no_args_is_help=True, add_completion=False)

Obj = dict[str, Any]
Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                 "~/.kube/config, in-cluster).")]
Name = Annotated[str, typer.Argument(help="Name of the MachineComponentSet.")]

#: Must match `componentset.controller.ANNOTATION_RESUME_BATCH` (the CLI does not import the operator).
ANNOTATION_RESUME_BATCH = "kubenode.io/resume-batch"
SETTLED = ("Completed", "Failed", "Paused")


class RolloutError(Exception):
    """A user-facing failure with a clear message (unknown set, nothing to undo, ...)."""


@dataclass
class RolloutView:
    """What `status` shows: the set and its components."""

    mcs: Obj
    components: list[Obj] = field(default_factory=list)

    @property
    def status(self) -> Obj:
        """The set's status (empty before the controller saw it)."""
        return self.mcs.get("status") or {}

    @property
    def observed(self) -> bool:
        """The controller has acted on the current spec."""
        return int(self.status.get("observedGeneration") or 0) >= int(self.mcs["metadata"].get("generation") or 1)

    @property
    def settled(self) -> bool:
        """Nothing will change without a human (Completed, Failed or Paused) — on the current spec."""
        return self.observed and self.status.get("phase") in SETTLED

    def moving(self) -> list[str]:
        """Machines assigned the target revision that do not run it healthily yet."""
        target = self.status.get("updateRevision")
        out = []
        for mc in self.components:
            spec, st = mc.get("spec") or {}, mc.get("status") or {}
            done = st.get("installedRevision") == target and st.get("phase") == "Running" and st.get("healthy")
            if spec.get("revision") == target and not done and st.get("phase") != "Failed":
                out.append(str(spec.get("machineName")))
        return sorted(out)


async def _get_set(client: Any, name: str) -> Obj:
    from kubenode.componentset.resources import MACHINE_COMPONENT_SETS

    from .lookup import get_named

    return await get_named(client, MACHINE_COMPONENT_SETS, name, RolloutError)


async def fetch(client: Any, name: str) -> RolloutView:
    """The set `name` and its MachineComponents."""
    from kubenode.api.constants import LABEL_MACHINE_COMPONENT_SET
    from kubenode.componentset.resources import MACHINE_COMPONENTS

    mcs = await _get_set(client, name)
    comps, _ = await client.list(MACHINE_COMPONENTS, label_selector=f"{LABEL_MACHINE_COMPONENT_SET}={name}")
    return RolloutView(mcs, comps)


async def pause(client: Any, name: str) -> str:
    """Set spec.paused: no new batch starts (machines already updating finish)."""
    from kubenode.componentset.resources import MACHINE_COMPONENT_SETS

    from . import lookup

    return await lookup.pause(client, MACHINE_COMPONENT_SETS, name, RolloutError)


async def resume(client: Any, name: str) -> str:
    """Clear spec.paused and approve the pause point (pauseAfterBatches) the rollout waits at."""
    from kubenode.componentset.resources import MACHINE_COMPONENT_SETS

    mcs = await _get_set(client, name)
    st = mcs.get("status") or {}
    patch: Obj = {}
    if (mcs.get("spec") or {}).get("paused"):
        patch["spec"] = {"paused": False}
    paused_after = next((cnd for cnd in st.get("conditions") or []
                         if cnd.get("type") == "Paused" and cnd.get("status") == "True"), None)
    if paused_after is not None and paused_after.get("reason") == "PausedAfterBatch" and st.get("updateRevision"):
        patch["metadata"] = {"annotations": {
            ANNOTATION_RESUME_BATCH: f"{st['updateRevision']}/{int(st.get('currentBatch') or 0)}"}}
    if not patch:
        if paused_after is not None and paused_after.get("reason") == "MaxFailuresExceeded":
            raise RolloutError(f"machinecomponentset {name} stopped because machines failed; resume cannot "
                               "override that: fix the template or run `kubenode rollout undo`")
        return f"machinecomponentset {name} is not paused"
    await client.patch(MACHINE_COMPONENT_SETS, name, patch)
    return f"machinecomponentset {name} resumed"


async def undo(client: Any, name: str, to_revision: int | None = None) -> str:
    """Put the previous template (or revision `to_revision`) from the history back into the spec."""
    from kubenode.componentset.resources import MACHINE_COMPONENT_SETS
    from kubenode.componentset.revisions import previous_revision, template_hash

    mcs = await _get_set(client, name)
    history = (mcs.get("status") or {}).get("revisions") or []
    current = template_hash((mcs.get("spec") or {}).get("template") or {})
    entry = previous_revision(history, current, to_revision)
    if entry is None:
        if to_revision is not None:
            known = ", ".join(str(r.get("revision")) for r in history) or "none"
            raise RolloutError(f"machinecomponentset {name} has no revision {to_revision} (known: {known})")
        raise RolloutError(f"machinecomponentset {name} has no previous revision to undo to")
    if entry["name"] == current:
        return f"machinecomponentset {name} already runs revision {entry.get('revision')}"
    # The resourceVersion test makes the undo fail instead of clobbering a concurrent edit.
    await client.patch(MACHINE_COMPONENT_SETS, name, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": mcs["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/template", "value": entry["template"]},
    ], patch_type="json")
    return (f"machinecomponentset {name} rolled back to revision {entry.get('revision')} "
            f"(version {entry.get('version')})")


# --------------------------------------------------------------------------- display


def render(view: RolloutView) -> Any:
    """A rich renderable of the rollout's progress that fits any terminal width.

    Nothing in it is wider than the console: the header lines are cut with an ellipsis, the progress bar
    takes what is left next to its counts, and the table's values fold inside their column (the labels
    never wrap), so `rollout status -w` redraws in place at 80 columns too.
    """
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    mcs, st = view.mcs, view.status
    spec = mcs.get("spec") or {}
    name = mcs["metadata"]["name"]
    desired = int(st.get("desired") or 0)
    ready = int(st.get("ready") or 0)
    phase = st.get("phase") or "Unknown"
    color = {"Completed": "green", "Failed": "red", "RollingBack": "red", "Paused": "yellow"}.get(phase, "cyan")
    title = Text.assemble((f"{name}", "bold"), "  ", (phase, f"bold {color}"), no_wrap=True, overflow="ellipsis")
    if not view.observed:
        title.append("  (waiting for the controller)", style="dim")
    detail = Text.assemble(f"component {spec.get('component')}  version ",
                           ((spec.get("template") or {}).get("version", "?"), "bold"),
                           f"  revision {st.get('updateRevision', '?')}", no_wrap=True, overflow="ellipsis")
    bar = Table.grid(padding=(0, 1), expand=True)
    bar.add_column(ratio=1)
    bar.add_column(no_wrap=True, justify="right")
    bar.add_row(ProgressBar(total=max(desired, 1), completed=ready), f"{ready}/{desired} ready")
    table = Table.grid(padding=(0, 2), expand=True)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(ratio=1, overflow="fold")
    table.add_row("batch", f"{int(st.get('currentBatch') or 0)} of {int(st.get('totalBatches') or 0)}")
    table.add_row("updated", f"{int(st.get('updated') or 0)} updated, {int(st.get('failed') or 0)} failed, "
                             f"{int(st.get('unavailable') or 0)} unavailable")
    moving = view.moving()
    table.add_row("moving", ", ".join(moving[:20]) + (f" … (+{len(moving) - 20})" if len(moving) > 20 else "")
                  if moving else "-")
    for f in st.get("failedMachines") or []:
        table.add_row(Text("failed", style="red"), f"{f.get('name')}: {f.get('message', '')}")
    for cnd in st.get("conditions") or []:
        if (cnd.get("type"), cnd.get("status")) in (("Degraded", "True"), ("Paused", "True"),
                                                      ("RolloutAllowed", "False")):
            table.add_row(Text(cnd["type"], style="yellow"), f"{cnd.get('reason')}: {cnd.get('message', '')}")
    if st.get("message"):
        table.add_row("message", st["message"])
    return Group(title, detail, bar, table)


async def watch_status(client: Any, name: str, *, follow: bool, on_view: Any, interval: float = 1.0) -> RolloutView:
    """Fetch the rollout and call `on_view(view)`; with `follow`, repeat until it settles."""
    while True:
        view = await fetch(client, name)
        on_view(view)
        if not follow or view.settled:
            return view
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------- commands


def _run(kubeconfig: Path | None, fn: Any) -> Any:
    """`fn(client)`; a RolloutError, an API error or an unreachable server exits 1 with its message."""
    from .api_session import run_or_exit

    return run_or_exit(kubeconfig, fn, (RolloutError,))


@app.command()
def status(name: Name, kubeconfig: Kubeconfig = None,
           watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep updating until the rollout is "
                                               "Completed, Failed or Paused.")] = False) -> None:
    """Show the rollout's progress: batch k of n, updated/ready/failed, the machines moving now."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    if not watch:
        view = _run(kubeconfig, lambda client: fetch(client, name))
        console.print(render(view))
        return
    with Live(console=console, auto_refresh=False) as live:
        def show(view: RolloutView) -> None:
            live.update(render(view), refresh=True)

        view = _run(kubeconfig, lambda client: watch_status(client, name, follow=True, on_view=show))
    if view.status.get("phase") in ("Failed", "RollingBack") or (view.status.get("phase") == "Paused" and any(
            cnd.get("type") == "Degraded" and cnd.get("status") == "True" for cnd in view.status.get("conditions")
            or [])):
        raise typer.Exit(1)


@app.command("pause")
def pause_cmd(name: Name, kubeconfig: Kubeconfig = None) -> None:
    """Stop starting new batches (machines already updating finish)."""
    typer.echo(_run(kubeconfig, lambda client: pause(client, name)))


@app.command("resume")
def resume_cmd(name: Name, kubeconfig: Kubeconfig = None) -> None:
    """Continue a paused rollout (spec.paused or a pauseAfterBatches approval point)."""
    typer.echo(_run(kubeconfig, lambda client: resume(client, name)))


@app.command("undo")
def undo_cmd(name: Name, kubeconfig: Kubeconfig = None,
             to_revision: Annotated[int | None, typer.Option("--to-revision", min=1,
                                                             help="Revision number (default: the previous).")]
             = None) -> None:
    """Roll back to the previous template (from the history in status)."""
    typer.echo(_run(kubeconfig, lambda client: undo(client, name, to_revision)))
