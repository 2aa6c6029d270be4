"""`kubenode defender status`: what every DefenderPolicy allows right now, and why.

Reads only the policies' status (written by the Defender), so it works from
any machine with a kubeconfig and never disturbs the operator: one table per
policy with validity, circuit state, per-rule remaining budgets, and the
latest decisions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="The Defender: risk control over fleet operations.", no_args_is_help=True)

Obj = dict[str, Any]


def _condition(status: Obj, type_: str) -> Obj:
    return next((x for x in status.get("conditions") or [] if x.get("type") == type_), {})


def _rule_line(rule: Obj) -> str:
    parts = [f"{b.get('window')} {b.get('remaining', '?')}/{b.get('limit', '?')}" for b in rule.get("budgets") or []]
    if "concurrent" in rule:
        parts.append(f"in progress {rule['concurrent']}")
    if "unhealthy" in rule:
        parts.append(f"unhealthy {rule['unhealthy']}")
    if rule.get("frozen"):
        parts.append("FROZEN")
    return ", ".join(parts) or "-"


def render(policies: list[Obj], console: Console) -> None:
    """Print one block per policy (separated so scripts and humans can both read it)."""
    if not policies:
        console.print("[yellow]no DefenderPolicy: nothing is throttled[/yellow]")
        return
    for p in sorted(policies, key=lambda o: o["metadata"]["name"]):
        name = p["metadata"]["name"]
        status = p.get("status") or {}
        valid = _condition(status, "Valid")
        circuit = status.get("circuit") or {}
        ok = valid.get("status") == "True"
        head = (f"[bold]{name}[/bold]  valid: {'yes' if ok else '[red]NO[/red]'}"
                f"  circuit: {circuit.get('state', 'unknown')}")
        if circuit.get("openUntil") and circuit.get("state") != "Closed":
            head += f" until {circuit['openUntil']}"
        if circuit.get("reason") and circuit.get("state") != "Closed":
            head += f" ({circuit['reason']}: {circuit.get('message', '')})"
        console.print(head)
        if not ok and valid:
            console.print(f"  [red]{valid.get('message', '')}[/red]")
        rules = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        rules.add_column("RULE")
        rules.add_column("OPERATIONS")
        rules.add_column("REMAINING (window remaining/limit)")
        usage = {r.get("name"): r for r in status.get("rules") or []}
        for spec_rule in (p.get("spec") or {}).get("rules") or []:
            ops = ",".join(spec_rule.get("operations") or [])
            if spec_rule.get("actions"):
                ops += " (" + ",".join(spec_rule["actions"]) + ")"
            rules.add_row(str(spec_rule.get("name")), ops, _rule_line(usage.get(spec_rule.get("name"), {})))
        console.print(rules)
        decisions = status.get("recentDecisions") or []
        if decisions:
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
            for col in ("TIME", "OPERATION", "ID", "DECISION", "RULE", "REASON"):
                table.add_column(col)
            for d in decisions[:5]:
                table.add_row(str(d.get("time", ""))[:19], f"{d.get('operation', '')} {d.get('action', '')}".strip(),
                              str(d.get("id", "")), str(d.get("decision", "")), str(d.get("rule", "")),
                              str(d.get("reason", "")))
            console.print(table)
        else:
            console.print("  no decisions yet")
        console.print()


@app.command()
def status(
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                    "~/.kube/config, in-cluster).")] = None,
) -> None:
    """Show every DefenderPolicy: valid?, circuit state, remaining budgets per rule, recent decisions."""
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config
    from kubenode.client.errors import ApiError, ConfigError
    from kubenode.defender.resources import DEFENDER_POLICIES

    try:
        config = load_config(kubeconfig)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kubeconfig") from None

    async def fetch() -> list[Obj]:
        async with KubeClient(config) as client:
            items, _ = await client.list(DEFENDER_POLICIES)
            return items

    try:
        policies = asyncio.run(fetch())
    except (ApiError, OSError) as exc:
        typer.echo(f"error: cannot list DefenderPolicies: {exc}", err=True)
        raise typer.Exit(1) from None
    render(policies, Console(width=160))
