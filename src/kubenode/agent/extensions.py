"""Which extensions an agent runs: the one place the agent command assembles them.

Each capability (component installer, fault detectors, remediation
executor) lives in its own package and contributes one builder here.
"""

from __future__ import annotations

from kubenode.client.client import KubeClient

from .agent import AgentConfig, AgentExtension


def build_extensions(client: KubeClient, config: AgentConfig) -> list[AgentExtension]:
    """The extensions for this agent."""
    extensions: list[AgentExtension] = []
    return extensions
