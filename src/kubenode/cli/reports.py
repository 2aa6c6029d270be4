"""The reports of `kubenode report`, as pure functions of fetched objects and query results.

Each builder returns a JSON-ready dict (the `-o json` answer) and a table
renderer turns it into rows. Nothing here does I/O, so every rule (what
counts as drift, how shares and percentiles are computed) is unit-tested
table-driven; `report_cmd` fetches and prints.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c
from kubenode.apimachinery.timefmt import parse_micro
from kubenode.metrics.state_metrics import machineset_of, node_of

Obj = Mapping[str, Any]
NONE = "(none)"
_DURATION = re.compile(r"^([1-9][0-9]*)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: str) -> int:
    """Seconds of a Prometheus-style duration (`90s`, `30m`, `24h`, `7d`, `1w`); ValueError says what to write."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration: write a positive number and a unit s, m, h, d or w (e.g. 24h)")
    return int(m.group(1)) * _UNIT[m.group(2)]


def parse_by(text: str) -> str:
    """`machineset` or `label:KEY`; ValueError otherwise."""
    if text == "machineset" or (text.startswith("label:") and len(text) > len("label:")):
        return text
    raise ValueError(f"{text!r}: group by `machineset` or `label:KEY` (a Machine label, e.g. label:zone)")


timestamp = parse_micro  # Unix seconds of an RFC 3339 string; None when absent or unparsable


def _name(o: Obj) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    """The condition `type_` of an object's status, if any."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def group_of(machine: Obj, by: str) -> str:
    """The group of a Machine: its MachineSet, or the value of label KEY for `label:KEY`."""
    if by.startswith("label:"):
        return str(((machine.get("metadata") or {}).get("labels") or {}).get(by[len("label:"):], NONE))
    return machineset_of(machine) or NONE


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass
class Fleet:
    """What the reports read from the API (lists of raw objects) and the clock."""

    now: float
    machines: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    components: list[Obj] = field(default_factory=list)
    component_sets: list[Obj] = field(default_factory=list)
    jobs: list[Obj] = field(default_factory=list)
    providers: list[Obj] = field(default_factory=list)
    #: Provider instances by InfraProvider name, for the providers whose instances can be listed.
    instances: dict[str, list[str]] = field(default_factory=dict)

    def live_machines(self) -> list[Obj]:
        """Machines not being deleted."""
        return [m for m in self.machines if not (m.get("metadata") or {}).get("deletionTimestamp")]


# --------------------------------------------------------------------------- coverage

def coverage_report(fleet: Fleet, by: str = "machineset") -> dict[str, Any]:
    """Per group and component: machines, desired version(s), installed versions with their share."""
    machines = fleet.live_machines()
    group = {_name(m): group_of(m, by) for m in machines}
    size: Counter[str] = Counter(group.values())
    desired: dict[str, set[str]] = defaultdict(set)
    for s in fleet.component_sets:
        spec = s.get("spec") or {}
        if spec.get("component"):
            desired[str(spec["component"])].add(str((spec.get("template") or {}).get("version") or ""))
    versions: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for mc in fleet.components:
        spec, st = mc.get("spec") or {}, mc.get("status") or {}
        machine = str(spec.get("machineName", ""))
        if machine not in group:
            continue
        versions[(group[machine], str(spec.get("component", "")))][str(st.get("installedVersion") or
                                                                           "(not installed)")] += 1
    components = sorted({comp for _, comp in versions} | set(desired))
    groups = []
    for g in sorted(size):
        n = size[g]
        rows = []
        for comp in components:
            counts = versions.get((g, comp), Counter())
            have = sum(counts.values())
            want = sorted(desired.get(comp, set()))
            rows.append({"component": comp, "desiredVersions": want, "machines": have, "share": _ratio(have, n),
                         "atDesired": sum(v for k, v in counts.items() if k in want),
                         "versions": [{"version": v, "machines": k, "share": _ratio(k, n)}
                                      for v, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
                         + ([{"version": "(missing)", "machines": n - have, "share": _ratio(n - have, n)}]
                            if n - have else [])})
        groups.append({"group": g, "machines": n, "components": rows})
    return {"by": by, "machines": len(machines), "groups": groups}


def coverage_rows(report: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of the coverage table."""
    header = ("GROUP", "COMPONENT", "VERSION", "DESIRED", "MACHINES", "SHARE")
    rows: list[tuple[str, ...]] = []
    for g in report["groups"]:
        for comp in g["components"]:
            for v in comp["versions"]:
                rows.append((str(g["group"]), str(comp["component"]), str(v["version"]),
                             ",".join(comp["desiredVersions"]) or "-", f"{v['machines']}/{g['machines']}",
                             _pct(v["share"])))
    return header, rows


# --------------------------------------------------------------------------- consistency

def _node_names(machines: Iterable[Obj]) -> set[str]:
    out = set()
    for m in machines:
        out.add(_name(m))
        if node_of(m):
            out.add(node_of(m))
    return out


def _taint_key(t: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(t.get("key", "")), str(t.get("value", "")), str(t.get("effect", "")))


def consistency_report(fleet: Fleet) -> dict[str, Any]:
    """Machines without Nodes, Nodes without Machines, instances without Machines, label/taint and component drift."""
    machines = fleet.live_machines()
    nodes = {_name(n): n for n in fleet.nodes}
    machine_names = {_name(m) for m in fleet.machines}
    without_nodes, label_drift, taint_drift = [], [], []
    for m in machines:
        st = m.get("status") or {}
        node_name = node_of(m)
        joined = bool((st.get("nodeRef") or {}).get("name")) or st.get("phase") in (c.MACHINE_PHASE_RUNNING,
                                                                                  c.MACHINE_PHASE_DRAINING)
        node = nodes.get(node_name or _name(m))
        if node is None:
            if joined:
                without_nodes.append({"machine": _name(m), "node": node_name or _name(m),
                                      "phase": st.get("phase") or c.MACHINE_PHASE_PENDING})
            continue
        spec = m.get("spec") or {}
        labels = (node.get("metadata") or {}).get("labels") or {}
        want = {str(k): str(v) for k, v in (spec.get("nodeLabels") or {}).items()}
        want[c.LABEL_MACHINE] = _name(m)
        for key, value in sorted(want.items()):
            if labels.get(key) != value:
                label_drift.append({"machine": _name(m), "node": _name(node), "key": key, "want": value,
                                    "have": labels.get(key)})
        have_taints = {_taint_key(t) for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, Mapping)}
        for t in spec.get("nodeTaints") or []:
            if _taint_key(t) not in have_taints:
                taint_drift.append({"machine": _name(m), "node": _name(node), "taint": _taint_text(t),
                                    "problem": "missing on the Node"})
        if spec.get("unschedulable") is not None and bool(spec["unschedulable"]) != bool(
                (node.get("spec") or {}).get("unschedulable")):
            taint_drift.append({"machine": _name(m), "node": _name(node), "taint": "unschedulable",
                                "problem": f"Machine wants unschedulable={bool(spec['unschedulable'])}"})
    known_nodes = _node_names(fleet.machines)
    without_machines = [{"node": n} for n in sorted(nodes) if n not in known_nodes]
    instances: list[dict[str, str]] = []
    listed = sorted(fleet.instances)
    for provider, names in sorted(fleet.instances.items()):
        owned = {_name(m) for m in fleet.machines
                 if ((m.get("spec") or {}).get("providerRef") or {}).get("name") == provider}
        instances.extend({"provider": provider, "instance": i} for i in sorted(names) if i not in owned)
    not_listed = sorted(_name(p) for p in fleet.providers if _name(p) not in fleet.instances)
    drift = []
    orphans = []
    for mc in fleet.components:
        spec = mc.get("spec") or {}
        d = condition(mc, "Drifted")
        if d is not None and str(d.get("status")) == c.CONDITION_TRUE:
            drift.append({"machine": spec.get("machineName", ""), "component": spec.get("component", ""),
                          "reason": d.get("reason", ""), "message": d.get("message", "")})
        if spec.get("machineName") and spec["machineName"] not in machine_names:
            orphans.append({"machinecomponent": _name(mc), "machine": spec["machineName"]})
    findings = {"machinesWithoutNodes": without_nodes, "nodesWithoutMachines": without_machines,
                "instancesWithoutMachines": instances, "labelDrift": label_drift, "taintDrift": taint_drift,
                "componentDrift": drift, "componentsWithoutMachines": orphans}
    return {"consistent": not any(findings.values()), "counts": {k: len(v) for k, v in findings.items()},
            **findings, "providersListed": listed, "providersNotListable": not_listed}


def _taint_text(t: Mapping[str, Any]) -> str:
    key, value, effect = _taint_key(t)
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


def consistency_rows(report: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of the consistency table: one row per finding."""
    header = ("KIND", "OBJECT", "DETAIL")
    rows: list[tuple[str, ...]] = []
    for f in report["machinesWithoutNodes"]:
        rows.append(("MachineWithoutNode", f"machine/{f['machine']}",
                     f"node {f['node']} does not exist (machine is {f['phase']})"))
    for f in report["nodesWithoutMachines"]:
        rows.append(("NodeWithoutMachine", f"node/{f['node']}", "no Machine names this node"))
    for f in report["instancesWithoutMachines"]:
        rows.append(("InstanceWithoutMachine", f"{f['provider']}/{f['instance']}",
                     "provider instance that no Machine owns"))
    for f in report["labelDrift"]:
        have = "missing" if f["have"] is None else repr(f["have"])
        rows.append(("LabelDrift", f"node/{f['node']}", f"{f['key']}: Machine wants {f['want']!r}, Node has {have}"))
    for f in report["taintDrift"]:
        rows.append(("TaintDrift", f"node/{f['node']}", f"{f['taint']}: {f['problem']}"))
    for f in report["componentDrift"]:
        rows.append(("ComponentDrift", f"machine/{f['machine']}", f"{f['component']}: {f['message'] or f['reason']}"))
    for f in report["componentsWithoutMachines"]:
        rows.append(("ComponentWithoutMachine", f"machinecomponent/{f['machinecomponent']}",
                     f"machine {f['machine']} does not exist"))
    return header, rows


# --------------------------------------------------------------------------- SLO

#: PromQL of the SLO report; `{w}` is the window, `{step}` the subquery resolution.
SLO_QUERIES = {
    "nodeAvailability": 'avg_over_time((sum(kubenode_machine_status_condition{{condition="NodeReady",status="true"}})'
                        " / count(kubenode_machine_info))[{w}:{step}])",
    "agentsUp": 'avg_over_time(avg(up{{job="kubenode-agents"}})[{w}:{step}])',
    "recoveryP50Seconds": "histogram_quantile(0.5, sum by (le) "
                          "(increase(kubenode_remedy_detection_to_recovery_seconds_bucket[{w}])))",
    "recoveryP90Seconds": "histogram_quantile(0.9, sum by (le) "
                          "(increase(kubenode_remedy_detection_to_recovery_seconds_bucket[{w}])))",
    "remediationOutcomes": "sum by (phase) (increase(kubenode_remedy_job_outcomes_total[{w}]))",
    "rollbacks": "sum(increase(kubenode_machinecomponentset_rollbacks_total[{w}]))",
}


def slo_queries(window: int) -> dict[str, str]:
    """The SLO queries for a window of `window` seconds (subqueries at window/60, at least 5 s)."""
    step = f"{max(5, window // 60)}s"
    return {k: q.format(w=f"{window}s", step=step) for k, q in SLO_QUERIES.items()}


def _job_finished(job: Obj) -> float | None:
    return timestamp((job.get("status") or {}).get("completionTime"))


def slo_report(fleet: Fleet, window: int, prometheus: Mapping[str, list[tuple[dict[str, str], float]]] | None = None
               ) -> dict[str, Any]:
    """Node availability, remediation time to healthy and rollout success over the last `window` seconds."""
    since = fleet.now - window
    machines = fleet.live_machines()
    ready_now = [m for m in machines if str((condition(m, c.MACHINE_CONDITION_NODE_READY) or {}).get("status"))
                 == c.CONDITION_TRUE]
    whole = [m for m in ready_now
             if (timestamp((condition(m, c.MACHINE_CONDITION_NODE_READY) or {}).get("lastTransitionTime"))
                 or fleet.now) <= since]
    availability = {"machines": len(machines), "nodeReadyNow": len(ready_now),
                    "nodeReadyNowRatio": _ratio(len(ready_now), len(machines)),
                    "readyWholeWindow": len(whole), "readyWholeWindowRatio": _ratio(len(whole), len(machines))}
    finished = [j for j in fleet.jobs if (_job_finished(j) or 0) >= since]
    phases: Counter[str] = Counter(str((j.get("status") or {}).get("phase")) for j in finished)
    healed = []
    for j in fleet.jobs:
        cond = condition(j, c.JOB_CONDITION_COMPLETE)
        if cond is None or cond.get("reason") != c.JOB_REASON_NODE_HEALTHY:
            continue
        t_ok = timestamp(cond.get("lastTransitionTime"))
        t0 = timestamp((j.get("metadata") or {}).get("creationTimestamp"))
        if t_ok is not None and t0 is not None and t_ok >= since:
            healed.append(max(0.0, t_ok - t0))
    done = phases[c.JOB_PHASE_SUCCEEDED] + phases[c.JOB_PHASE_FAILED] + phases[c.JOB_PHASE_TIMED_OUT]
    remediation = {"jobsFinished": len(finished), "byPhase": dict(sorted(phases.items())),
                   "successRatio": _ratio(phases[c.JOB_PHASE_SUCCEEDED], done),
                   "nodesHealedAgain": len(healed), "timeToHealthySeconds": {
                       "p50": percentile(healed, 50), "p90": percentile(healed, 90),
                       "max": max(healed) if healed else None}}
    rollouts = []
    outcome: Counter[str] = Counter()
    for s in fleet.component_sets:
        st = s.get("status") or {}
        revs = [r for r in st.get("revisions") or [] if isinstance(r, Mapping)]
        current = next((r for r in revs if r.get("name") == st.get("updateRevision")), None)
        started = timestamp((current or {}).get("createdAt"))
        if started is None or started < since:
            continue
        degraded = str((condition(s, c.COMPONENT_SET_CONDITION_DEGRADED) or {}).get("status")) == c.CONDITION_TRUE
        phase = str(st.get("phase") or "")
        result = ("Succeeded" if phase == c.ROLLOUT_PHASE_COMPLETED and not degraded else
                  "Failed" if degraded or phase in (c.ROLLOUT_PHASE_FAILED, c.ROLLOUT_PHASE_ROLLING_BACK) else
                  "InProgress")
        outcome[result] += 1
        rollouts.append({"machinecomponentset": _name(s), "version": (current or {}).get("version", ""),
                         "phase": phase, "result": result})
    out: dict[str, Any] = {
        "window": f"{window}s", "source": "api",
        "nodeAvailability": availability, "remediation": remediation,
        "rollouts": {"started": len(rollouts), "succeeded": outcome["Succeeded"], "failed": outcome["Failed"],
                     "inProgress": outcome["InProgress"],
                     "successRatio": _ratio(outcome["Succeeded"], outcome["Succeeded"] + outcome["Failed"]),
                     "items": rollouts}}
    if prometheus is not None:
        out["source"] = "api+prometheus"
        first = {k: (v[0][1] if v else None) for k, v in prometheus.items()}
        outcomes = {labels.get("phase", ""): value for labels, value in prometheus.get("remediationOutcomes", [])}
        out["prometheus"] = {"nodeAvailabilityAvg": first.get("nodeAvailability"),
                             "agentsUpAvg": first.get("agentsUp"),
                             "recoverySeconds": {"p50": first.get("recoveryP50Seconds"),
                                                 "p90": first.get("recoveryP90Seconds")},
                             "remediationOutcomes": dict(sorted(outcomes.items())),
                             "rollbacks": first.get("rollbacks")}
    return out


def slo_rows(report: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of the SLO table."""
    a, r, ro = report["nodeAvailability"], report["remediation"], report["rollouts"]
    t = r["timeToHealthySeconds"]
    rows: list[tuple[str, ...]] = [
        ("node availability", "Ready now", f"{a['nodeReadyNow']}/{a['machines']}", _pct(a["nodeReadyNowRatio"])),
        ("node availability", "Ready for the whole window", f"{a['readyWholeWindow']}/{a['machines']}",
         _pct(a["readyWholeWindowRatio"])),
        ("remediation", "jobs finished (success)", str(r["jobsFinished"]), _pct(r["successRatio"])),
        ("remediation", "time to healthy p50 / p90 / max", str(r["nodesHealedAgain"]),
         " / ".join(_secs(t[k]) for k in ("p50", "p90", "max"))),
        ("rollouts", "started in window (success)", f"{ro['succeeded']} ok, {ro['failed']} failed, "
                                                    f"{ro['inProgress']} in progress", _pct(ro["successRatio"])),
    ]
    p = report.get("prometheus")
    if p:
        rows += [
            ("prometheus", "node availability, window average", "", _pct(p["nodeAvailabilityAvg"])),
            ("prometheus", "agents up, window average", "", _pct(p["agentsUpAvg"])),
            ("prometheus", "detection to recovery p50 / p90", "",
             " / ".join(_secs(p["recoverySeconds"][k]) for k in ("p50", "p90"))),
            ("prometheus", "remediation outcomes", "",
             ", ".join(f"{k} {v:g}" for k, v in p["remediationOutcomes"].items() if v) or "none"),
            ("prometheus", "rollbacks", "", "-" if p["rollbacks"] is None else f"{p['rollbacks']:g}"),
        ]
    return ("AREA", "MEASURE", "COUNT", "VALUE"), rows


# --------------------------------------------------------------------------- utilization

#: PromQL of the utilization report, one value per machine; `{w}` window, `{step}` subquery step.
UTILIZATION_QUERIES = {
    "cpu": '1 - avg by (machine) (rate(node_cpu_seconds_total{{job="kubenode-agents",mode="idle"}}[{w}]))',
    "memory": 'max by (machine) (avg_over_time((1 - node_memory_MemAvailable_bytes{{job="kubenode-agents"}}'
              ' / node_memory_MemTotal_bytes{{job="kubenode-agents"}})[{w}:{step}]))',
    "disk": 'max by (machine) (max_over_time((1 - node_filesystem_avail_bytes{{job="kubenode-agents"}}'
            ' / (node_filesystem_size_bytes{{job="kubenode-agents"}} > 0))[{w}:{step}]))',
}


def utilization_queries(window: int) -> dict[str, str]:
    """The utilization queries for a window of `window` seconds."""
    step = f"{max(5, window // 60)}s"
    return {k: q.format(w=f"{window}s", step=step) for k, q in UTILIZATION_QUERIES.items()}


def utilization_report(fleet: Fleet, by: str, window: int,
                       samples: Mapping[str, list[tuple[dict[str, str], float]]]) -> dict[str, Any]:
    """Per group: CPU, memory and disk utilization percentiles over the machines that reported."""
    group = {_name(m): group_of(m, by) for m in fleet.live_machines()}
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for resource, vector in samples.items():
        for labels, value in vector:
            machine = labels.get("machine", "")
            if machine in group and not math.isnan(value):
                values[(group[machine], resource)].append(value)
    size: Counter[str] = Counter(group.values())
    groups = []
    for g in sorted(size):
        res = {}
        for resource in UTILIZATION_QUERIES:
            vs = values.get((g, resource), [])
            res[resource] = {"machines": len(vs), "p50": percentile(vs, 50), "p90": percentile(vs, 90),
                             "p99": percentile(vs, 99), "max": max(vs) if vs else None}
        groups.append({"group": g, "machines": size[g], **res})
    return {"by": by, "window": f"{window}s", "groups": groups}


def utilization_rows(report: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of the utilization table."""
    header = ("GROUP", "RESOURCE", "MACHINES", "P50", "P90", "P99", "MAX")
    rows: list[tuple[str, ...]] = []
    for g in report["groups"]:
        for resource in UTILIZATION_QUERIES:
            r = g[resource]
            rows.append((g["group"], resource, f"{r['machines']}/{g['machines']}",
                         *(_pct(r[k]) for k in ("p50", "p90", "p99", "max"))))
    return header, rows


# --------------------------------------------------------------------------- rendering

def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}s"


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A kubectl-style table."""
    table = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table)
