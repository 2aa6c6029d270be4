"""`kubenode agent`: what the command does, and a light entry that runs it without building the typer app.

The agent is the one long-running command on every node, so its process
must stay small (issue 15, a light agent): typer and its click, rich and
pydantic, plus every other subcommand's module, are several MiB an agent
never uses. `kubenode agent …` is therefore parsed here with argparse
(:func:`light_main`) and only falls back to the typer app — which defines
the same options, documents them in `--help` and reports usage errors in
its usual form — when it asks for help or the arguments are not plainly
valid. `tests/unit/test_agent_cli.py` keeps both option lists identical.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kubenode.cli.signals import stop_on_signals

__all__ = ["AgentArgs", "AgentUsageError", "light_main", "light_parser", "run_agent", "validate"]


class AgentUsageError(Exception):
    """A bad combination of agent options: shown like typer's BadParameter for ``param_hint``."""

    def __init__(self, message: str, param_hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


@dataclass
class AgentArgs:
    """The parsed options of `kubenode agent` (names and defaults as in the typer command)."""

    machine: str = ""
    kubeconfig: Path | None = None
    root: Path | None = None
    register_node: bool = False
    node_name: str = ""
    host_root: Path | None = None
    heartbeat_seconds: float = 60.0
    lease_seconds: float = 10.0
    metrics_port: int | None = None
    metrics_address: str = ""
    system_log_monitor: str = ""
    custom_plugin_monitor: str = ""
    system_stats_monitor: str = ""
    trust_file_dir: list[Path] | None = field(default=None)
    bootstrap_kubeconfig: Path | None = None
    cert_seconds: int = 7 * 24 * 3600
    verbose: bool = False


def validate(args: AgentArgs) -> None:
    """Raise :class:`AgentUsageError` for options that cannot run together."""
    if not args.machine and not args.node_name:
        raise AgentUsageError("give --machine NAME, --node-name NAME or both (in a DaemonSet: "
                              "--node-name $(NODE_NAME) from the downward API)", "--machine")
    if args.host_root is not None and (args.root is not None or args.register_node):
        raise AgentUsageError("--host-root (DaemonSet mode, the kubelet owns the Node) cannot be combined "
                              "with --root or --register-node", "--host-root")
    if args.host_root is not None and not args.host_root.is_dir():
        raise AgentUsageError(f"{args.host_root} is not a directory: mount the host's / there (hostPath)",
                              "--host-root")
    if args.bootstrap_kubeconfig is not None and args.kubeconfig is None:
        raise AgentUsageError("--bootstrap-kubeconfig needs --kubeconfig: where the agent writes its own",
                              "--kubeconfig")


def _paths(flag: str) -> tuple[str, ...]:
    """A comma-separated list of config paths, as node-problem-detector's --config.* flags take them."""
    return tuple(p.strip() for p in flag.split(",") if p.strip())




def run_agent(args: AgentArgs) -> None:
    """Run the agent until SIGINT/SIGTERM; :class:`AgentUsageError` for bad options or credentials."""
    from kubenode.agent import HTTP_TRANSPORT
    from kubenode.agent.agent import Agent, AgentConfig
    from kubenode.agent.extensions import build_extensions
    from kubenode.agent.identity import CertificateRotator, IdentityError, IdentityPaths, ensure_identity
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config
    from kubenode.client.errors import ConfigError
    from kubenode.gctune import tune_gc

    validate(args)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_gc()
    machine = args.machine or args.node_name
    cfg = AgentConfig(machine=machine, node_name=args.node_name or machine, root=args.root,
                      host_root=args.host_root, register_node=args.register_node,
                      heartbeat_seconds=args.heartbeat_seconds, lease_seconds=args.lease_seconds,
                      metrics_host=args.metrics_address or ("127.0.0.1" if args.root is not None else "0.0.0.0"),
                      metrics_port=args.metrics_port,
                      system_log_monitors=_paths(args.system_log_monitor),
                      custom_plugin_monitors=_paths(args.custom_plugin_monitor),
                      system_stats_monitors=_paths(args.system_stats_monitor),
                      trusted_file_dirs=tuple(args.trust_file_dir) if args.trust_file_dir else None)
    kubeconfig, bootstrap = args.kubeconfig, args.bootstrap_kubeconfig
    paths = IdentityPaths(kubeconfig, bootstrap) if kubeconfig is not None else None

    async def run() -> None:
        stop = stop_on_signals()
        if paths is not None and bootstrap is not None:
            try:
                await ensure_identity(paths, cfg.node_name, args.cert_seconds, stop)
            except asyncio.CancelledError:
                return
            except IdentityError as exc:
                raise AgentUsageError(str(exc), "--kubeconfig") from None
        try:
            config = load_config(kubeconfig)
        except ConfigError as exc:
            raise AgentUsageError(str(exc), "--kubeconfig") from None
        config.transport = HTTP_TRANSPORT  # the light transport: no aiohttp in an agent
        async with KubeClient(config) as client:
            extensions = build_extensions(client, cfg)
            if paths is not None and config.client_cert_file:
                extensions.append(CertificateRotator(client, paths, cfg.node_name, args.cert_seconds))
            await Agent(client, cfg, extensions).run(stop)

    print(f"kubenode agent for machine {machine} (node {cfg.node_name})", flush=True)
    asyncio.run(run())


class _Refused(Exception):
    """The light parser does not handle these arguments: the typer app will."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Refused(message)


def light_parser() -> argparse.ArgumentParser:
    """The agent's options for argparse: the same flags, types and defaults as the typer command."""
    p = _Parser(prog="kubenode agent", add_help=False, allow_abbrev=False)
    p.add_argument("--machine", default="")
    p.add_argument("--kubeconfig", type=Path, default=None)
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--register-node", dest="register_node", action="store_true", default=False)
    p.add_argument("--node-name", dest="node_name", default="")
    p.add_argument("--host-root", dest="host_root", type=Path, default=None)
    p.add_argument("--heartbeat-seconds", dest="heartbeat_seconds", type=float, default=60.0)
    p.add_argument("--lease-seconds", dest="lease_seconds", type=float, default=10.0)
    p.add_argument("--metrics-port", dest="metrics_port", type=int, default=None)
    p.add_argument("--metrics-address", dest="metrics_address", default="")
    p.add_argument("--config.system-log-monitor", dest="system_log_monitor", default="")
    p.add_argument("--config.custom-plugin-monitor", dest="custom_plugin_monitor", default="")
    p.add_argument("--config.system-stats-monitor", dest="system_stats_monitor", default="")
    p.add_argument("--trust-file-dir", dest="trust_file_dir", type=Path, action="append", default=None)
    p.add_argument("--bootstrap-kubeconfig", dest="bootstrap_kubeconfig", type=Path, default=None)
    p.add_argument("--cert-seconds", dest="cert_seconds", type=int, default=7 * 24 * 3600)
    p.add_argument("--verbose", "-v", dest="verbose", action="store_true", default=False)
    return p


def parse_light(argv: list[str]) -> AgentArgs | None:
    """The options in ``argv`` (after `agent`), or None when the typer app should handle them."""
    if any(a in ("--help", "-h") for a in argv):
        return None
    try:
        ns = light_parser().parse_args(argv)
    except _Refused:
        return None
    args = AgentArgs(**vars(ns))
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        return None
    try:
        validate(args)
    except AgentUsageError:
        return None
    return args


def light_main(argv: list[str]) -> bool:
    """Run `kubenode agent` from ``argv`` (after `agent`) without typer; False if the typer app must."""
    args = parse_light(argv)
    if args is None:
        return False
    try:
        run_agent(args)
    except AgentUsageError as exc:  # found while running (bootstrap, kubeconfig): click's usage-error form
        print(f"Usage: kubenode agent [OPTIONS]\nTry 'kubenode agent --help' for help.\n\n"
              f"Error: Invalid value for {exc.param_hint}: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    return True
