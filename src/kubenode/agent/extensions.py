"""Which extensions an agent runs: the one place the agent command assembles them.

Each capability (component installer, fault detectors, remediation
executor, telemetry) lives in its own package and contributes one builder
here.
"""

from __future__ import annotations

import logging

from kubenode.client.client import KubeClient

from .agent import AgentConfig, AgentExtension
from .detectors import build_detectors
from .executor import build_executor
from .facts import AGENT_VERSION, internal_address
from .installer import build_installer
from .telemetry import HOST_METRICS_PORT, AgentMetrics, TelemetryServer, build_telemetry

log = logging.getLogger("kubenode.agent")


def build_extensions(client: KubeClient, config: AgentConfig) -> list[AgentExtension]:
    """The extensions for this agent; binds the telemetry socket and records its URL in `config`."""
    metrics = AgentMetrics(machine=config.machine, node=config.node_name, version=AGENT_VERSION,
                           mode="local" if config.root is not None else "host")
    # Bound to every address of a host: advertise the one its Node reports, so Prometheus can reach it.
    advertise = internal_address() if config.metrics_host in ("0.0.0.0", "::") else ""

    def telemetry_on(port: int) -> TelemetryServer:
        return build_telemetry(client.config, metrics, node_name=config.node_name, host=config.metrics_host,
                               port=port, advertise=advertise, host_root=config.host_root)

    if config.metrics_port is not None:
        telemetry = telemetry_on(config.metrics_port)  # asked for: a taken port is an error that says so
    elif config.root is not None:
        telemetry = telemetry_on(0)
    else:
        try:
            telemetry = telemetry_on(HOST_METRICS_PORT)
        except OSError as exc:
            # The default port is taken: the node still gets its agent; the URL it reports says where to scrape.
            log.warning("%s; serving on a free port instead", exc)
            telemetry = telemetry_on(0)
    config.metrics_endpoint = telemetry.url
    host_files = config.host_root if config.host_root is not None else config.root
    detectors = build_detectors(client, config.node_name, host_files, metrics=metrics,
                                system_log_monitors=config.system_log_monitors,
                                custom_plugin_monitors=config.custom_plugin_monitors,
                                system_stats_monitors=config.system_stats_monitors)
    installer = build_installer(client, config, metrics=metrics)
    extensions: list[AgentExtension] = [telemetry]
    extensions += [detectors, build_executor(client, config.machine, config.node_name, host_files,
                                             detectors.restarters(), installer.restart_component,
                                             host_root=config.host_root), installer]
    return extensions
