"""`kubenode simulate`: hollow nodes on the real API, and `simulate flip` to set conditions on a selection."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.cli.signals import stop_on_signals

app = typer.Typer(help="Simulated (hollow) nodes on the real API, for rehearsals at fleet scale.",
                  invoke_without_command=True)

Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                 "~/.kube/config, in-cluster).")]




@app.callback()
def simulate(
    ctx: typer.Context,
    nodes: Annotated[int, typer.Option("--nodes", min=0, help="How many hollow nodes to run.")] = 0,
    kubeconfig: Kubeconfig = None,
    faults: Annotated[str, typer.Option(
        "--faults", help='Fault injection, comma-separated TYPE[=REASON]:AMOUNT[/PERIOD], e.g. '
                         '"KernelDeadlock:1%/10m" (1% more nodes every 10 minutes) or "ReadonlyFilesystem:3" '
                         '(3 nodes, once), or the preset "storm" (KernelDeadlock:5%/30s, a developing storm).')] = "",
    lease_seconds: Annotated[float, typer.Option(min=0.1, help="Lease renewal period (a kubelet's is 10 s).")] = 10.0,
    status_seconds: Annotated[float, typer.Option(
        min=0.1, help="Full Node status post period (the agent's, as a kubelet's: 5 minutes).")] = 300.0,
    heartbeat_seconds: Annotated[float, typer.Option(
        min=0.1, help="Machine heartbeat period (the agent's: 60 s).")] = 60.0,
    install_seconds: Annotated[float, typer.Option(min=0.0, help="How long a component install takes.")] = 0.0,
    install_failure_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                                        help="Share of installs that fail (0-1).")] = 0.0,
    remedy_seconds: Annotated[float, typer.Option(min=0.0, help="How long a remediation action takes.")] = 0.0,
    remedy_failure_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                                       help="Share of remediation actions that fail (0-1).")] = 0.0,
    remedy_fixes: Annotated[bool, typer.Option(
        "--remedy-fixes/--remedy-does-not-fix", help="Whether a succeeded action clears the node's problems.")] = True,
    machines: Annotated[bool, typer.Option("--machines/--no-machines",
                                           help="Create a Machine per node (else they must exist).")] = True,
    prefix: Annotated[str, typer.Option(help="Node and Machine names: PREFIX-000000, ...")] = "sim",
    pool: Annotated[str, typer.Option(help="Value of the kubenode.io/pool label on the Machines.")] = "simulated",
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 256,
    qps: Annotated[float, typer.Option(min=0.0, help="Client-side rate limit (0: enough for the "
                                                     "periods).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the fleet's shape and of every random choice.")] = 0,
    duration: Annotated[float, typer.Option(min=0.0, help="Stop after this many seconds (0: at Ctrl-C).")] = 0.0,
    cleanup: Annotated[bool, typer.Option("--cleanup", help="Delete the simulated Nodes and Machines "
                                                            "on exit.")] = False,
    stats_seconds: Annotated[float, typer.Option(min=1.0, help="Print statistics this often.")] = 30.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run NODES hollow agents in this process (Node, Lease, Machine heartbeats, installs, remediation)."""
    if ctx.invoked_subcommand is not None:
        return
    if nodes <= 0:
        raise typer.BadParameter("say how many hollow nodes to run, e.g. --nodes 1000", param_hint="--nodes")
    from kubenode.cli.commands import client_config
    from kubenode.client.client import KubeClient
    from kubenode.gctune import tune_gc
    from kubenode.simulator.faults import FaultSpecError, parse_faults
    from kubenode.simulator.hollow import Simulator, SimulatorSettings
    from kubenode.simulator.profile import FleetShape

    try:
        fault_list = parse_faults(faults)
    except FaultSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_gc()
    writes_per_second = nodes * (1 / lease_seconds + 1 / heartbeat_seconds + 1 / status_seconds)
    rate = qps or max(100.0, writes_per_second * 2)
    config = dataclasses.replace(client_config(kubeconfig), qps=rate, burst=max(1, int(rate)),
                                 connection_limit=concurrency)
    settings = SimulatorSettings(
        nodes=nodes, shape=FleetShape(prefix=prefix, pool=pool, seed=seed), lease_seconds=lease_seconds,
        status_seconds=status_seconds, heartbeat_seconds=heartbeat_seconds, install_seconds=install_seconds,
        install_failure_rate=install_failure_rate, remedy_seconds=remedy_seconds,
        remedy_failure_rate=remedy_failure_rate, remedy_fixes=remedy_fixes, faults=fault_list,
        concurrency=concurrency, create_machines=machines, seed=seed)

    async def run() -> None:
        stop = stop_on_signals()
        async with KubeClient(config) as client:
            sim = Simulator(client, settings)
            t0 = time.monotonic()
            typer.echo(f"registering {nodes} hollow nodes ({writes_per_second:.0f} writes/s at steady state)...")
            starting = asyncio.create_task(sim.start())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                await cancel_and_wait(starting)
            else:
                starting.result()
                typer.echo(f"{nodes} hollow nodes registered in {time.monotonic() - t0:.1f}s; "
                           f"select them with -l kubenode.io/simulated=true")
            stopper.cancel()
            deadline = time.monotonic() + duration if duration else None
            try:
                while not stop.is_set() and starting.done():
                    wait = stats_seconds if deadline is None else min(stats_seconds, deadline - time.monotonic())
                    if wait <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
                    typer.echo(sim.stats.summary())
            finally:
                await sim.stop()
                if cleanup:
                    typer.echo("deleting the simulated Nodes and Machines...")
                    await sim.delete_all()
            typer.echo(f"stopped: {sim.stats.summary()}")

    asyncio.run(run())


@app.command("flip")
def flip_command(
    setting: Annotated[str, typer.Argument(help="The condition to set: TYPE=True|False|Unknown, "
                                                "e.g. KernelDeadlock=True.")],
    selector: Annotated[str, typer.Option("--selector", "-l", help="Which nodes (a label selector).")] =
        "kubenode.io/simulated=true",
    count: Annotated[int | None, typer.Option(min=0, help="Only this many of them.")] = None,
    percent: Annotated[float | None, typer.Option(min=0.0, max=100.0,
                                                  help="Only this share of them (rounded up).")] = None,
    seed: Annotated[int | None, typer.Option(help="Choose at random with this seed (default: the first "
                                                  "by name).")] = None,
    reason: Annotated[str, typer.Option(help="The condition's reason (default: node-problem-detector's).")] = "",
    kubeconfig: Kubeconfig = None,
) -> None:
    """Set a condition on a selection of Nodes (hollow or not) through the API."""
    from kubenode.cli.commands import client_config
    from kubenode.client.client import KubeClient
    from kubenode.client.errors import ApiError
    from kubenode.simulator.flip import Flip, flip

    if count is not None and percent is not None:
        raise typer.BadParameter("give --count or --percent, not both", param_hint="--count")
    try:
        parsed = Flip.parse(setting, reason)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="SETTING") from None
    config = client_config(kubeconfig)

    async def run() -> list[str]:
        async with KubeClient(config) as client:
            return await flip(client, parsed, selector, count=count, percent=percent, seed=seed)

    try:
        names = asyncio.run(run())
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{parsed.type}={parsed.status} ({parsed.reason}) on {len(names)} node(s)"
               + (f": {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" if names else ""))
