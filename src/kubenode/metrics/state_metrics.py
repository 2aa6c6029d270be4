"""Per-object state metrics (kube-state-metrics conventions), pre-rendered from the informers.

Why pre-rendered: with tens of thousands of Machines a scrape would build
over a million labelled samples; doing that through prometheus_client's
metric families at scrape time takes seconds. Instead every watch event
re-renders the text of *that one object* (a few lines per family) and a
scrape only concatenates chunks, a segment at a time, each written to the
response before the next is joined (as kube-state-metrics writes its cached
per-object bytes). No joined copy is kept between scrapes: at 50,000
machines the exposition is about 170 MB, which a cache of the joined text
would hold in the operator for good; streamed, a scrape holds one segment
(about 1/64 of a family). A heartbeat that changes nothing we export costs
one render and a bytes comparison.

Conventions (kube-state-metrics): `_info` (value 1) for static properties,
StateSets for phases (one series per possible value, 1 for the current one),
conditions as `{condition,status}` with status `true|false|unknown`,
`_created` and `*_timestamp_seconds` in Unix seconds, no derived aggregates
(sums are PromQL's job; the aggregate gauges of `operator_metrics` and
friends stay for compatibility). One prefix: `kubenode_`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c
from kubenode.apimachinery.timefmt import parse_micro
from kubenode.client import kinds
from kubenode.client.resources import NODES, Resource
from kubenode.runtime.informer import InformerFactory

Obj = Mapping[str, Any]

# The KubeNode kinds (defined once, in client/kinds.py).
MACHINES, MACHINE_SETS, MACHINE_COMPONENTS = kinds.MACHINES, kinds.MACHINE_SETS, kinds.MACHINE_COMPONENTS
MACHINE_COMPONENT_SETS, REMEDY_JOBS = kinds.MACHINE_COMPONENT_SETS, kinds.REMEDY_OPERATION_JOBS
DEFENDER_POLICIES = kinds.DEFENDER_POLICIES

#: (name, help) of every family, in exposition order. All are gauges.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("kubenode_machine_info", "Information about a Machine (value 1)."),
    ("kubenode_machine_created", "Unix creation timestamp of a Machine."),
    ("kubenode_machine_status_phase", "The Machine's phase (StateSet: 1 for the current phase)."),
    ("kubenode_machine_status_condition", "The Machine's conditions (1 for the current status of each)."),
    ("kubenode_machineset_spec_replicas", "Desired machines of a MachineSet."),
    ("kubenode_machineset_status_replicas", "Machines of a MachineSet that exist."),
    ("kubenode_machineset_status_ready_replicas", "Machines of a MachineSet whose Ready condition is True."),
    ("kubenode_node_info", "Information about a Node (value 1)."),
    ("kubenode_node_status_condition", "The Node's conditions (1 for the current status of each)."),
    ("kubenode_node_spec_unschedulable", "1 when the Node is cordoned."),
    ("kubenode_machinecomponent_info", "A component on a machine: installed version and revision (value 1)."),
    ("kubenode_machinecomponent_status_phase", "The MachineComponent's phase (StateSet)."),
    ("kubenode_machinecomponent_status_healthy", "1 when the component's health check passes, 0 when it fails."),
    ("kubenode_machinecomponent_status_restarts", "Times the agent restarted the component's process."),
    ("kubenode_machinecomponent_status_condition", "The MachineComponent's conditions (Installed, Healthy, "
                                                   "Drifted)."),
    ("kubenode_machinecomponentset_status_condition", "The MachineComponentSet's conditions (Progressing, "
                                                      "Available, Degraded, Paused, RolloutAllowed)."),
    ("kubenode_remedyoperationjob_info", "A remediation job: node, remedier, rule and action (value 1)."),
    ("kubenode_remedyoperationjob_created", "Unix creation timestamp of a RemedyOperationJob."),
    ("kubenode_remedyoperationjob_status_phase", "The RemedyOperationJob's phase (StateSet)."),
    ("kubenode_remedyoperationjob_status_completion_timestamp_seconds",
     "Unix time a RemedyOperationJob reached a final phase."),
    ("kubenode_defender_policy_status_condition", "The DefenderPolicy's conditions (Valid, CircuitOpen)."),
    ("kubenode_defender_policy_status_circuit", "The DefenderPolicy's circuit as its status reports it (StateSet)."),
    ("kubenode_defender_policy_last_decision_timestamp_seconds", "Unix time of the policy's last decision."),
    ("kubenode_defender_budget_limit", "Token budget of a rule per window."),
    ("kubenode_defender_budget_used", "Tokens used in the current window, per policy, rule and window."),
    ("kubenode_defender_rule_concurrent", "Operations in progress under a rule with maxConcurrent."),
    ("kubenode_defender_rule_unhealthy", "Unhealthy nodes a storm-guard rule counts."),
    ("kubenode_defender_rule_frozen", "1 while a freeze window of the rule is active."),
)
FAMILY_NAMES = frozenset(name for name, _ in FAMILIES)

Lines = dict[str, list[str]]
Labels = Sequence[tuple[str, object]]


def escape(value: object) -> str:
    """A label value in the text exposition format (backslash, double quote and newline escaped)."""
    text = str(value)
    if "\\" in text or '"' in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return text


def _labels(pairs: Labels) -> str:
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs)


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


timestamp = parse_micro  # Unix seconds of an RFC 3339 timestamp; None when absent or unparsable


def _status_value(status: object) -> str:
    s = str(status).lower()
    return s if s in ("true", "false") else "unknown"


class _Emit:
    """Collects one object's lines per family. `base` is the object's own labels, rendered once."""

    def __init__(self, base: Labels) -> None:
        self.lines: Lines = {}
        self.base = _labels(base)

    def add(self, family: str, extra: Labels, value: float) -> None:
        labels = f"{self.base},{_labels(extra)}" if extra else self.base
        self.lines.setdefault(family, []).append(f"{family}{{{labels}}} {_num(value)}\n")

    def stateset(self, family: str, key: str, values: Iterable[str], current: object) -> None:
        out = self.lines.setdefault(family, [])
        for v in values:
            out.append(f'{family}{{{self.base},{key}="{v}"}} {"1" if current == v else "0"}\n')

    def conditions(self, family: str, conditions: object) -> None:
        # One series per condition, labelled with its current status (value 1): a third of the series
        # of a full true/false/unknown StateSet, and alerts still match `{condition="Ready",status!="true"}`.
        out = self.lines.setdefault(family, [])
        for cond in conditions if isinstance(conditions, list) else []:
            if isinstance(cond, Mapping) and cond.get("type"):
                out.append(f'{family}{{{self.base},condition="{escape(cond["type"])}",'
                           f'status="{_status_value(cond.get("status"))}"}} 1\n')
        if not out:
            del self.lines[family]

    def created(self, family: str, obj: Obj) -> None:
        t = timestamp((obj.get("metadata") or {}).get("creationTimestamp"))
        if t is not None:
            self.add(family, (), t)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def machineset_of(machine: Obj) -> str:
    """The MachineSet owning a Machine (controller ownerReference, else the machineset label), or ""."""
    for ref in _meta(machine).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("kind") == c.KIND_MACHINE_SET:
            return str(ref.get("name", ""))
    return str((_meta(machine).get("labels") or {}).get(c.LABEL_MACHINE_SET, ""))


def node_of(machine: Obj) -> str:
    """The Node name of a Machine: status.nodeRef, else spec.nodeName, else ""."""
    status, spec = machine.get("status") or {}, machine.get("spec") or {}
    return str((status.get("nodeRef") or {}).get("name") or spec.get("nodeName") or "")


def render_machine(m: Obj) -> Lines:
    """The lines of one Machine."""
    spec, status = m.get("spec") or {}, m.get("status") or {}
    e = _Emit([("machine", _name(m))])
    e.add("kubenode_machine_info", [("machineset", machineset_of(m)), ("node", node_of(m)),
                                    ("provider", (spec.get("providerRef") or {}).get("name", "")),
                                    ("provider_id", status.get("providerID") or spec.get("providerID") or "")], 1)
    e.created("kubenode_machine_created", m)
    e.stateset("kubenode_machine_status_phase", "phase", c.MACHINE_PHASES,
               status.get("phase") or c.MACHINE_PHASE_PENDING)
    e.conditions("kubenode_machine_status_condition", status.get("conditions"))
    return e.lines


def render_machineset(ms: Obj) -> Lines:
    """The lines of one MachineSet."""
    e, st = _Emit([("machineset", _name(ms))]), ms.get("status") or {}
    e.add("kubenode_machineset_spec_replicas", (), float((ms.get("spec") or {}).get("replicas") or 0))
    e.add("kubenode_machineset_status_replicas", (), float(st.get("replicas") or 0))
    e.add("kubenode_machineset_status_ready_replicas", (), float(st.get("readyReplicas") or 0))
    return e.lines


def render_node(n: Obj) -> Lines:
    """The lines of one Node."""
    e = _Emit([("node", _name(n))])
    info = (n.get("status") or {}).get("nodeInfo") or {}
    e.add("kubenode_node_info", [("kernel_version", info.get("kernelVersion", "")),
                                 ("os_image", info.get("osImage", "")),
                                 ("architecture", info.get("architecture", "")),
                                 ("boot_id", info.get("bootID", ""))], 1)
    e.conditions("kubenode_node_status_condition", (n.get("status") or {}).get("conditions"))
    e.add("kubenode_node_spec_unschedulable", (), 1.0 if (n.get("spec") or {}).get("unschedulable") else 0.0)
    return e.lines


def render_machinecomponent(mc: Obj) -> Lines:
    """The lines of one MachineComponent."""
    spec, st = mc.get("spec") or {}, mc.get("status") or {}
    e = _Emit([("machine", spec.get("machineName", "")), ("component", spec.get("component", ""))])
    e.add("kubenode_machinecomponent_info", [("version", st.get("installedVersion", "")),
                                             ("revision", st.get("installedRevision", "")),
                                             ("desired_version", spec.get("version", "")),
                                             ("desired_revision", spec.get("revision", ""))], 1)
    e.stateset("kubenode_machinecomponent_status_phase", "phase", c.COMPONENT_PHASES,
               st.get("phase") or c.COMPONENT_PHASE_PENDING)
    if isinstance(st.get("healthy"), bool):
        e.add("kubenode_machinecomponent_status_healthy", (), 1.0 if st["healthy"] else 0.0)
    e.add("kubenode_machinecomponent_status_restarts", (), float(st.get("restartCount") or 0))
    e.conditions("kubenode_machinecomponent_status_condition", st.get("conditions"))
    return e.lines


def render_machinecomponentset(s: Obj) -> Lines:
    """The lines of one MachineComponentSet (its counts and phase are in `component_metrics`)."""
    e = _Emit([("machinecomponentset", _name(s))])
    e.conditions("kubenode_machinecomponentset_status_condition", (s.get("status") or {}).get("conditions"))
    return e.lines


def render_job(j: Obj) -> Lines:
    """The lines of one RemedyOperationJob."""
    spec, st = j.get("spec") or {}, j.get("status") or {}
    e = _Emit([("job", _name(j)), ("node", spec.get("nodeName", "")),
               ("action", (spec.get("action") or {}).get("type", ""))])
    e.add("kubenode_remedyoperationjob_info", [("machine", spec.get("machineName", "")),
                                               ("remedier", spec.get("remedier", "")),
                                               ("rule", spec.get("rule", ""))], 1)
    e.created("kubenode_remedyoperationjob_created", j)
    e.stateset("kubenode_remedyoperationjob_status_phase", "phase", c.JOB_PHASES,
               st.get("phase") or c.JOB_PHASE_PENDING)
    done = timestamp(st.get("completionTime"))
    if done is not None:
        e.add("kubenode_remedyoperationjob_status_completion_timestamp_seconds", (), done)
    return e.lines


def render_policy(p: Obj) -> Lines:
    """The lines of one DefenderPolicy, from its status (what every replica can see)."""
    st = p.get("status") or {}
    e = _Emit([("policy", _name(p))])
    e.conditions("kubenode_defender_policy_status_condition", st.get("conditions"))
    circuit = st.get("circuit") or {}
    if isinstance(circuit, Mapping) and circuit.get("state"):
        e.stateset("kubenode_defender_policy_status_circuit", "state", c.CIRCUIT_STATES, circuit["state"])
    last = timestamp(st.get("lastDecisionTime"))
    if last is not None:
        e.add("kubenode_defender_policy_last_decision_timestamp_seconds", (), last)
    for rule in st.get("rules") or []:
        if not isinstance(rule, Mapping):
            continue
        rl: list[tuple[str, object]] = [("rule", rule.get("name", ""))]
        for b in rule.get("budgets") or []:
            if isinstance(b, Mapping):
                bl = [*rl, ("window", b.get("window", ""))]
                e.add("kubenode_defender_budget_limit", bl, float(b.get("limit") or 0))
                e.add("kubenode_defender_budget_used", bl, float(b.get("used") or 0))
        if isinstance(rule.get("concurrent"), int):
            e.add("kubenode_defender_rule_concurrent", rl, float(rule["concurrent"]))
        if isinstance(rule.get("unhealthy"), int):
            e.add("kubenode_defender_rule_unhealthy", rl, float(rule["unhealthy"]))
        if isinstance(rule.get("frozen"), bool):
            e.add("kubenode_defender_rule_frozen", rl, 1.0 if rule["frozen"] else 0.0)
    return e.lines


#: Each family's chunks are spread over this many segments (by key hash); a change re-joins one segment.
SEGMENTS = 64


def _strip(family: str, lines: list[str]) -> bytes:
    """One object's lines of `family` as stored: each line without the family name it starts with.

    The name is 30-60 of a line's 60-120 bytes; :func:`_restore` puts it back when a segment is joined,
    so the text served is exactly the lines rendered.
    """
    n = len(family)
    for line in lines:
        if not line.startswith(family) or not line.endswith("\n") or "\n" in line[:-1]:
            raise ValueError(f"not a sample line of {family}: {line!r}")
    return "".join(line[n:] for line in lines).encode()


def _restore(family: bytes, stripped: bytes) -> bytes:
    """The exposition lines of a joined segment of stripped chunks (every line ends with one newline)."""
    if not stripped:
        return b""
    return family + stripped[:-1].replace(b"\n", b"\n" + family) + b"\n"


@dataclass
class _Family:
    name: bytes
    header: bytes
    segments: list[dict[str, bytes]] = field(default_factory=lambda: [{} for _ in range(SEGMENTS)])
    size: int = 0


class StateExposition:
    """Rendered text per object and family, kept current by informer handlers; :meth:`parts` serves it.

    A family's objects are spread over `SEGMENTS` segments (by key hash); :meth:`parts` joins one segment
    at a time as the response is written, so a scrape holds one segment's text, never the whole exposition.
    """

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {
            name: _Family(name.encode(), f"# HELP {name} {help_}\n# TYPE {name} gauge\n".encode())
            for name, help_ in FAMILIES}
        # Which families each object key has chunks in, so a delete touches only those.
        self._keys: dict[str, frozenset[str]] = {}
        # One instance of each such set (a handful of distinct ones for 100,000s of objects).
        self._family_sets: dict[frozenset[str], frozenset[str]] = {}

    def update(self, key: str, lines: Lines) -> None:
        """Replace the chunks of object `key` by `lines` (family → sample lines); unknown families are an error."""
        seg = hash(key) % SEGMENTS
        old = self._keys.get(key, frozenset())
        new = frozenset(lines)
        new = self._family_sets.setdefault(new, new)
        for fam_name in old - new:
            fam = self._families[fam_name]
            del fam.segments[seg][key]
            fam.size -= 1
        for fam_name, fam_lines in lines.items():
            fam = self._families[fam_name]
            chunk = _strip(fam_name, fam_lines)
            chunks = fam.segments[seg]
            previous = chunks.get(key)
            if previous != chunk:
                if previous is None:
                    fam.size += 1
                chunks[key] = chunk
        if new:
            if new != old:
                self._keys[key] = new
        else:
            self._keys.pop(key, None)

    def remove(self, key: str) -> None:
        """Forget object `key`."""
        self.update(key, {})

    def render(self) -> bytes:
        """The exposition text of every family that has samples."""
        return b"".join(self.parts())

    def parts(self) -> Iterator[bytes]:
        """The exposition as buffers, each made when the one before has been taken (serve them as they come).

        Each segment is joined in one step, so a watch event handled between two buffers shows either
        wholly or not at all in its segment; a family that loses its last sample mid-scrape keeps its header.
        """
        for fam in self._families.values():
            if not fam.size:
                continue
            yield fam.header
            for chunks in fam.segments:
                if chunks:
                    yield _restore(fam.name, b"".join(chunks.values()))

    def handler(self, kind: str, render: Callable[[Obj], Lines]) -> Callable[[Obj | None, Obj | None], None]:
        """An informer handler keeping the objects of one kind current (keys are `kind/name`)."""
        def on_change(old: Obj | None, new: Obj | None) -> None:
            if new is None:
                if old is not None:
                    self.remove(f"{kind}/{_name(old)}")
                return
            self.update(f"{kind}/{_name(new)}", render(new))

        return on_change


#: What the operator exports per object: resource and its renderer.
WATCHED: tuple[tuple[Resource, Callable[[Obj], Lines]], ...] = (
    (MACHINES, render_machine),
    (MACHINE_SETS, render_machineset),
    (NODES, render_node),
    (MACHINE_COMPONENTS, render_machinecomponent),
    (MACHINE_COMPONENT_SETS, render_machinecomponentset),
    (REMEDY_JOBS, render_job),
    (DEFENDER_POLICIES, render_policy),
)


def watch_state(informers: InformerFactory) -> StateExposition:
    """A state exposition fed by the shared informers of every exported kind."""
    state = StateExposition()
    for resource, render in WATCHED:
        informers.informer(resource).on_change(state.handler(resource.kind, render))
    return state
