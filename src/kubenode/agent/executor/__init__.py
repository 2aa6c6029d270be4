"""Agent-side remediation: RestartComponent, Reboot and RunScript for this node's approved jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from kubenode.client.client import KubeClient

from .actions import ActionRefused, remedy_dir, resolve_script
from .service import ExecutorSettings, RemedyExecutor, Restarter

__all__ = ["ActionRefused", "ExecutorSettings", "RemedyExecutor", "Restarter", "build_executor", "remedy_dir",
           "resolve_script"]


def build_executor(client: KubeClient, machine: str, node_name: str, root: Path | None,
                   restarters: dict[str, Restarter] | None = None,
                   installed: Callable[[str], Awaitable[bool]] | None = None,
                   host_root: Path | None = None) -> RemedyExecutor:
    """The remediation executor of one agent.

    `restarters` maps built-in component names (the detectors) to restart
    functions; `installed` restarts components the installer supervises.
    """
    return RemedyExecutor(client, ExecutorSettings(machine=machine, node_name=node_name, root=root,
                                                   host_root=host_root, restarters=dict(restarters or {}),
                                                   installed=installed))
