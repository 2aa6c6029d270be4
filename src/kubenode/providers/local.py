"""The `local` provider: a machine is a root directory plus an agent process.

Machine M lives under DATA/machines/M/ (its root). Creating it writes the
agent's bootstrap kubeconfig there (ROOT/etc/bootstrap-kubeconfig; the agent
writes its own, with its client certificate, to ROOT/etc/kubeconfig) and starts `kubenode agent` as a child process in
its own session, logging to ROOT/var/log/agent.log. The process is recorded
in ROOT/run/agent.pid together with its start time, so a restarted operator
re-adopts a running agent — and never mistakes a recycled PID for it.

A crashed agent is *not* restarted behind the operator's back: to the rest of
the system that is what a dead host looks like (its Node goes Unknown, the
Machine says so, remediation can reboot or replace it). A clean shutdown of
`kubenode up` marks machines as powered off, and `power_on_all` starts them
again on the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil

from .base import (
    STATE_MISSING,
    STATE_RUNNING,
    STATE_STOPPED,
    Bootstrap,
    InfraProvider,
    InfraStatus,
    Obj,
    ProviderError,
)

POWERED_OFF = "powered-off"


class LocalProvider(InfraProvider):
    """Machines as local agent processes with their own root directories."""

    type = "local"

    def __init__(self, data_dir: Path, *, python: str = sys.executable, extra_env: dict[str, str] | None = None,
                 agent_args: tuple[str, ...] = ()) -> None:
        self.machines_dir = data_dir / "machines"
        self.python = python
        self.extra_env = dict(extra_env or {})
        self.agent_args = agent_args

    # ------------------------------------------------------------------ paths
    def root(self, name: str) -> Path:
        """The root directory of machine `name`."""
        if not name or "/" in name or name in (".", ".."):
            raise ProviderError(f"invalid machine name {name!r}", retryable=False, reason="InvalidName")
        return self.machines_dir / name

    @staticmethod
    def _name(machine: Obj) -> str:
        return str(machine["metadata"]["name"])

    @staticmethod
    def _uid(machine: Obj) -> str:
        return str(machine["metadata"].get("uid", ""))

    def _status(self, name: str, state: str, message: str = "") -> InfraStatus:
        return InfraStatus(
            state=state, provider_id=f"local:///{name}", message=message,
            addresses=[{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        )

    # ------------------------------------------------------------------ process bookkeeping
    def _pid_file(self, root: Path) -> Path:
        return root / "run" / "agent.pid"

    def _process(self, root: Path) -> psutil.Process | None:
        """The live agent process of `root`, if the recorded one still runs."""
        try:
            pid_s, started_s = self._pid_file(root).read_text().split()
            proc = psutil.Process(int(pid_s))
            if abs(proc.create_time() - float(started_s)) > 0.5 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def _owned_by(self, root: Path, uid: str) -> bool:
        try:
            return (root / "machine-uid").read_text().strip() == uid
        except FileNotFoundError:
            return False

    # ------------------------------------------------------------------ contract
    async def create(self, machine: Obj, bootstrap: Bootstrap) -> InfraStatus:
        """Create the root (once per UID) and start the agent unless it already runs."""
        name, uid = self._name(machine), self._uid(machine)
        root = self.root(name)
        if root.exists() and not self._owned_by(root, uid) and (root / "machine-uid").exists():
            # A previous machine of the same name left its root: it is not ours, remove it first.
            await self._stop(root)
            shutil.rmtree(root, ignore_errors=True)
        for sub in ("run", "var/log", "etc", "dev", "opt"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "machine-uid").write_text(uid + "\n")
        _write_private(root / "etc" / "bootstrap-kubeconfig", bootstrap.kubeconfig)
        (root / "dev" / "kmsg").touch(exist_ok=True)
        boot_id = root / "run" / "boot_id"
        if not boot_id.exists():
            boot_id.write_text(str(uuid.uuid4()) + "\n")
        with contextlib.suppress(FileNotFoundError):
            (root / POWERED_OFF).unlink()
        if self._process(root) is None:
            self._start(root, name, bootstrap)
        return self._status(name, STATE_RUNNING)

    def _start(self, root: Path, name: str, bootstrap: Bootstrap) -> None:
        cmd = [
            self.python, "-m", "kubenode.cli.main", "agent", "--machine", name,
            "--kubeconfig", str(root / "etc" / "kubeconfig"),
            "--bootstrap-kubeconfig", str(root / "etc" / "bootstrap-kubeconfig"), "--root", str(root),
            "--node-name", bootstrap.node_name, *bootstrap.agent_args, *self.agent_args,
        ]
        (root / "run" / "agent.cmd").write_text("\0".join(cmd))
        self._spawn(root, cmd)

    def _spawn(self, root: Path, cmd: list[str]) -> None:
        env = dict(os.environ, **self.extra_env)
        with open(root / "var" / "log" / "agent.log", "ab") as log:
            proc = psutil.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                env=env, cwd=str(root))
        self._pid_file(root).write_text(f"{proc.pid} {proc.create_time()}\n")

    async def _stop(self, root: Path, grace: float = 10.0) -> None:
        proc = self._process(root)
        if proc is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, grace)
            except psutil.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)

    async def delete(self, machine: Obj) -> InfraStatus:
        """Stop the agent and remove the root; idempotent."""
        name = self._name(machine)
        root = self.root(name)
        if root.exists() and (self._owned_by(root, self._uid(machine)) or not (root / "machine-uid").exists()):
            await self._stop(root)
            await asyncio.to_thread(shutil.rmtree, root, True)
        return self._status(name, STATE_MISSING)

    async def state(self, machine: Obj) -> InfraStatus:
        """Running while the recorded agent process lives; Stopped when it died; Missing without a root."""
        name = self._name(machine)
        root = self.root(name)
        if not root.exists() or not self._owned_by(root, self._uid(machine)):
            return self._status(name, STATE_MISSING)
        if self._process(root) is not None:
            return self._status(name, STATE_RUNNING)
        msg = "powered off" if (root / POWERED_OFF).exists() else "the agent process is not running"
        return self._status(name, STATE_STOPPED, msg)

    # ------------------------------------------------------------------ local-only operations
    def instances(self) -> list[str]:
        """Names of the machine roots that exist (the provider's instances, for consistency reports)."""
        if not self.machines_dir.is_dir():
            return []
        return sorted(r.name for r in self.machines_dir.iterdir() if r.is_dir())

    async def power_off_all(self) -> None:
        """Stop every agent cleanly (kubenode up shutting down)."""
        if not self.machines_dir.exists():
            return
        roots = [r for r in self.machines_dir.iterdir() if r.is_dir()]
        for root in roots:
            if self._process(root) is not None:
                (root / POWERED_OFF).touch()
        await asyncio.gather(*(self._stop(r) for r in roots))

    async def power_on_all(self) -> list[str]:
        """Start agents of machines that were powered off cleanly; returns their names."""
        started: list[str] = []
        if not self.machines_dir.exists():
            return started
        for root in sorted(self.machines_dir.iterdir()):
            if (root / POWERED_OFF).exists() and self._process(root) is None:
                cmd_file = root / "run" / "agent.cmd"
                if not cmd_file.exists():
                    continue
                self._spawn(root, cmd_file.read_text().split("\0"))
                (root / POWERED_OFF).unlink()
                started.append(root.name)
        return started

    async def reboot(self, machine: Obj) -> None:
        """A simulated reboot: stop the agent, give the machine a new boot ID, start it again."""
        name = self._name(machine)
        root = self.root(name)
        cmd_file = root / "run" / "agent.cmd"
        if not cmd_file.exists():
            raise ProviderError(f"machine {name} has never been started", retryable=False)
        await self._stop(root)
        (root / "run" / "boot_id").write_text(str(uuid.uuid4()) + "\n")
        (root / POWERED_OFF).touch()
        await self.power_on_all()


def _write_private(path: Path, content: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.replace(tmp, path)
