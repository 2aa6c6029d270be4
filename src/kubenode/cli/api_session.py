"""One async call against the API server from a sync command: a client of `--kubeconfig`, errors as exits.

Every command that reads or writes through the API does the same three things: load the kubeconfig (a bad
one is a usage error of `--kubeconfig`), run its coroutine with a client in `asyncio.run`, and turn what
the API or the network answered into a message and an exit code. Imports stay inside the functions: the
CLI's start (and an agent's) does not pay for the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from kubenode.client.client import KubeClient

T = TypeVar("T")


def with_client(kubeconfig: Path | None, fn: Callable[[KubeClient], Awaitable[T]]) -> T:
    """`fn(client)` with a client of `kubeconfig` (default: $KUBECONFIG, ~/.kube/config, in-cluster).

    A kubeconfig that cannot be loaded is a `typer.BadParameter` of `--kubeconfig`; what `fn` raises
    propagates (the caller says what it means)."""
    from kubenode.client.client import KubeClient
    from kubenode.client.config import load_config
    from kubenode.client.errors import ConfigError

    try:
        config = load_config(kubeconfig)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kubeconfig") from None

    async def main() -> T:
        async with KubeClient(config) as client:
            return await fn(client)

    return asyncio.run(main())


def run_or_exit(kubeconfig: Path | None, fn: Callable[[KubeClient], Awaitable[T]],
                refusals: tuple[type[Exception], ...] = ()) -> T:
    """:func:`with_client`; an API error or one of `refusals` (the command's own) prints `error: ...` and
    exits 1, as does an API server that cannot be reached."""
    from kubenode.client.errors import ApiError

    said: tuple[type[Exception], ...] = (*refusals, ApiError)
    try:
        return with_client(kubeconfig, fn)
    except said as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.secho(f"error: cannot reach the API server: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
