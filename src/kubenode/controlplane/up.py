"""`kubenode up`: the whole system on one machine.

Starts the embedded API server, installs the CRDs, makes sure a `local`
InfraProvider and a MachineSet `local` exist, powers on machines that were
running when it last stopped, and runs the operators in-process — talking to
the server over HTTPS exactly as they would to a real cluster. Ctrl-C stops
the operators, powers the local machines off and stops the server; running
it again resumes the same fleet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenode.api.constants import API_VERSION
from kubenode.api.crds import all_crds
from kubenode.api.rbac import OPERATOR, SYSTEM_NAMESPACE
from kubenode.apiserver.security import server_ssl_context
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import CRDS
from kubenode.console import RunningConsole, start_console
from kubenode.defender.defaults import install_default_policy
from kubenode.demo import Demo, start_demo
from kubenode.machine.bootstrap import AgentEndpoint, ensure_system_namespace
from kubenode.machine.controller import MachineControllerConfig
from kubenode.machine.phases import Timeouts
from kubenode.machine.resources import INFRA_PROVIDERS, MACHINE_SETS
from kubenode.providers.bootstrap import PythonInstall
from kubenode.providers.local import LocalProvider
from kubenode.release.controller import ReleaseSettings

from .admission_install import install_admission_policies
from .operators import Operators, OperatorSettings, build_manager
from .prometheus import RunningPrometheus, start_prometheus
from .providers import provider_factories, ssh_importer
from .rbac_install import install_rbac

log = logging.getLogger("kubenode.up")
Obj = dict[str, Any]

FLEET_LABEL = "kubenode.io/fleet"
DEFAULT_MACHINES = 3


@dataclass
class UpConfig:
    """Settings of `kubenode up`."""

    data_dir: Path
    machines: int | None = None  # None: keep the fleet's size (3 on first start)
    port: int = 6443
    node_grace_seconds: float = 40.0
    machine: MachineControllerConfig = field(default_factory=MachineControllerConfig)
    agent_args: tuple[str, ...] = ()
    health_port: int | None = 0  # operators' /healthz, /readyz, /metrics (0: any free port)
    import_dir: str = ""  # where imported hosts keep the agent ("" = /opt/kubenode for root, ~/.kubenode)
    #: Root of imported hosts' file system for the kubelet's bootstrap ("" = / when the SSH user is root).
    import_host_root: str = ""
    #: Build and serve the demo component's archives (and roll 1.0.0 out on the first start).
    demo: bool = True
    #: Create the demo MachineComponentSet on the first start (a management cluster only serves the archives).
    demo_set: bool = True
    #: Probe interval of every Cluster (None: each Cluster's spec.probeIntervalSeconds) and the release
    #: controller's poll of rolling members.
    probe_seconds: float | None = None
    release_poll_seconds: float = 3.0
    #: Serve the web console (docs/console.md) on `console_port` (0: any free port).
    console: bool = True
    console_port: int = 0
    #: Start Debian's Prometheus wired to the operator, the agents and deploy/monitoring's rules.
    prometheus: bool = False
    #: Longest validity of certificates the control plane signs (agents renew at 70-90 % of it).
    cert_max_seconds: int = 365 * 24 * 3600

    @classmethod
    def with_grace(cls, data_dir: Path, machines: int | None, port: int, grace: float) -> UpConfig:
        """A config whose agents report often enough for `grace` (renewals at least 4 per grace period)."""
        every = f"{min(10.0, grace / 4):g}"
        return cls(data_dir=data_dir, machines=machines, port=port, node_grace_seconds=grace,
                   machine=MachineControllerConfig(timeouts=Timeouts(agent_grace=grace),
                                                   resync_seconds=min(30.0, grace / 2)),
                   agent_args=("--heartbeat-seconds", every, "--lease-seconds", every))


@dataclass
class ControlPlane:
    """A running `kubenode up`."""

    server: RunningServer
    client: KubeClient
    operators: Operators
    local: LocalProvider
    demo: Demo | None = None
    prometheus: RunningPrometheus | None = None
    console: RunningConsole | None = None

    @property
    def notes(self) -> list[str]:
        """Extra lines for the banner (the demo component's how-to)."""
        return self.demo.notes if self.demo is not None else []

    async def stop(self) -> None:
        """Stop Prometheus and the operators, power the fleet off, stop the server."""
        if self.prometheus is not None:
            await self.prometheus.stop()
        if self.console is not None:
            await self.console.stop()
        await self.operators.stop()
        await self.local.power_off_all()
        if self.demo is not None:
            await self.demo.stop()
        await self.client.close()
        await self.server.stop()


async def install_control_plane(client: KubeClient) -> None:
    """The installer's part, as the admin (`kubectl apply` of deploy/ on a real cluster): the CRDs, the
    admission policies, the system namespace and the operators' and agents' RBAC."""
    await install_crds(client)
    await install_admission_policies(client)
    await ensure_system_namespace(client)
    await install_rbac(client)


async def install_crds(client: KubeClient) -> None:
    """Create or update every KubeNode CRD."""
    for crd in all_crds():
        name = crd["metadata"]["name"]
        try:
            current = await client.get(CRDS, name)
        except errors.NotFound:
            await client.create(CRDS, crd)
            continue
        body = dict(crd)
        body["metadata"] = dict(crd["metadata"], resourceVersion=current["metadata"]["resourceVersion"])
        await client.replace(CRDS, body)


async def ensure_fleet(client: KubeClient, machines: int | None) -> int:
    """The `local` InfraProvider and MachineSet; returns the fleet size."""
    try:
        await client.create(INFRA_PROVIDERS, {"apiVersion": API_VERSION, "kind": "InfraProvider",
                                              "metadata": {"name": "local"}, "spec": {"type": "local"}})
    except errors.AlreadyExists:
        pass
    try:
        ms = await client.get(MACHINE_SETS, "local")
    except errors.NotFound:
        ms = None
    if ms is None:
        replicas = DEFAULT_MACHINES if machines is None else machines
        await client.create(MACHINE_SETS, {
            "apiVersion": API_VERSION, "kind": "MachineSet", "metadata": {"name": "local"},
            "spec": {"replicas": replicas, "deletePolicy": "Oldest",
                     "selector": {"matchLabels": {FLEET_LABEL: "local"}},
                     "template": {"metadata": {"labels": {FLEET_LABEL: "local"}},
                                  "spec": {"providerRef": {"name": "local"}}}},
        })
        return replicas
    if machines is not None and (ms.get("spec") or {}).get("replicas") != machines:
        await client.patch(MACHINE_SETS, "local", {"spec": {"replicas": machines}})
        return machines
    return int((ms.get("spec") or {}).get("replicas", DEFAULT_MACHINES))


async def start_control_plane(config: UpConfig) -> ControlPlane:
    """Start everything; returns once the operators' caches are synced."""
    # Authorization is RBAC alone and admission the shipped policy and CRD rules: the objects installed below.
    server = await start_server(ServerConfig(data_dir=config.data_dir, port=config.port,
                                             node_grace_seconds=config.node_grace_seconds,
                                             csr_max_seconds=config.cert_max_seconds))
    admin_config = load_config(server.kubeconfig)
    local = LocalProvider(config.data_dir, agent_args=config.agent_args)
    demo: Demo | None = None
    client = KubeClient(admin_config)
    try:
        await install_control_plane(client)
        # The operators run as their ServiceAccount with least privilege (api/rbac.py), not as an admin.
        issued = await client.create_token(SYSTEM_NAMESPACE, OPERATOR)
        await client.close()
        client = KubeClient(dataclasses.replace(admin_config, token=issued.token,
                                                user_agent="kubenode-operator/0.1.0"))
        await ensure_fleet(client, config.machines)
        if config.demo:
            demo = await start_demo(client, config.data_dir, {"matchLabels": {FLEET_LABEL: "local"}},
                                    create_set=config.demo_set)
        if await install_default_policy(client, config.data_dir):
            log.info("installed the default DefenderPolicy (docs/defender.md)")
        resumed = await local.power_on_all()
        if resumed:
            log.info("powered on %d machine(s): %s", len(resumed), ", ".join(resumed))

        endpoint = AgentEndpoint(server.url, server.pki.ca_cert.read_bytes())
        settings = OperatorSettings(
            endpoint=endpoint,
            factories=provider_factories(client, local=local),
            # Imported hosts run the agent with an interpreter that has KubeNode's dependencies: on one
            # machine (demo, CI) that is this interpreter; `kubenode operator` defaults to pip on the host.
            importer=ssh_importer(client, PythonInstall(sys.executable), config.data_dir / "ssh-state",
                                  config.import_dir or None, endpoint=endpoint,
                                  host_root=config.import_host_root or None),
            machine=config.machine, health_port=config.health_port, identity="kubenode-up",
            probe_seconds=config.probe_seconds, release=ReleaseSettings(poll_seconds=config.release_poll_seconds))
        operators = build_manager(client, settings)
        await operators.manager.start()
    except BaseException:
        await local.power_off_all()
        if demo is not None:
            await demo.stop()
        await client.close()
        await server.stop()
        raise
    cp = ControlPlane(server, client, operators, local, demo)
    if config.console:
        try:
            # The console serves with the API server's certificate and acts with each user's own credentials.
            cp.console = await start_console(admin_config, server_ssl_context(server.pki), port=config.console_port)
        except BaseException:
            await cp.stop()
            raise
    if config.prometheus:
        try:
            cp.prometheus = await start_prometheus(config.data_dir, int(operators.manager.health_port or 0))
        except BaseException:
            await cp.stop()
            raise
    return cp


async def run_up(config: UpConfig, stop: asyncio.Event, on_ready: Callable[[ControlPlane], None]) -> None:
    """Run until `stop` is set."""
    cp = await start_control_plane(config)
    try:
        on_ready(cp)
        await stop.wait()
    finally:
        await cp.stop()
