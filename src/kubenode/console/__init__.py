"""The KubeNode web console (see docs/console.md)."""

from .app import RunningConsole, start_console

__all__ = ["RunningConsole", "start_console"]
