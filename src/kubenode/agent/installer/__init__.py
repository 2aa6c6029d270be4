"""The agent's component installer: archives and packages, a supervisor, health checks, crash-safe journals.

Modules, bottom-up: :mod:`.layout` (where things live, path confinement),
:mod:`.archive` (download, sha256, safe unpack, atomic ``current`` switch),
:mod:`.package` (apt/yum argv), :mod:`.supervisor` (local processes with
backoff, systemd units), :mod:`.healthcheck` (exec/http/tcp probes),
:mod:`.journal` (intent journal and crash recovery), :mod:`.plan` (pure
decision and status), :mod:`.transaction` (one component's install, upgrade,
rollback and removal) and :mod:`.component_agent` (the agent extension).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kubenode.client.client import KubeClient

from ..agent import AgentConfig
from ..telemetry import AgentMetrics
from .component_agent import ComponentAgent, ComponentAgentConfig

__all__ = ["FAILPOINT_ENV", "ComponentAgent", "ComponentAgentConfig", "build_installer"]

#: End-to-end tests set this to a journal step name: the agent process exits abruptly right after that
#: step (as if killed), which is how "an agent killed mid-install" is reproduced with real processes.
FAILPOINT_ENV = "KUBENODE_INSTALLER_CRASH_AFTER"


def _exit_after(step_name: str) -> Callable[[str], None]:
    def failpoint(step: str) -> None:
        if step == step_name:
            os._exit(137)

    return failpoint


def build_installer(client: KubeClient, config: AgentConfig, *, metrics: AgentMetrics | None = None) -> ComponentAgent:
    """The component installer of this agent (local mode when the agent has a machine root)."""
    crash_after = os.environ.get(FAILPOINT_ENV, "")
    if config.host_root is not None:
        # DaemonSet mode: files on the host through its mounted root, services as the host's systemd units.
        return ComponentAgent(client, ComponentAgentConfig(
            machine=config.machine, root=config.host_root, local=False, host_root=config.host_root,
            failpoint=_exit_after(crash_after) if crash_after else None, metrics=metrics))
    return ComponentAgent(client, ComponentAgentConfig(
        machine=config.machine, node=config.node_name, root=config.root if config.root is not None else Path("/"),
        local=config.root is not None, failpoint=_exit_after(crash_after) if crash_after else None,
        metrics=metrics, trusted_file_dirs=config.trusted_file_dirs))
