"""`kubenode diagnose node NAME`: everything about one node in one view.

Machine and Node conditions, recent Events of both, the node's remediation
jobs with the Defender's verdicts (and the policies' recent decisions about
them), its components with health and drift, the agent's recent log lines
(from the agent's `/logs`, with the caller's own credentials) and metric
highlights (from Prometheus with `--prometheus URL`, else one scrape of the
agent's `/metrics`). Whatever cannot be had is shown as unavailable *with
the reason* — never filled in. `-o json` gives the same as one document.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from kubenode.api import constants as c

app = typer.Typer(help="Diagnostics: everything about one node in one view.", no_args_is_help=True)

Obj = Mapping[str, Any]
MAX_EVENTS = 20
MAX_JOBS = 10
LOG_LINES = 50
#: Agent metrics shown as highlights (every sample of these families), besides non-zero problem counters.
AGENT_HIGHLIGHTS = ("node_load1", "node_load5", "node_load15", "node_memory_MemAvailable_bytes",
                    "node_memory_MemTotal_bytes", "node_boot_time_seconds", "node_vmstat_oom_kill")
#: PromQL highlights with `--prometheus`: `{m}` is the machine name, `{n}` the node name.
PROM_HIGHLIGHTS = {
    "agent up": 'up{{job="kubenode-agents",machine="{m}"}}',
    "cpu utilization (5m)": '1 - avg(rate(node_cpu_seconds_total{{job="kubenode-agents",machine="{m}",'
                            'mode="idle"}}[5m]))',
    "memory utilization": '1 - node_memory_MemAvailable_bytes{{job="kubenode-agents",machine="{m}"}}'
                          ' / node_memory_MemTotal_bytes{{job="kubenode-agents",machine="{m}"}}',
    "load1": 'node_load1{{job="kubenode-agents",machine="{m}"}}',
    "problems (1h)": 'sum by (reason) (increase(problem_counter{{job="kubenode-agents",machine="{m}"}}[1h])) > 0',
    "firing alerts": 'ALERTS{{alertstate="firing",machine="{m}"}} or ALERTS{{alertstate="firing",node="{n}"}}',
}


def _name(o: Obj | None) -> str:
    return str(((o or {}).get("metadata") or {}).get("name", ""))


def _conditions(obj: Obj | None) -> list[dict[str, Any]]:
    out = []
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping):
            out.append({k: cond.get(k, "") for k in ("type", "status", "reason", "message", "lastTransitionTime")})
    return out


def _event_time(e: Obj) -> str:
    return str(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
               or "")


def agent_highlights(text: str) -> list[dict[str, Any]]:
    """The highlight samples of one agent scrape (see `AGENT_HIGHLIGHTS`; problems only when non-zero)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            wanted = s.name in AGENT_HIGHLIGHTS or (
                s.name in ("problem_counter", "problem_gauge", "problem_counter_total") and s.value)
            if wanted and not math.isnan(s.value):
                # The parser appends `_total` to counters; show NPD's name as the agent exposes it.
                metric = "problem_counter" if s.name == "problem_counter_total" else s.name
                out.append({"metric": metric, "labels": dict(s.labels), "value": s.value})
    return out


def diagnosis(name: str, machine: Obj | None, node: Obj | None, events: Sequence[Obj], jobs: Sequence[Obj],
              policies: Sequence[Obj], components: Sequence[Obj], logs: Mapping[str, Any],
              metrics: Mapping[str, Any]) -> dict[str, Any]:
    """One document about node `name` from what was fetched. Pure."""
    from kubenode.cli.reports import condition

    st = (machine or {}).get("status") or {}
    agent = st.get("agent") or {}
    job_rows = []
    op_ids = {f"job/{(j.get('metadata') or {}).get('uid', '')}" for j in jobs}
    if machine is not None:
        op_ids.add(f"machine/{(machine.get('metadata') or {}).get('uid', '')}")
    for j in sorted(jobs, key=lambda j: str((j.get("metadata") or {}).get("creationTimestamp", "")),
                    reverse=True)[:MAX_JOBS]:
        spec, jst = j.get("spec") or {}, j.get("status") or {}
        job_rows.append({"name": _name(j), "rule": spec.get("rule", ""),
                         "action": (spec.get("action") or {}).get("type", ""),
                         "phase": jst.get("phase") or c.JOB_PHASE_PENDING, "defender": jst.get("defender") or {},
                         "created": (j.get("metadata") or {}).get("creationTimestamp", ""),
                         "message": jst.get("message", "")})
    decisions = []
    for p in policies:
        for d in ((p.get("status") or {}).get("recentDecisions") or []):
            if isinstance(d, Mapping) and d.get("id") in op_ids:
                decisions.append({"policy": _name(p), **{k: d.get(k, "") for k in
                                                         ("time", "operation", "action", "decision", "rule",
                                                          "reason", "message")}})
    decisions.sort(key=lambda d: str(d["time"]), reverse=True)
    comps = []
    for mc in sorted(components, key=lambda o: str((o.get("spec") or {}).get("component", ""))):
        spec, mst = mc.get("spec") or {}, mc.get("status") or {}
        drift = condition(mc, "Drifted")
        comps.append({"component": spec.get("component", ""), "desiredVersion": spec.get("version", ""),
                      "installedVersion": mst.get("installedVersion", ""),
                      "phase": mst.get("phase") or c.COMPONENT_PHASE_PENDING, "healthy": mst.get("healthy"),
                      "drifted": None if drift is None else str(drift.get("status")) == c.CONDITION_TRUE,
                      "driftMessage": (drift or {}).get("message", ""), "message": mst.get("message", "")})
    evs = sorted(events, key=_event_time, reverse=True)[:MAX_EVENTS]
    return {
        "node": name,
        "machine": None if machine is None else {
            "name": _name(machine), "phase": st.get("phase") or c.MACHINE_PHASE_PENDING,
            "provider": ((machine.get("spec") or {}).get("providerRef") or {}).get("name", ""),
            "providerID": st.get("providerID") or (machine.get("spec") or {}).get("providerID", ""),
            "failureReason": st.get("failureReason", ""), "failureMessage": st.get("failureMessage", ""),
            "agent": {k: agent.get(k, "") for k in ("version", "lastHeartbeatTime", "bootID", "metricsEndpoint")},
            "conditions": _conditions(machine)},
        "nodeObject": None if node is None else {
            "name": _name(node), "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
            "taints": (node.get("spec") or {}).get("taints") or [],
            "conditions": _conditions(node)},
        "events": [{"time": _event_time(e), "type": e.get("type", ""), "reason": e.get("reason", ""),
                    "object": f"{(e.get('involvedObject') or {}).get('kind', '')}/"
                              f"{(e.get('involvedObject') or {}).get('name', '')}",
                    "message": e.get("message", ""), "count": e.get("count", 1)} for e in evs],
        "remediationJobs": job_rows,
        "defenderDecisions": decisions,
        "components": comps,
        "agentLogs": dict(logs),
        "metrics": dict(metrics),
    }


def _section(title: str) -> str:
    return f"\n{title}\n{'-' * len(title)}"


def render(d: Mapping[str, Any]) -> str:
    """The human view of a diagnosis."""
    from kubenode.cli.reports import render_table

    out = [f"Node {d['node']}"]
    m = d["machine"]
    if m is None:
        out.append("Machine: none names this node")
    else:
        a = m["agent"]
        out.append(f"Machine {m['name']}: {m['phase']} (provider {m['provider'] or '-'}, "
                   f"{m['providerID'] or 'no providerID'})")
        if m["failureReason"]:
            out.append(f"  failed: {m['failureReason']}: {m['failureMessage']}")
        out.append(f"  agent {a['version'] or '?'}, last heartbeat {a['lastHeartbeatTime'] or 'never'}, "
                   f"boot {a['bootID'] or '?'}, endpoint {a['metricsEndpoint'] or 'none'}")
    for title, conds in (("Machine conditions", (m or {}).get("conditions")),
                         ("Node conditions", (d["nodeObject"] or {}).get("conditions"))):
        out.append(_section(title))
        if conds is None:
            out.append("(no Node object)" if title.startswith("Node") else "(no Machine)")
        else:
            out.append(render_table(("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"),
                                    [(x["type"], str(x["status"]), x["reason"], str(x["lastTransitionTime"]),
                                      str(x["message"])[:90]) for x in conds]))
    if d["nodeObject"] is not None:
        n = d["nodeObject"]
        taints = ", ".join(f"{t.get('key')}:{t.get('effect')}" for t in n["taints"]) or "none"
        out.append(f"unschedulable: {str(n['unschedulable']).lower()}; taints: {taints}")
    out.append(_section("Recent events"))
    out.append(render_table(("TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"),
                            [(e["time"], e["type"], e["reason"], e["object"], str(e["message"])[:90])
                             for e in d["events"]]) if d["events"] else "(none)")
    out.append(_section("Remediation jobs"))
    out.append(render_table(("NAME", "RULE", "ACTION", "PHASE", "DEFENDER", "CREATED"),
                            [(j["name"], j["rule"], j["action"], j["phase"],
                              f"{j['defender'].get('decision', '-')} {j['defender'].get('reason', '')}".strip(),
                              j["created"]) for j in d["remediationJobs"]]) if d["remediationJobs"] else "(none)")
    out.append(_section("Defender decisions"))
    out.append(render_table(("TIME", "POLICY", "OPERATION", "DECISION", "RULE", "REASON"),
                            [(x["time"], x["policy"], x["operation"], x["decision"], x["rule"] or "-", x["reason"])
                             for x in d["defenderDecisions"]]) if d["defenderDecisions"] else "(none)")
    out.append(_section("Components"))
    out.append(render_table(("COMPONENT", "DESIRED", "INSTALLED", "PHASE", "HEALTHY", "DRIFT"),
                            [(x["component"], x["desiredVersion"], x["installedVersion"] or "-", x["phase"],
                              "-" if x["healthy"] is None else str(x["healthy"]).lower(),
                              "-" if x["drifted"] is None else ("DRIFTED " + x["driftMessage"] if x["drifted"]
                                                                else "no"))
                             for x in d["components"]]) if d["components"] else "(none)")
    logs = d["agentLogs"]
    out.append(_section("Agent logs"))
    if logs.get("available"):
        out.extend(logs["lines"] or ["(no lines yet)"])
    else:
        out.append(f"agent logs unavailable: {logs.get('reason', '')}")
    metrics = d["metrics"]
    out.append(_section(f"Metrics highlights ({metrics.get('source', '-')})"))
    if metrics.get("available"):
        for h in metrics["highlights"]:
            labels = ",".join(f"{k}={v}" for k, v in sorted(h["labels"].items())
                              if k not in ("job", "instance", "machine", "node", "machineset", "__name__"))
            out.append(f"{h['metric']}{'{' + labels + '}' if labels else ''} {h['value']:g}")
        if not metrics["highlights"]:
            out.append("(no highlight series)")
    else:
        out.append(f"metrics unavailable: {metrics.get('reason', '')}")
    return "\n".join(out)


async def gather(client: Any, name: str, prometheus: str | None) -> dict[str, Any]:
    """Fetch everything about node (or machine) `name` and build the diagnosis."""
    from kubenode.client import errors
    from kubenode.client.agent_endpoint import fetch_agent_logs, fetch_agent_metrics
    from kubenode.client.resources import EVENTS, NODES
    from kubenode.componentset.resources import MACHINE_COMPONENTS
    from kubenode.defender.resources import DEFENDER_POLICIES
    from kubenode.machine.resources import MACHINES
    from kubenode.metrics.state_metrics import node_of
    from kubenode.remedy.resources import REMEDY_JOBS

    machines, _ = await client.list(MACHINES)
    machine = next((m for m in machines if _name(m) == name), None) or next(
        (m for m in machines if node_of(m) == name), None)
    node_name = (node_of(machine) or _name(machine)) if machine is not None else name
    try:
        node = await client.get(NODES, node_name)
    except errors.NotFound:
        node = None
    if machine is None and node is None:
        raise typer.BadParameter(f"no Machine and no Node is named {name!r} (kubectl get machines,nodes)",
                                 param_hint="NAME")
    names = {node_name, _name(machine)} - {""}
    event_lists = await asyncio.gather(*(client.list(EVENTS, field_selector=f"involvedObject.name={n}")
                                         for n in sorted(names)))
    events = [e for items, _ in event_lists for e in items]
    (jobs, _), (policies, _) = await asyncio.gather(
        client.list(REMEDY_JOBS, label_selector=f"{c.LABEL_NODE}={node_name}"), client.list(DEFENDER_POLICIES))
    components: list[Obj] = []
    if machine is not None:
        components, _ = await client.list(MACHINE_COMPONENTS, label_selector=f"{c.LABEL_MACHINE}={_name(machine)}")
    endpoint = ((machine or {}).get("status") or {}).get("agent", {}).get("metricsEndpoint")
    logs = await fetch_agent_logs(endpoint, client.config, LOG_LINES)
    metrics: dict[str, Any]
    if prometheus:
        metrics = await _prometheus_highlights(prometheus, _name(machine) or name, node_name)
    else:
        scrape = await fetch_agent_metrics(endpoint)
        metrics = {"source": "agent /metrics", "available": scrape.available, "reason": scrape.reason,
                   "highlights": agent_highlights(scrape.text) if scrape.available else []}
    return diagnosis(name, machine, node, events, jobs, policies, components,
                     {"available": logs.available, "lines": logs.lines, "reason": logs.reason, "url": logs.url},
                     metrics)


async def _prometheus_highlights(url: str, machine: str, node: str) -> dict[str, Any]:
    from kubenode.client.prometheus import PrometheusClient, PrometheusError

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"')

    try:
        async with PrometheusClient(url) as prom:
            queries = {k: q.format(m=esc(machine), n=esc(node)) for k, q in PROM_HIGHLIGHTS.items()}
            answers = await asyncio.gather(*(prom.query(q) for q in queries.values()))
    except PrometheusError as exc:
        return {"source": f"prometheus {url}", "available": False, "reason": str(exc), "highlights": []}
    highlights = [{"metric": title, "labels": s.labels, "value": s.value}
                  for title, samples in zip(queries, answers, strict=True) for s in samples]
    return {"source": f"prometheus {url}", "available": True, "reason": "", "highlights": highlights}


@app.command("node")
def node_cmd(
    name: Annotated[str, typer.Argument(help="Node (or Machine) name.")],
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
    prometheus: Annotated[str | None, typer.Option("--prometheus", help="Prometheus base URL for metric "
                                                   "highlights (default: one scrape of the agent).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                    "~/.kube/config, in-cluster).")] = None,
) -> None:
    """Everything about one node: conditions, events, remediation, Defender, components, agent logs, metrics."""
    from kubenode.cli.report_cmd import api_client
    from kubenode.client.errors import KubeError

    if output not in ("table", "json"):
        raise typer.BadParameter(f"{output!r}: use table or json", param_hint="--output")

    async def run() -> dict[str, Any]:
        async with api_client(kubeconfig) as client:
            return await gather(client, name, prometheus)

    try:
        d = asyncio.run(run())
    except KubeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if output == "json":
        typer.echo(orjson.dumps(d, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(render(d))
