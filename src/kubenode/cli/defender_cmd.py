"""`kubenode defender status|export|replay`: what every DefenderPolicy allows now, and what a candidate would have.

Reads only the policies' status (written by the Defender), so it works from
any machine with a kubeconfig and never disturbs the operator: one table per
policy with validity, circuit state, per-rule remaining budgets, and the
latest decisions. `export` and `replay` read the durable ledger (ConfigMaps
in kubenode-system, or an exported JSON-lines file) and decide the recorded
operations again under a candidate policy (docs/defender.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # rich and the client are imported by the commands that use them (an agent's start stays light)
    from rich.console import Console

    from kubenode.client.client import KubeClient

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
    from rich.table import Table

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
    from kubenode.client.errors import ApiError
    from kubenode.defender.resources import DEFENDER_POLICIES

    from .api_session import with_client

    async def fetch(client: KubeClient) -> list[Obj]:
        items, _ = await client.list(DEFENDER_POLICIES)
        return items

    try:
        policies = with_client(kubeconfig, fetch)
    except (ApiError, OSError) as exc:
        typer.echo(f"error: cannot list DefenderPolicies: {exc}", err=True)
        raise typer.Exit(1) from None
    from rich.console import Console

    render(policies, Console(width=160))


# --------------------------------------------------------------------------- the durable ledger

Since = Annotated[str, typer.Option("--since", help="Only operations reviewed within this long before now "
                                    "(e.g. 30m, 24h, 7d).")]
Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                 "~/.kube/config, in-cluster).")]

#: `kubenode defender replay` exit codes (docs/defender.md says the same).
EXIT_SAME, EXIT_DIFFERENT, EXIT_BAD_INPUT, EXIT_API = 0, 1, 2, 3


def _since_seconds(since: str) -> float | None:
    from kubenode.defender.windows import WindowError, parse_window

    if not since:
        return None
    try:
        return float(parse_window(since))
    except WindowError as exc:
        raise typer.BadParameter(f"{exc} (e.g. 30m, 24h, 7d)", param_hint="--since") from None


def _records(ledger: Path | None, since: str, kubeconfig: Path | None, default_since: str) -> list[Obj]:
    """The ledger's records from FILE or from the cluster, oldest first (errors exit with a message)."""
    import time

    from kubenode.defender.records import LedgerFormatError, parse_record_time, read_jsonl, sort_records

    window = _since_seconds(since or ("" if ledger is not None else default_since))
    cutoff = time.time() - window if window is not None else None
    if ledger is not None:
        try:
            text = ledger.read_text() if str(ledger) != "-" else typer.get_text_stream("stdin").read()
        except OSError as exc:
            typer.echo(f"error: cannot read the ledger file {ledger}: {exc.strerror or exc} (export one with "
                       "`kubenode defender export --ledger FILE`)", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        try:
            records = read_jsonl(text, str(ledger))
        except LedgerFormatError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        return sort_records(r for r in records if cutoff is None or parse_record_time(r["time"]) >= cutoff)
    from kubenode.client.errors import ApiError
    from kubenode.defender.store import LEDGER_NAMESPACE, read_ledger

    from .api_session import with_client

    try:
        return with_client(kubeconfig, lambda client: read_ledger(client, cutoff))
    except LedgerFormatError as exc:
        typer.echo(f"error: the ledger in {LEDGER_NAMESPACE} has a bad record: {exc}", err=True)
        raise typer.Exit(EXIT_API) from None
    except (ApiError, OSError) as exc:
        typer.echo(f"error: cannot read the Defender's ledger (ConfigMaps in {LEDGER_NAMESPACE}): {exc}", err=True)
        raise typer.Exit(EXIT_API) from None


@app.command()
def export(
    ledger: Annotated[Path, typer.Option("--ledger", help="File to write (JSON lines; - for stdout).")],
    since: Since = "",
    kubeconfig: Kubeconfig = None,
) -> None:
    """Export the Defender's durable ledger (every reviewed operation) as JSON lines, oldest first."""
    from kubenode.defender.records import to_jsonl

    records = _records(None, since, kubeconfig, "")
    text = to_jsonl(records)
    if str(ledger) == "-":
        typer.echo(text, nl=False)
        return
    try:
        ledger.write_text(text)
    except OSError as exc:
        typer.echo(f"error: cannot write {ledger}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"{len(records)} records written to {ledger}", err=True)


def _cell(v: Obj) -> str:
    d = str(v.get("decision", ""))
    reason = str(v.get("reason", ""))
    where = "/".join(x for x in (str(v.get("policy", "")), str(v.get("rule", ""))) if x)
    return f"{d} {reason}" + (f" ({where})" if where and d != "Allowed" else "")


def render_replay(result: Any, console: Console, *, only_differences: bool) -> None:
    """The side-by-side table and the summary."""
    from rich.table import Table

    from kubenode.defender.records import format_record_time

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("", "TIME", "OPERATION", "ID", "NODES", "CURRENT", "CANDIDATE"):
        table.add_column(col)
    for r in result.rows:
        if only_differences and not r.differs:
            continue
        nodes = ",".join(r.nodes[:2]) + (f" +{len(r.nodes) - 2}" if len(r.nodes) > 2 else "")
        table.add_row("≠" if r.differs else "", format_record_time(r.time)[:23],
                      f"{r.kind} {r.action}".strip(), r.op_id, nodes, _cell(r.current), _cell(r.candidate))
    console.print(table)
    s = result.summary()
    console.print()
    for side in ("current", "candidate"):
        c = s[side]
        console.print(f"{side:>9}: {c['Allowed']} allowed, {c['Denied']} denied, {c['PendingApproval']} "
                      "pending approval")
    console.print(f"{s['operations']} operations replayed ({s['finished']} finished records), "
                  f"{s['differences']} differ: {s['onlyCandidateAllowed']} only the candidate allows, "
                  f"{s['onlyCurrentAllowed']} only the current policy allows")
    if s["unrecordedLabelKeys"]:
        console.print(f"[yellow]warning: the candidate counts nodes by label keys the ledger did not record "
                      f"({', '.join(s['unrecordedLabelKeys'])}): healthy nodes are replayed without them[/yellow]")


@app.command()
def replay(
    policy: Annotated[Path, typer.Option("--policy", help="Candidate DefenderPolicy YAML (one or more "
                                         "documents: the complete set replayed instead of the current one).")],
    since: Since = "",
    ledger: Annotated[Path | None, typer.Option("--ledger", help="Replay this exported ledger (JSON lines) "
                                                "instead of reading it from the cluster.")] = None,
    kubeconfig: Kubeconfig = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
    only_differences: Annotated[bool, typer.Option("--differences", help="Only list the operations decided "
                                                   "differently (the summary counts all).")] = False,
) -> None:
    """Decide the recorded operations again under a candidate policy; show both decisions side by side.

    Reads the ledger from the cluster (default: the last 24h) or from --ledger FILE. Exit codes: 0 the
    candidate decides every operation as the current policy did, 1 some differ, 2 bad input (policy file,
    ledger file, --since, nothing recorded), 3 the ledger cannot be read from the cluster.
    """
    import json

    from kubenode.defender.candidate import CandidateError, load_candidate
    from kubenode.defender.replay import replay as run_replay

    if output not in ("table", "json"):
        raise typer.BadParameter("must be table or json", param_hint="--output")
    try:
        candidate = load_candidate(policy.read_text(), str(policy))
    except OSError as exc:
        typer.echo(f"error: cannot read the candidate policy {policy}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except CandidateError as exc:
        typer.echo("error: the candidate policy cannot be replayed; fix:\n  " + "\n  ".join(exc.errors), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    records = _records(ledger, since, kubeconfig, "24h")
    if not any(r.get("type") == "review" for r in records):
        where = str(ledger) if ledger is not None else "the cluster's ledger"
        typer.echo(f"error: {where} holds no reviewed operation{' in the last ' + since if since else ''}: "
                   "nothing to replay (widen --since, or export a ledger where the Defender ran)", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    result = run_replay(records, candidate)
    if output == "json":
        typer.echo(json.dumps({"rows": [r.as_dict() for r in result.rows], "summary": result.summary()},
                              indent=2))
    else:
        from rich.console import Console

        render_replay(result, Console(width=200), only_differences=only_differences)
    raise typer.Exit(EXIT_DIFFERENT if result.differences else EXIT_SAME)
