"""Fault detectors, node-problem-detector compatible (system log and custom plugin monitors).

`build_detectors` is what `agent/extensions.py` calls; the rest is exported
for tests and for tools that validate NPD configs.
"""

from __future__ import annotations

from pathlib import Path

from kubenode.client.client import KubeClient

from .config import ConfigError, LogMonitorConfig, PluginMonitorConfig, parse_duration, parse_monitor
from .default_rules import KERNEL_MONITOR
from .service import COMPONENT_NAMES, DetectorService, DetectorSettings, load_monitors

__all__ = [
    "COMPONENT_NAMES",
    "KERNEL_MONITOR",
    "ConfigError",
    "DetectorService",
    "DetectorSettings",
    "LogMonitorConfig",
    "PluginMonitorConfig",
    "build_detectors",
    "load_monitors",
    "parse_duration",
    "parse_monitor",
]


def build_detectors(client: KubeClient, node_name: str, root: Path | None) -> DetectorService:
    """The detector extension of one agent."""
    return DetectorService(client, DetectorSettings(node_name=node_name, root=root))
