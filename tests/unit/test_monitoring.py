"""deploy/monitoring: rules pass promtool's checks and unit tests; dashboards and rules name only real metrics.

"Real" means: exported by the operator's actual collectors (built here on a
registry, as the operator builds them), by the per-object state exposition,
by the agents (the node-exporter and node-problem-detector names of the
contract), Prometheus' own `up`, or recorded by our rules.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kubenode.defender.metrics import DefenderMetrics
from kubenode.metrics.agent_sd import AGENT_METRICS
from kubenode.metrics.component_metrics import register_component_metrics
from kubenode.metrics.operator_metrics import register_machine_metrics
from kubenode.metrics.remedy_metrics import RemedyMetrics
from kubenode.metrics.state_metrics import FAMILY_NAMES
from kubenode.runtime.controller import Controller, Request, Result

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan"}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install -y prometheus (Debian ships /usr/bin/promtool)"
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=MONITORING, capture_output=True, text=True, timeout=120,
                          check=False)


def exported_names() -> set[str]:
    """Every sample name the operator's collectors export (built as the operator builds them)."""
    empty = SimpleNamespace(cache=SimpleNamespace(list=list))
    reg = CollectorRegistry(auto_describe=True)
    register_machine_metrics(reg, empty)
    register_component_metrics(reg, empty, empty)
    RemedyMetrics(reg, empty)
    DefenderMetrics(reg, lambda: [])

    async def reconcile(req: Request) -> Result:
        return Result()

    Controller("x", reconcile, registry=reg)
    names = set()
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        names.add(fam.name)
        names.update(s.name for s in fam.samples)
    # Families with no sample yet (per-set or per-policy series) still have their type line.
    names.update(re.findall(r"^# TYPE (\S+)", generate_latest(reg).decode(), re.M))
    return names


def recorded_names() -> set[str]:
    out = set()
    for f in RULE_FILES:
        for g in yaml.safe_load(f.read_text())["groups"]:
            out.update(r["record"] for r in g["rules"] if "record" in r)
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (identifiers that are not functions, keywords or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def known() -> set[str]:
    return exported_names() | set(FAMILY_NAMES) | set(AGENT_METRICS) | recorded_names() | {"up"}


def test_rules_pass_promtool_check() -> None:
    out = run_promtool("check", "rules", *(str(f.relative_to(MONITORING)) for f in RULE_FILES))
    assert out.returncode == 0, out.stdout + out.stderr


def test_scrape_config_passes_promtool_check() -> None:
    out = run_promtool("check", "config", "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("test_file", sorted(p.name for p in (MONITORING / "tests").glob("*.test.yml")))
def test_rules_pass_their_promtool_unit_tests(test_file: str) -> None:
    out = run_promtool("test", "rules", f"tests/{test_file}")
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_promtool_test() -> None:
    alerts = {r["alert"] for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]
              if "alert" in r}
    tested = {t["alertname"] for f in (MONITORING / "tests").glob("*.test.yml")
              for case in yaml.safe_load(f.read_text())["tests"] for t in case.get("alert_rule_test") or []}
    assert alerts - tested == set()
    # The alerts the data system promises (issue 13).
    assert {"KubenodeMachineNotRunning", "KubenodeNodeNotReady", "KubenodeRolloutDegraded", "KubenodeRolloutStuck",
            "KubenodeRemediationFailing", "KubenodeRemediationExhausted", "KubenodeDefenderCircuitOpen",
            "KubenodeAgentDown", "KubenodeComponentDrift"} <= alerts


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (phase) (kubenode_machine_status_phase{phase="Running"})', {"kubenode_machine_status_phase"}),
    ("1 - avg by (machine) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))", {"node_cpu_seconds_total"}),
    ("a / on (component) group_left count by (component) (b) > 0", {"a", "b"}),
    ("kubenode:node_ready:ratio < 0.99", {"kubenode:node_ready:ratio"}),
    ('x{l="by (y)"} unless on (m) z == bool 1', {"x", "z"}),
])
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def rule_exprs() -> list[tuple[str, str]]:
    return [(r.get("alert") or r["record"], r["expr"]) for f in RULE_FILES
            for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in d.get("panels") or []:
        out.append(p)
        out.extend(p.get("panels") or [])
    return out


def test_rules_name_only_metrics_that_exist() -> None:
    names = known()
    missing = {(rule, m) for rule, expr in rule_exprs() for m in metric_names(expr) if m not in names}
    assert missing == set()


@pytest.mark.parametrize("dashboard", [p.name for p in DASHBOARDS])
def test_dashboard_structure_and_metrics(dashboard: str) -> None:
    d = json.loads((MONITORING / "dashboards" / dashboard).read_text())
    assert d["uid"].startswith("kubenode-") and d["title"].startswith("KubeNode / ")
    ps = panels(d)
    assert ps, "a dashboard without panels"
    ids = [p["id"] for p in ps]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    names = known()
    for p in ps:
        assert p["title"] and p["type"] and {"x", "y", "w", "h"} <= set(p["gridPos"])
        assert p["targets"], f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            used = metric_names(t["expr"])
            assert used, f"panel {p['title']!r}: {t['expr']!r} names no metric"
            assert used <= names, f"panel {p['title']!r}: unknown metrics {sorted(used - names)}"


def test_the_four_dashboards_exist() -> None:
    assert {p.stem for p in DASHBOARDS} == {"kubenode-fleet", "kubenode-rollouts", "kubenode-remediation",
                                            "kubenode-defender"}
