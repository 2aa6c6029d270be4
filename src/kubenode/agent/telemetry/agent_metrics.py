"""The agent's own metrics and node-problem-detector's problem metrics, kept in memory, rendered per scrape.

* `problem_counter{reason}` — NPD's counter: every temporary problem (an
  Event) and every permanent one that set its condition;
* `problem_gauge{type,reason}` — NPD's gauge: 1 while condition `type` is
  set with `reason`, else 0 (pre-initialised from the monitors' rules, so the
  series exist before the first problem);
* `kubenode_agent_*` — the agent itself: info, start time, heartbeats,
  component drift, detector config errors, scrape cost;
* `kubenode_detector_log_lines_dropped_total{source}` — lines the flood
  budget dropped (formerly a textfile nobody scraped).

The parts of the agent that produce these call the `record_*`/`set_*`
methods; everything happens on the agent's event loop, so plain dicts do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .exposition import Family

__all__ = ["AgentMetrics"]


@dataclass
class AgentMetrics:
    """Counters and gauges of one agent."""

    machine: str
    node: str
    version: str
    mode: str  # "local" (a machine directory on this host) or "host"
    started: float = field(default_factory=time.time)
    heartbeats: int = 0
    heartbeat_failures: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    problem_gauges: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped_lines: dict[str, int] = field(default_factory=dict)
    config_errors: int = 0
    drift_detected: dict[str, int] = field(default_factory=dict)
    drifted: dict[str, int] = field(default_factory=dict)
    drift_checks: dict[str, int] = field(default_factory=dict)
    last_scrape_seconds: float = 0.0
    scrapes: int = 0
    #: More families rendered with these (the detectors' system-stats monitors), by owner.
    extra_sources: dict[str, Callable[[], Iterator[Family]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ detectors
    def init_problems(self, reasons: Iterable[str], gauges: Iterable[tuple[str, str]]) -> None:
        """Pre-initialise NPD's series for every rule of the loaded monitors (at zero)."""
        for r in reasons:
            self.problems.setdefault(r, 0)
        for key in gauges:
            self.problem_gauges.setdefault(key, 0)

    def record_problem(self, reason: str) -> None:
        """One more occurrence of `reason` (problem_counter)."""
        self.problems[reason] = self.problems.get(reason, 0) + 1

    def set_condition(self, type_: str, reason: str, active: bool, known_reasons: Iterable[str] = ()) -> None:
        """problem_gauge for condition `type_`: 1 for the active `reason`, 0 for the condition's other reasons."""
        for (t, r) in list(self.problem_gauges):
            if t == type_:
                self.problem_gauges[(t, r)] = 0
        for r in known_reasons:
            self.problem_gauges.setdefault((type_, r), 0)
        if active:
            self.problem_gauges[(type_, reason)] = 1

    def set_dropped(self, source: str, count: int) -> None:
        """Lines the flood budget of monitor `source` dropped so far."""
        self.dropped_lines[source] = count

    # ------------------------------------------------------------------ components
    def record_drift_check(self, component: str, drifted: bool, newly: bool) -> None:
        """A verification of `component`'s files: its result, and whether it just started to drift."""
        self.drift_checks[component] = self.drift_checks.get(component, 0) + 1
        self.drifted[component] = 1 if drifted else 0
        self.drift_detected.setdefault(component, 0)
        if newly:
            self.drift_detected[component] += 1

    def forget_component(self, component: str) -> None:
        """The component was removed from this node: its gauge goes (counters stay)."""
        self.drifted.pop(component, None)

    # ------------------------------------------------------------------ rendering
    def collect(self) -> Iterator[Family]:
        """The families, in a stable order."""
        info = Family("kubenode_agent_info", "gauge", "The KubeNode agent: version, machine, node and mode "
                      "(local: a machine directory on this host, whose node metrics are the host's).")
        info.add(1, {"version": self.version, "machine": self.machine, "node": self.node, "mode": self.mode})
        yield info
        for name, typ, help_, value in (
            ("kubenode_agent_start_time_seconds", "gauge", "When the agent started, in unixtime.", self.started),
            ("kubenode_agent_heartbeats_total", "counter", "Machine heartbeats written.", self.heartbeats),
            ("kubenode_agent_heartbeat_failures_total", "counter", "Agent ticks that failed (API errors).",
             self.heartbeat_failures),
            ("kubenode_agent_detector_config_errors", "gauge", "Detector config files rejected at the last "
             "(re)start.", self.config_errors),
            ("kubenode_agent_scrapes_total", "counter", "Scrapes of this endpoint.", self.scrapes),
            ("kubenode_agent_scrape_duration_seconds", "gauge", "Time the previous scrape took to collect.",
             self.last_scrape_seconds),
        ):
            f = Family(name, typ, help_)
            f.add(value)
            yield f
        yield self._by("kubenode_agent_component_drift_total", "counter",
                       "Times a component's files were found to differ from its verified artifact.",
                       "component", self.drift_detected)
        yield self._by("kubenode_agent_component_drifted", "gauge",
                       "1 while a component's installed files differ from its verified artifact.",
                       "component", self.drifted)
        yield self._by("kubenode_agent_component_verifications_total", "counter",
                       "Verifications of a component's files against its verified artifact.",
                       "component", self.drift_checks)
        yield self._by("kubenode_detector_log_lines_dropped_total", "counter",
                       "Log lines dropped by the flood budget.", "source", self.dropped_lines)
        yield self._by("problem_counter", "counter", "Number of times a specific type of problem have occurred.",
                       "reason", self.problems)
        gauge = Family("problem_gauge", "gauge", "Whether a specific type of problem is affecting the node or not.")
        for (t, r), v in sorted(self.problem_gauges.items()):
            gauge.add(v, {"type": t, "reason": r})
        yield gauge
        for source in list(self.extra_sources.values()):
            yield from source()

    @staticmethod
    def _by(name: str, typ: str, help_: str, label: str, values: dict[str, int]) -> Family:
        f = Family(name, typ, help_)
        for k, v in sorted(values.items()):
            f.add(v, {label: k})
        return f
