"""`kubenode up --prometheus`: the generated configuration and the error when Prometheus is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kubenode.controlplane import prometheus as p


def test_config_scrapes_the_operator_and_discovers_agents_from_it(tmp_path: Path) -> None:
    rules = sorted((p.monitoring_dir() / "rules").glob("*.yml"))
    cfg = p.render_config(8081, rules)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert jobs["kubenode-operator"]["static_configs"] == [{"targets": ["127.0.0.1:8081"]}]
    assert jobs["kubenode-agents"]["http_sd_configs"][0]["url"] == "http://127.0.0.1:8081/sd/agents"
    assert {Path(r).name for r in cfg["rule_files"]} == {"kubenode-alerts.rules.yml",
                                                          "kubenode-slo.rules.yml"}
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install -y prometheus"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_missing_prometheus_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(p, "DEFAULT_BINARY", str(tmp_path / "nope"))
    with pytest.raises(p.PrometheusUnavailable, match=r"apt-get install -y prometheus"):
        p.find_binary()
