"""`kubenode report slo|coverage|utilization|consistency`: fleet reports from the API and Prometheus.

Objects are read through the Kubernetes API (the same lists `kubectl get`
shows); Prometheus is queried only when `--prometheus URL` is given (and is
required for `utilization`, which has no source in the API). The logic lives
in :mod:`kubenode.cli.reports`; this module fetches and prints.
"""

from __future__ import annotations

import asyncio
import os
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

if TYPE_CHECKING:
    from kubenode.cli import reports as r
else:
    class _Reports:
        """`kubenode.cli.reports`, imported on first use (every command pays for it, not an agent's start)."""

        def __getattr__(self, name: str) -> Any:
            from kubenode.cli import reports

            return getattr(reports, name)

    r = _Reports()

app = typer.Typer(help="Fleet reports: SLOs, component coverage, utilization, consistency.", no_args_is_help=True)

Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, "
                                                 "~/.kube/config, in-cluster).")]
PrometheusURL = Annotated[str | None, typer.Option("--prometheus", help="Prometheus base URL, e.g. "
                                                   "http://127.0.0.1:9090 (kubenode up --prometheus prints it).")]
By = Annotated[str, typer.Option("--by", help="Group by `machineset` or `label:KEY` (a Machine label).")]
Window = Annotated[str, typer.Option("--window", help="Window, e.g. 1h, 24h, 7d.")]


class Output(StrEnum):
    """Output formats."""

    table = "table"
    json = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]


def api_client(kubeconfig: Path | None) -> Any:
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config
    from kubenode.client.errors import ConfigError

    try:
        return KubeClient(load_config(kubeconfig))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kubeconfig") from None


def local_data_dir(kubeconfig: Path | None, data_dir: Path | None) -> Path | None:
    """Where local machines live: --data-dir, else beside a `kubenode up` kubeconfig (DIR/kubeconfig)."""
    if data_dir is not None:
        return data_dir
    path = kubeconfig or (Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None)
    if path is not None and (path.parent / "machines").is_dir():
        return path.parent
    return None


async def fetch_fleet(client: Any, local_dir: Path | None = None) -> r.Fleet:
    """Every object the reports read, listed through the API."""
    from kubenode.client.resources import NODES
    from kubenode.componentset.resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS
    from kubenode.machine.resources import INFRA_PROVIDERS, MACHINES
    from kubenode.providers.local import LocalProvider
    from kubenode.remedy.resources import REMEDY_JOBS

    results = await asyncio.gather(*(client.list(res) for res in (
        MACHINES, NODES, MACHINE_COMPONENTS, MACHINE_COMPONENT_SETS, REMEDY_JOBS, INFRA_PROVIDERS)))
    machines, nodes, comps, sets, jobs, providers = (items for items, _ in results)
    fleet = r.Fleet(time.time(), machines, nodes, comps, sets, jobs, providers)
    if local_dir is not None:
        instances = LocalProvider(local_dir).instances()
        for p in providers:
            if (p.get("spec") or {}).get("type") == "local":
                fleet.instances[p["metadata"]["name"]] = instances
    return fleet


async def query_all(url: str, queries: dict[str, str]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Run each query; results as (labels, value) lists, keyed like `queries`."""
    from kubenode.client.prometheus import PrometheusClient

    async with PrometheusClient(url) as prom:
        answers = await asyncio.gather(*(prom.query(q) for q in queries.values()))
    return {k: [(s.labels, s.value) for s in a] for k, a in zip(queries, answers, strict=True)}


def _run(coro: Any) -> Any:
    from kubenode.client.errors import KubeError
    from kubenode.client.prometheus import PrometheusError

    try:
        return asyncio.run(coro)
    except PrometheusError as exc:
        raise typer.BadParameter(str(exc), param_hint="--prometheus") from None
    except KubeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _emit(report: dict[str, Any], output: Output, rows: Any, empty: str = "") -> None:
    if output is Output.json:
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        return
    header, body = rows(report)
    if not body and empty:
        typer.echo(empty)
        return
    typer.echo(r.render_table(header, body))


def _window(text: str) -> int:
    try:
        return r.parse_window(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--window") from None


def _by(text: str) -> str:
    try:
        return r.parse_by(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--by") from None


@app.command()
def slo(
    window: Window = "24h",
    prometheus: PrometheusURL = None,
    output: OutputOpt = Output.table,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Node availability, remediation time to healthy and rollout success over a window."""
    seconds = _window(window)

    async def run() -> dict[str, Any]:
        async with api_client(kubeconfig) as client:
            fleet = await fetch_fleet(client)
        prom = await query_all(prometheus, r.slo_queries(seconds)) if prometheus else None
        return r.slo_report(fleet, seconds, prom)

    _emit(_run(run()), output, r.slo_rows)


@app.command()
def coverage(
    by: By = "machineset",
    output: OutputOpt = Output.table,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Per component: installed versions and their share of the machines, by MachineSet or a label."""
    group = _by(by)

    async def run() -> dict[str, Any]:
        async with api_client(kubeconfig) as client:
            return r.coverage_report(await fetch_fleet(client), group)

    _emit(_run(run()), output, r.coverage_rows, "No machines.")


@app.command()
def utilization(
    prometheus: PrometheusURL = None,
    by: By = "machineset",
    window: Window = "1h",
    output: OutputOpt = Output.table,
    kubeconfig: Kubeconfig = None,
) -> None:
    """CPU, memory and disk utilization percentiles per MachineSet or label (from Prometheus)."""
    if not prometheus:
        raise typer.BadParameter("utilization comes from the agents' metrics: pass --prometheus URL "
                                 "(kubenode up --prometheus prints it)", param_hint="--prometheus")
    group, seconds = _by(by), _window(window)

    async def run() -> dict[str, Any]:
        async with api_client(kubeconfig) as client:
            fleet = await fetch_fleet(client)
        samples = await query_all(prometheus, r.utilization_queries(seconds))
        return r.utilization_report(fleet, group, seconds, samples)

    _emit(_run(run()), output, r.utilization_rows, "No machines.")


@app.command()
def consistency(
    output: OutputOpt = Output.table,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Local machines' directory, to list the `local` provider's instances (default: "
                           "beside a kubenode up kubeconfig).")] = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Machines without Nodes, Nodes without Machines, orphan instances, label/taint and component drift."""
    local = local_data_dir(kubeconfig, data_dir)

    async def run() -> dict[str, Any]:
        async with api_client(kubeconfig) as client:
            return r.consistency_report(await fetch_fleet(client, local))

    report = _run(run())
    if output is Output.json:
        _emit(report, output, r.consistency_rows)
        return
    header, rows = r.consistency_rows(report)
    if rows:
        typer.echo(r.render_table(header, rows))
    else:
        typer.echo("Consistent: every Machine has its Node and every Node its Machine; no drift.")
    if report["providersNotListable"]:
        typer.echo("Instances not checked for providers that cannot list them: "
                   + ", ".join(report["providersNotListable"]))
