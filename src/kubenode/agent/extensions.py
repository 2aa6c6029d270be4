"""Which extensions an agent runs: the one place the agent command assembles them.

Each capability (component installer, fault detectors, remediation
executor) lives in its own package and contributes one builder here.
"""

from __future__ import annotations

from kubenode.client.client import KubeClient

from .agent import AgentConfig, AgentExtension
from .detectors import build_detectors
from .executor import build_executor
from .installer import build_installer


def build_extensions(client: KubeClient, config: AgentConfig) -> list[AgentExtension]:
    """The extensions for this agent."""
    extensions: list[AgentExtension] = []
    detectors = build_detectors(client, config.node_name, config.root)
    installer = build_installer(client, config)
    extensions += [detectors, build_executor(client, config.machine, config.node_name, config.root,
                                             detectors.restarters(), installer.restart_component), installer]
    return extensions
