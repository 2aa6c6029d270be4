"""The `kubenode` command's typer app: a thin synchronous facade over the async core.

Entered through :mod:`kubenode.cli.main`, which runs `kubenode agent` without building this app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from kubenode.cli import eventloop
from kubenode.cli.defender_cmd import app as defender_app
from kubenode.cli.diagnose_cmd import app as diagnose_app
from kubenode.cli.release_cmd import app as release_app
from kubenode.cli.remedy_cmd import app as remedy_app
from kubenode.cli.report_cmd import app as report_app
from kubenode.cli.rollout_cmd import app as rollout_app
from kubenode.cli.signals import stop_on_signals
from kubenode.cli.simulate_cmd import app as simulate_app
from kubenode.client.config import ClientConfig, load_config
from kubenode.client.errors import ConfigError
from kubenode.gctune import tune_gc

if TYPE_CHECKING:  # the embedded server is imported by the commands that run it (an agent stays light)
    from kubenode.apiserver.datadir import StartupError
    from kubenode.apiserver.server import RunningServer, ServerConfig

app = typer.Typer(
    help="KubeNode: operate large, mixed node fleets on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(rollout_app, name="rollout")
app.add_typer(release_app, name="release")
app.add_typer(defender_app, name="defender")
app.add_typer(remedy_app, name="remedy")
app.add_typer(report_app, name="report")
app.add_typer(diagnose_app, name="diagnose")
app.add_typer(simulate_app, name="simulate")

DataDir = Annotated[Path, typer.Option("--data-dir", help="State directory (database, PKI, kubeconfig).")]
Port = Annotated[int, typer.Option("--port", help="HTTPS port of the API server (0 = any free port).")]
EventLoop = Annotated[str, typer.Option(
    "--event-loop", help="auto (uvloop when installed), uvloop or asyncio; default: $KUBENODE_EVENT_LOOP, else "
                         "auto. uvloop cuts the CPU of each request (docs/scale.md).")]


def _run_server(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run a long-running command's coroutine on the chosen event loop (kubenode.cli.eventloop)."""
    try:
        eventloop.chosen(event_loop)
    except ValueError as exc:
        main.close()
        raise typer.BadParameter(str(exc), param_hint="--event-loop") from None
    eventloop.run(main, event_loop)




def client_config(kubeconfig: Path | None) -> ClientConfig:
    """The client configuration, or a clear error naming --kubeconfig."""
    try:
        return load_config(kubeconfig)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kubeconfig") from None


async def _wait_for_signal() -> None:
    await stop_on_signals().wait()


def _banner(server: RunningServer, what: str) -> None:
    typer.echo(f"{what} listening on {server.url}")
    typer.echo(f"kubeconfig: {server.kubeconfig}")
    typer.echo("try:")
    typer.echo(f"  export KUBECONFIG={server.kubeconfig}")
    typer.echo("  kubectl get namespaces")
    typer.echo("  kubectl api-resources")
    typer.echo("Ctrl-C stops everything; starting again resumes the same state.", err=False)


def _fail_start(exc: StartupError) -> NoReturn:
    """Exit non-zero with the startup error's own words (they say what to do), no traceback."""
    typer.echo(f"Error: {exc}", err=True)
    raise typer.Exit(1)


async def _serve(config: ServerConfig, what: str) -> None:
    from kubenode.apiserver.datadir import StartupError
    from kubenode.apiserver.server import start_server

    try:
        # Who may do what comes from the RBAC, policy and CRD objects in the store alone (the server stays generic).
        server = await start_server(config)
    except StartupError as exc:
        _fail_start(exc)
    _banner(server, what)
    try:
        await _wait_for_signal()
    finally:
        typer.echo("stopping...")
        await server.stop()


def _long_running(verbose: bool) -> None:
    """Set-up of the commands that run until stopped: logging and the collector's thresholds."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_gc()


@app.command()
def apiserver(
    data_dir: DataDir = Path(".kubenode"),
    port: Port = 6443,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    node_grace_seconds: Annotated[float, typer.Option(
        min=1.0, help="A Node whose Lease is not renewed for this long turns Ready=Unknown "
                      "(kube-controller-manager's --node-monitor-grace-period).")] = 40.0,
    event_loop: EventLoop = "",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the embedded, Kubernetes-compatible API server alone."""
    from kubenode.apiserver.server import ServerConfig

    _long_running(verbose)
    _run_server(_serve(ServerConfig(data_dir=data_dir, port=port, host=host, node_grace_seconds=node_grace_seconds),
                       "kubenode apiserver"), event_loop)


@app.command()
def up(
    data_dir: DataDir = Path(".kubenode"),
    machines: Annotated[int | None, typer.Option("--machines", min=0,
                                                 help="Local machines in the fleet (default 3 on first start; "
                                                      "later starts keep the fleet's size).")] = None,
    port: Port = 6443,
    node_grace_seconds: Annotated[float, typer.Option(
        min=2.0, help="How long a node may miss Lease renewals before it is Unknown.")] = 40.0,
    import_dir: Annotated[str, typer.Option(
        help="Directory on imported hosts for the agent (default /opt/kubenode as root, else ~/.kubenode).")] = "",
    import_host_root: Annotated[str, typer.Option(
        help="Root of imported hosts' file system for the kubelet's bootstrap (/etc/kubernetes/...; default / "
             "when the SSH user is root, else none is written).")] = "",
    prometheus: Annotated[bool, typer.Option(
        "--prometheus", help="Also run Prometheus (Debian's `prometheus`) scraping the operator and agents, "
                             "with deploy/monitoring's rules; data under DIR/prometheus.")] = False,
    clusters: Annotated[str, typer.Option(
        "--clusters", help="Comma-separated member clusters (e.g. test,pre,prod): a management control plane "
                           "plus one embedded cluster per name under DIR/clusters/<name>/, each with --machines "
                           "local machines (default 1).")] = "",
    probe_seconds: Annotated[float | None, typer.Option(
        min=0.5, help="With --clusters: probe every member this often (default: each Cluster's "
                      "spec.probeIntervalSeconds).")] = None,
    cert_max_seconds: Annotated[int, typer.Option(
        min=10, help="Longest validity of a certificate the control plane signs (agents renew at 70 to 90 "
                     "percent of it; kube's --cluster-signing-duration).")] = 365 * 24 * 3600,
    event_loop: EventLoop = "",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run everything on this machine: API server, operators and a fleet of local machines."""
    from kubenode.apiserver.datadir import StartupError
    from kubenode.controlplane.prometheus import PrometheusUnavailable
    from kubenode.controlplane.up import ControlPlane, UpConfig, run_up

    _long_running(verbose)

    def ready(cp: ControlPlane) -> None:
        kc = cp.server.kubeconfig
        typer.echo(f"kubenode control plane listening on {cp.server.url}")
        typer.echo(f"kubeconfig: {kc}")
        typer.echo(f"operator metrics: http://127.0.0.1:{cp.operators.manager.health_port}/metrics")
        if cp.prometheus is not None:
            typer.echo(f"prometheus: {cp.prometheus.url}")
        if cp.console is not None:
            typer.echo(f"console: {cp.console.url} (sign in with a token, e.g. the one in {kc})")
        typer.echo("try:")
        typer.echo(f"  export KUBECONFIG={kc}")
        typer.echo("  kubectl get machines,nodes")
        typer.echo("  kubectl scale machineset local --replicas=5")
        for line in cp.notes:
            typer.echo(line)
        typer.echo("Ctrl-C stops everything; starting again resumes the same fleet.")

    names = [n.strip() for n in clusters.split(",") if n.strip()]
    if clusters:
        _check_cluster_names(names)
        _up_clusters(data_dir, names, machines, port, node_grace_seconds, probe_seconds, import_dir,
                     import_host_root, event_loop)
        return

    async def run() -> None:
        stop = stop_on_signals()
        try:
            cfg = UpConfig.with_grace(data_dir.resolve(), machines, port, node_grace_seconds)
            cfg.import_dir, cfg.import_host_root = import_dir, import_host_root
            cfg.prometheus = prometheus
            cfg.cert_max_seconds = cert_max_seconds
            await run_up(cfg, stop, ready)
        except PrometheusUnavailable as exc:
            raise typer.BadParameter(str(exc), param_hint="--prometheus") from None
        except StartupError as exc:
            _fail_start(exc)
        except OSError as exc:
            raise typer.BadParameter(f"cannot listen on port {port}: {exc.strerror}. Choose another --port.",
                                     param_hint="--port") from None
        typer.echo("stopped")

    _run_server(run(), event_loop)


def _check_cluster_names(names: list[str]) -> None:
    import re

    if not names:
        raise typer.BadParameter("name at least one cluster, e.g. --clusters test,pre,prod", param_hint="--clusters")
    for n in names:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) or len(n) > 50:
            raise typer.BadParameter(f"{n!r} is not a valid cluster name (lower-case letters, digits and '-', "
                                     "at most 50 characters)", param_hint="--clusters")
    if len(set(names)) != len(names):
        raise typer.BadParameter("cluster names must be unique", param_hint="--clusters")


def _up_clusters(data_dir: Path, names: list[str], machines: int | None, port: int, grace: float,
                 probe_seconds: float | None, import_dir: str, import_host_root: str, event_loop: str = "") -> None:
    from kubenode.controlplane.multicluster import MultiCluster, start_multicluster
    from kubenode.controlplane.up import UpConfig

    cfg = UpConfig.with_grace(data_dir.resolve(), machines, port, grace)
    cfg.import_dir, cfg.import_host_root, cfg.probe_seconds = import_dir, import_host_root, probe_seconds

    async def run() -> None:
        stop = stop_on_signals()
        try:
            mc: MultiCluster = await start_multicluster(cfg, names, 1 if machines is None else machines)
        except OSError as exc:
            raise typer.BadParameter(f"cannot listen on port {port}: {exc.strerror}. Choose another --port.",
                                     param_hint="--port") from None
        try:
            kc = mc.management.server.kubeconfig
            typer.echo(f"kubenode management control plane listening on {mc.management.server.url}")
            typer.echo(f"kubeconfig: {kc}")
            if mc.management.console is not None:
                typer.echo(f"console: {mc.management.console.url}")
            for name, member in mc.members.items():
                typer.echo(f"cluster {name}: {member.server.url} kubeconfig: {member.server.kubeconfig}")
            typer.echo("try:")
            typer.echo(f"  export KUBECONFIG={kc}")
            typer.echo("  kubectl get clusters,componentreleases")
            for line in mc.notes:
                typer.echo(line)
            typer.echo("Ctrl-C stops everything; starting again resumes the same clusters.")
            await stop.wait()
        finally:
            await mc.stop()
        typer.echo("stopped")

    _run_server(run(), event_loop)


@app.command()
def operator(
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                    "~/.kube/config, in-cluster).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Enable the `local` provider with machines "
                                                  "under DIR/machines.")] = None,
    leader_elect: Annotated[bool, typer.Option("--leader-elect/--no-leader-elect")] = True,
    lease_duration: Annotated[float, typer.Option(help="Leader Lease duration in seconds.")] = 15.0,
    identity: Annotated[str, typer.Option(help="This replica's identity (default: hostname_pid).")] = "",
    health_port: Annotated[int, typer.Option(help="Port of /healthz, /readyz and /metrics.")] = 8081,
    health_address: Annotated[str, typer.Option(help="Address of that port (0.0.0.0 in a pod, for probes and "
                                                "Prometheus).")] = "127.0.0.1",
    agent_server: Annotated[str, typer.Option(help="API server URL agents should use (default: the "
                                              "kubeconfig's).")] = "",
    import_dir: Annotated[str, typer.Option(
        help="Directory on imported hosts for the agent (default /opt/kubenode as root, else ~/.kubenode).")] = "",
    import_host_root: Annotated[str, typer.Option(
        help="Root of imported hosts' file system for the kubelet's bootstrap (/etc/kubernetes/...; default / "
             "when the SSH user is root, else none is written).")] = "",
    qps: Annotated[float, typer.Option(min=1.0, help="Client-side request rate limit towards the API server "
                                                     "(burst is twice this).")] = 50.0,
    agent_grace_seconds: Annotated[float, typer.Option(
        min=1.0, help="A Machine whose agent has not sent a heartbeat for this long is AgentConnected=Unknown "
                      "and its components' health Unknown; an agent that reports a longer heartbeat period "
                      "(status.agent.heartbeatSeconds) is given four of its periods.")] = 40.0,
    import_python: Annotated[str, typer.Option(
        help="Python on imported hosts that already has KubeNode's dependencies (default: pip-install "
             "the agent into a venv on the host).")] = "",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run all operators against an API server, leader-elected."""
    import os
    import socket

    from kubenode.client.client import KubeClient
    from kubenode.client.config import SERVICE_ACCOUNT_DIR
    from kubenode.controlplane.operators import OperatorSettings, build_manager
    from kubenode.controlplane.providers import provider_factories, ssh_importer
    from kubenode.machine.bootstrap import endpoint_from_kubeconfig, endpoint_in_cluster
    from kubenode.machine.controller import MachineControllerConfig
    from kubenode.machine.phases import Timeouts
    from kubenode.providers.bootstrap import AgentInstall, PipInstall, PythonInstall
    from kubenode.providers.local import LocalProvider
    from kubenode.runtime.leaderelection import LeaderElectionConfig

    _long_running(verbose)
    config = dataclasses.replace(client_config(kubeconfig), qps=qps, burst=max(1, int(qps * 2)))
    kc_path = kubeconfig or Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")))
    if kc_path.is_file():
        endpoint = endpoint_from_kubeconfig(kc_path, agent_server)
    else:  # in a pod: the client found the in-cluster ServiceAccount
        endpoint = endpoint_in_cluster(config.server, Path(SERVICE_ACCOUNT_DIR, "ca.crt"), agent_server)
    ident = identity or f"{socket.gethostname()}_{os.getpid()}"
    local = LocalProvider(data_dir.resolve()) if data_dir is not None else None
    install: AgentInstall = PythonInstall(import_python) if import_python else PipInstall()
    state_dir = (data_dir or Path.home() / ".kubenode").resolve() / "ssh-state"
    election = None
    if leader_elect:
        election = LeaderElectionConfig(lease_name="kubenode-operator", lease_namespace="kube-system",
                                        identity=ident, lease_duration=lease_duration,
                                        renew_deadline=lease_duration * 2 / 3, retry_period=lease_duration / 7.5)

    async def run() -> None:
        stop = stop_on_signals()
        async with KubeClient(config) as client:
            ops = build_manager(client, OperatorSettings(endpoint=endpoint,
                                                         factories=provider_factories(client, local=local),
                                                         importer=ssh_importer(client, install, state_dir,
                                                                               import_dir or None,
                                                                               endpoint=endpoint,
                                                                               host_root=import_host_root or None),
                                                         machine=MachineControllerConfig(
                                                             timeouts=Timeouts(agent_grace=agent_grace_seconds)),
                                                         leader_election=election, health_port=health_port,
                                                         health_host=health_address,
                                                         identity=ident))
            await ops.manager.start()
            typer.echo(f"kubenode operator {ident} started (leader election {'on' if election else 'off'})")
            waiter = asyncio.create_task(ops.manager.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            lost = ops.manager.lease_lost
            await ops.stop()
            if lost:
                typer.echo("lost the leader Lease; exiting so a fresh replica can campaign", err=True)
                raise SystemExit(1)

    asyncio.run(run())


@app.command()
def console(
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig naming the API server and "
                                                    "its CA (users sign in with their own credentials).")] = None,
    port: Annotated[int, typer.Option("--port", help="HTTPS port (0 = any free port).")] = 8443,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Certificate (PEM) to serve.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the web console for a cluster (real or embedded), over TLS."""
    import ssl
    import tempfile

    from kubenode.console import start_console

    _long_running(verbose)
    config = client_config(kubeconfig)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls_cert is not None and tls_key is not None:
        ctx.load_cert_chain(str(tls_cert), str(tls_key))
    elif tls_cert is not None or tls_key is not None:
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither", param_hint="--tls-cert")
    else:
        from kubenode.apiserver.security import ensure_pki

        tmp = tempfile.mkdtemp(prefix="kubenode-console-")
        paths = ensure_pki(Path(tmp), [host, "localhost"])
        ctx.load_cert_chain(str(paths.server_cert), str(paths.server_key))
        typer.echo(f"serving a self-signed certificate (CA {paths.ca_cert}); pass --tls-cert/--tls-key for your own")

    async def run() -> None:
        stop = stop_on_signals()
        running = await start_console(config, ctx, host, port)
        typer.echo(f"console: {running.url}")
        try:
            await stop.wait()
        finally:
            await running.stop()

    asyncio.run(run())


@app.command()
def crds() -> None:
    """Print the KubeNode CRDs as YAML (kubectl apply -f - on a real cluster)."""
    from kubenode.cli.crds_cmd import crds_command

    crds_command()


def _paths(flag: str) -> tuple[str, ...]:
    """A comma-separated list of config paths, as node-problem-detector's --config.* flags take them."""
    return tuple(p.strip() for p in flag.split(",") if p.strip())


@app.command()
def rbac() -> None:
    """Print KubeNode's ServiceAccounts, Roles and bindings as YAML (kubectl apply -f - on a real cluster)."""
    from kubenode.api.rbac import rbac_yaml

    typer.echo(rbac_yaml(), nl=False)


@app.command()
def policies() -> None:
    """Print the node-isolation ValidatingAdmissionPolicy and binding as YAML (kubectl apply -f -)."""
    from kubenode.api.policies import policies_yaml

    typer.echo(policies_yaml(), nl=False)


@app.command()
def agent(
    machine: Annotated[str, typer.Option("--machine", help="Name of this node's Machine (default: the node "
                                         "name, as adopted Nodes' Machines are named).")] = "",
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help=(
        "The agent's kubeconfig. With --bootstrap-kubeconfig the agent writes it itself (client certificate).")
    )] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Machine root (local mode).")] = None,
    register_node: Annotated[bool, typer.Option("--register-node", help="Register and own the Node.")] = False,
    node_name: Annotated[str, typer.Option("--node-name", help="Node name (default: the machine name).")] = "",
    host_root: Annotated[Path | None, typer.Option(
        "--host-root", help="DaemonSet mode: the host's root filesystem as mounted in the pod (e.g. /host). The "
        "kubelet owns the Node: the agent only reports its conditions, installs components and systemd units "
        "on the host through this root and reboots through the host's systemd.")] = None,
    heartbeat_seconds: Annotated[float, typer.Option(help=(
        "Machine heartbeat interval (reported in status.agent.heartbeatSeconds; the operator waits four "
        "before AgentConnected turns Unknown). Liveness is the 10 s Node Lease."))] = 60.0,
    lease_seconds: Annotated[float, typer.Option(help="Node Lease renew interval.")] = 10.0,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", help="Port of the agent's /metrics and /logs endpoint (0: a free port; default: a free "
        "port with --root, 9102 on a host, or a free one when 9102 is taken).", min=0, max=65535)] = None,
    metrics_address: Annotated[str, typer.Option(
        "--metrics-address", help="Address to bind the endpoint to (default 127.0.0.1 with --root, else "
        "0.0.0.0).")] = "",
    system_log_monitor: Annotated[str, typer.Option(
        "--config.system-log-monitor", help="node-problem-detector's flag: comma-separated system log monitor "
        "configs (kmsg, filelog, journald); one whose source is kernel-monitor replaces the built-in kernel "
        "monitor.")] = "",
    custom_plugin_monitor: Annotated[str, typer.Option(
        "--config.custom-plugin-monitor", help="node-problem-detector's flag: comma-separated custom plugin "
        "monitor configs.")] = "",
    system_stats_monitor: Annotated[str, typer.Option(
        "--config.system-stats-monitor", help="node-problem-detector's flag: comma-separated system stats "
        "monitor configs (exported as metrics on /metrics).")] = "",
    trust_file_dir: Annotated[list[Path] | None, typer.Option(
        "--trust-file-dir", help="A directory file:// component sources may come from (repeatable; default: "
                                 "DATA/artifacts in local mode, none otherwise).")] = None,
    bootstrap_kubeconfig: Annotated[Path | None, typer.Option("--bootstrap-kubeconfig", help=(
        "Kubeconfig with a bootstrap token, used to request the agent's client certificate when --kubeconfig "
        "holds no valid one."))] = None,
    cert_seconds: Annotated[int, typer.Option("--cert-seconds", help=(
        "Requested validity of the agent's client certificate (the signer may shorten it).")
    )] = 7 * 24 * 3600,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the KubeNode agent for one machine."""
    from kubenode.cli.agent_cmd import AgentArgs, AgentUsageError, run_agent

    args = AgentArgs(machine=machine, kubeconfig=kubeconfig, root=root, register_node=register_node,
                     node_name=node_name, host_root=host_root, heartbeat_seconds=heartbeat_seconds,
                     lease_seconds=lease_seconds, metrics_port=metrics_port, metrics_address=metrics_address,
                     system_log_monitor=system_log_monitor, custom_plugin_monitor=custom_plugin_monitor,
                     system_stats_monitor=system_stats_monitor, trust_file_dir=trust_file_dir,
                     bootstrap_kubeconfig=bootstrap_kubeconfig, cert_seconds=cert_seconds, verbose=verbose)
    try:
        run_agent(args)
    except AgentUsageError as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.param_hint) from None


def main() -> None:
    """Run the typer app (the console script enters through :mod:`kubenode.cli.main`)."""
    app()
