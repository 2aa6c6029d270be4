"""`kubenode remedy history|approve`: what remediation did, and the human half of requireApproval.

`history` lists RemedyOperationJobs newest first with the Defender's decision
and the outcome, optionally for one node. `approve JOB` sets the
`kubenode.io/approved: "true"` annotation on a job a DefenderPolicy holds
for approval; the Remedy Operator then reviews it again with approved=True.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from kubenode.api import constants as c

app = typer.Typer(help="Remediation jobs: history and approvals.", no_args_is_help=True)

Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                 "~/.kube/config, in-cluster).")]
Obj = dict[str, Any]
HEADER = ("NAME", "NODE", "RULE", "ACTION", "PHASE", "DECISION", "OUTCOME", "CREATED")


def _decision(job: Obj) -> str:
    d = (job.get("status") or {}).get("defender") or {}
    if not d:
        return "-"
    where = "/".join(x for x in (d.get("policy"), d.get("rule")) if x)
    return f"{d.get('decision', '?')} ({d.get('reason', '')}{': ' + where if where else ''})"


def _outcome(job: Obj) -> str:
    status = job.get("status") or {}
    healthy = next((x for x in status.get("conditions") or [] if x.get("type") == c.JOB_CONDITION_COMPLETE
                    and x.get("reason") == c.JOB_REASON_NODE_HEALTHY), None)
    if healthy is not None:
        return str(healthy.get("message") or "node healthy again")
    return str(status.get("message") or "")


def history_rows(jobs: list[Obj], node: str | None = None) -> list[tuple[str, ...]]:
    """Table rows (without the header), newest first, optionally only for `node`. Pure."""
    chosen = [j for j in jobs if node is None or (j.get("spec") or {}).get("nodeName") == node]
    chosen.sort(key=lambda j: (j["metadata"].get("creationTimestamp", ""), j["metadata"]["name"]), reverse=True)
    rows: list[tuple[str, ...]] = []
    for j in chosen:
        spec = j.get("spec") or {}
        action = (spec.get("action") or {}).get("type", "")
        if spec.get("dryRun"):
            action += " (dry run)"
        rows.append((j["metadata"]["name"], str(spec.get("nodeName", "")), str(spec.get("rule", "")), action,
                     str((j.get("status") or {}).get("phase") or c.JOB_PHASE_PENDING), _decision(j),
                     _outcome(j)[:80], str(j["metadata"].get("creationTimestamp", ""))))
    return rows


def render(rows: list[tuple[str, ...]]) -> str:
    """A kubectl-style table."""
    table = [HEADER, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    return "\n".join("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table)


def _client(kubeconfig: Path | None) -> Any:
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config
    from kubenode.client.errors import ConfigError

    try:
        return KubeClient(load_config(kubeconfig))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kubeconfig") from None


@app.command()
def history(
    node: Annotated[str | None, typer.Option("--node", help="Only jobs of this node.")] = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Remediation jobs, newest first, with the Defender's decision and the outcome."""
    from kubenode.remedy.resources import REMEDY_JOBS

    async def run() -> list[Obj]:
        async with _client(kubeconfig) as client:
            selector = f"{c.LABEL_NODE}={node}" if node else None
            items, _ = await client.list(REMEDY_JOBS, label_selector=selector)
            return list(items)

    rows = history_rows(asyncio.run(run()), node)
    if not rows:
        typer.echo("No remediation jobs" + (f" for node {node}." if node else "."))
        return
    typer.echo(render(rows))


@app.command()
def approve(
    job: Annotated[str, typer.Argument(help="The RemedyOperationJob to approve.")],
    kubeconfig: Kubeconfig = None,
) -> None:
    """Approve a job a DefenderPolicy holds for approval (sets kubenode.io/approved=true)."""
    from kubenode.client import errors
    from kubenode.remedy.resources import REMEDY_JOBS

    async def run() -> str:
        async with _client(kubeconfig) as client:
            try:
                obj = await client.get(REMEDY_JOBS, job)
            except errors.NotFound:
                raise typer.BadParameter(f"remedyoperationjob {job!r} not found", param_hint="JOB") from None
            phase = (obj.get("status") or {}).get("phase") or c.JOB_PHASE_PENDING
            if phase in c.JOB_TERMINAL_PHASES:
                raise typer.BadParameter(f"job {job} is already {phase}; nothing to approve", param_hint="JOB")
            await client.patch(REMEDY_JOBS, job, {"metadata": {"annotations": {c.ANNOTATION_APPROVED: "true"}}},
                               field_manager="kubenode-cli")
            decision = ((obj.get("status") or {}).get("defender") or {}).get("decision", "")
            return decision

    decision = asyncio.run(run())
    note = "" if decision == c.DECISION_PENDING_APPROVAL else f" (its current decision is {decision or 'none'})"
    typer.echo(f"remedyoperationjob {job} approved{note}; the Remedy Operator reviews it again")
