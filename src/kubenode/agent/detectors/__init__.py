"""Fault detectors that run node-problem-detector's configs unchanged.

System log monitors (kmsg, filelog, journald), custom plugin monitors and
system-stats monitors (exported as metrics); Go RE2 patterns are
translated by :mod:`.re2`.

`build_detectors` is what `agent/extensions.py` calls; the rest is exported
for tests and for tools that validate NPD configs.
"""

from __future__ import annotations

from pathlib import Path

from kubenode.agent.telemetry import AgentMetrics
from kubenode.client.client import KubeClient

from .config import ConfigError, LogMonitorConfig, PluginMonitorConfig, parse_duration, parse_monitor
from .default_rules import KERNEL_MONITOR
from .re2 import RE2Error, compile_re2, translate
from .service import COMPONENT_NAMES, DetectorService, DetectorSettings, load_monitors, load_stats_monitors
from .system_stats import SystemStatsConfig, parse_system_stats

__all__ = [
    "COMPONENT_NAMES",
    "KERNEL_MONITOR",
    "ConfigError",
    "DetectorService",
    "DetectorSettings",
    "LogMonitorConfig",
    "PluginMonitorConfig",
    "RE2Error",
    "SystemStatsConfig",
    "build_detectors",
    "compile_re2",
    "load_monitors",
    "load_stats_monitors",
    "parse_duration",
    "parse_monitor",
    "parse_system_stats",
    "translate",
]


def build_detectors(client: KubeClient, node_name: str, root: Path | None, *, metrics: AgentMetrics | None = None,
                    system_log_monitors: tuple[str, ...] = (), custom_plugin_monitors: tuple[str, ...] = (),
                    system_stats_monitors: tuple[str, ...] = ()) -> DetectorService:
    """The detector extension of one agent (NPD's --config.* flag files beside the config directory's)."""
    return DetectorService(client, DetectorSettings(
        node_name=node_name, root=root, metrics=metrics, system_log_monitors=system_log_monitors,
        custom_plugin_monitors=custom_plugin_monitors, system_stats_monitors=system_stats_monitors))
