"""The `kubenode` command's entry point: `kubenode agent` runs light, everything else through the typer app.

The typer app (:mod:`.commands`) imports typer, click, rich and pydantic and
every subcommand's module; a node agent needs none of them (issue 15, a light
agent), so `kubenode agent …` is dispatched first (:mod:`.agent_cmd`) and the
app is built only for other commands, `--help`, or arguments the light parser
leaves to typer. Names of the app (``app``, ``client_config``, the commands)
stay importable from here.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Console-script entry point."""
    argv = sys.argv[1:]
    if argv[:1] == ["agent"]:
        from kubenode.cli.agent_cmd import light_main

        if light_main(argv[1:]):
            return
    from kubenode.cli.commands import app

    app()


def __getattr__(name: str) -> Any:
    from kubenode.cli import commands

    try:
        return getattr(commands, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


if __name__ == "__main__":
    main()
