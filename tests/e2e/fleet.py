"""Helpers for end-to-end tests with real processes: `kubenode up`, agents and kubectl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubenode.apiserver.server import free_port


def wait_for(check: Callable[[], Any], within: float, what: str, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


class Kubectl:
    """Runs the real kubectl against one kubeconfig."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=120,
                              env={**os.environ, **(env or {})}, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


class Process:
    """A child process in its own session, always cleaned up."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, **(env or {})})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT, grace: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def kubenode(*args: str) -> list[str]:
    """argv for the kubenode command of this interpreter."""
    return [sys.executable, "-m", "kubenode.cli.main", *args]


def start_up(data: Path, machines: int, grace: float, log: Path, *extra: str) -> tuple[Process, int]:
    """Start `kubenode up`; returns once its kubeconfig exists and the server answers."""
    port = free_port()
    proc = Process(kubenode("up", "--data-dir", str(data), "--port", str(port), "--machines", str(machines),
                            "--node-grace-seconds", str(grace), *extra), log)
    wait_for(lambda: "listening on" in proc.output() or not proc.alive(), 60, "kubenode up to start")
    assert proc.alive(), proc.output()
    return proc, port


def kill_agents(data: Path) -> None:
    """Kill every local agent left behind (belt and braces after a test)."""
    for pid_file in data.glob("machines/*/run/agent.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError, OSError):
            pass
