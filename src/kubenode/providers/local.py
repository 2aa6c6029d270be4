"""The `local` provider: a machine is a root directory plus an agent process.

Machine M lives under DATA/machines/M/ (its root). Creating it writes the
agent's bootstrap kubeconfig there (ROOT/etc/bootstrap-kubeconfig; the agent
writes its own, with its client certificate, to ROOT/etc/kubeconfig) and starts `kubenode agent` as a child process in
its own session, logging to ROOT/var/log/agent.log. The process is recorded
in ROOT/run/agent.pid together with its start time, so a restarted operator
re-adopts a running agent — and never mistakes a recycled PID for it.

An agent that dies is restarted by the provider's supervision, as systemd's
`Restart=on-failure` would on a host: with exponential backoff (1 s, 2 s,
4 s, … up to a minute; back to 1 s once an agent ran for a minute), every
restart counted in ROOT/run/agent.restarts and logged. While it is gone the
system sees what a host with a dead agent looks like (the Machine's
AgentConnected goes Unknown, its components' health becomes Unknown, the
Node goes Unknown after the grace period). A clean shutdown of `kubenode up`
marks machines as powered off (not restarted), and `power_on_all` starts them
again on the next run; a restarted operator re-adopts running agents and
resumes supervising them on its first look (`state`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
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
#: Supervision: how often a supervised agent is looked at, and the restart backoff.
SUPERVISE_INTERVAL = 0.5
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET_AFTER = 1.0, 60.0, 60.0

log = logging.getLogger("kubenode.providers.local")


def restart_delay(restarts: int) -> float:
    """Seconds to wait before restart number `restarts` (1-based): 1, 2, 4, … capped at a minute."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, restarts - 1)))


class LocalProvider(InfraProvider):
    """Machines as local agent processes with their own root directories."""

    type = "local"

    def __init__(self, data_dir: Path, *, python: str = sys.executable, extra_env: dict[str, str] | None = None,
                 agent_args: tuple[str, ...] = ()) -> None:
        self.machines_dir = data_dir / "machines"
        self.python = python
        self.extra_env = dict(extra_env or {})
        self.agent_args = agent_args
        self._supervisors: dict[Path, asyncio.Task[None]] = {}

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
        with open(root / "var" / "log" / "agent.log", "ab") as out:
            proc = psutil.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                env=env, cwd=str(root))
        self._pid_file(root).write_text(f"{proc.pid} {proc.create_time()}\n")
        self._supervise(root)

    # ------------------------------------------------------------------ supervision
    def _supervise(self, root: Path) -> None:
        """Make sure the agent of `root` is supervised (restarted with backoff when it dies)."""
        task = self._supervisors.get(root)
        if task is not None and not task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to supervise with
            self._supervisors[root] = asyncio.get_running_loop().create_task(
                self._supervisor(root), name=f"supervise:{root.name}")

    def _unsupervise(self, root: Path) -> None:
        task = self._supervisors.pop(root, None)
        if task is not None:
            task.cancel()

    def restarts(self, root: Path) -> int:
        """How many times the provider restarted the agent of `root` since it last ran for a minute."""
        try:
            return int((root / "run" / "agent.restarts").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return 0

    async def _supervisor(self, root: Path) -> None:
        started = time.monotonic()
        while True:
            if self._process(root) is not None:
                await asyncio.sleep(SUPERVISE_INTERVAL)
                continue
            delay = self._agent_died(root, ran_for=time.monotonic() - started)
            if delay is None:
                return
            await asyncio.sleep(delay)
            if self._respawn(root):
                started = time.monotonic()

    def _agent_died(self, root: Path, ran_for: float) -> float | None:
        """Record a restart of the dead agent of `root`; the delay before it (None: do not restart)."""
        if not root.exists() or (root / POWERED_OFF).exists() or not (root / "run" / "agent.cmd").exists():
            return None  # deleted, powered off or never started: not ours to bring back
        with contextlib.suppress(psutil.Error, ValueError, OSError):
            pid = int(self._pid_file(root).read_text().split()[0])
            psutil.Process(pid).wait(timeout=0)  # reap the dead child
        restarts = 1 if ran_for >= BACKOFF_RESET_AFTER else self.restarts(root) + 1
        delay = restart_delay(restarts)
        (root / "run" / "agent.restarts").write_text(f"{restarts} {time.time():.3f}\n")
        log.warning("machine %s: the agent died; restart %d in %.0fs", root.name, restarts, delay)
        return delay

    def _respawn(self, root: Path) -> bool:
        """Start the recorded agent command of `root` again, unless it was powered off or runs meanwhile."""
        if (root / POWERED_OFF).exists() or not root.exists() or self._process(root) is not None:
            return False
        cmd = (root / "run" / "agent.cmd").read_text().split("\0")
        env = dict(os.environ, **self.extra_env)
        with open(root / "var" / "log" / "agent.log", "ab") as out:
            new = psutil.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                               env=env, cwd=str(root))
        self._pid_file(root).write_text(f"{new.pid} {new.create_time()}\n")
        log.info("machine %s: agent restarted (pid %d)", root.name, new.pid)
        return True

    async def _stop(self, root: Path, grace: float = 10.0) -> None:
        self._unsupervise(root)  # an intended stop: no restart
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
            self._supervise(root)  # a restarted operator re-adopts the agent, and supervises it again
            return self._status(name, STATE_RUNNING)
        if (root / POWERED_OFF).exists():
            return self._status(name, STATE_STOPPED, "powered off")
        self._supervise(root)  # a dead agent nobody supervised (the operator was down): restart it
        restarts = self.restarts(root)
        return self._status(name, STATE_STOPPED, "the agent process is not running"
                            + (f"; restarting it (restart {restarts}, with backoff)" if restarts else ""))

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
        # This machine only: the machines powered off by a clean shutdown stay off until `power_on_all`.
        (root / POWERED_OFF).unlink(missing_ok=True)
        self._spawn(root, cmd_file.read_text().split("\0"))


def _write_private(path: Path, content: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.replace(tmp, path)
