"""Running a component's service: the agent's own supervisor in local mode, a systemd unit on real hosts.

The program is ``run.command[0]``, a path *inside the unpacked, verified
artifact*: it is resolved with realpath through the ``current`` version
directory and refused if it escapes it or is not one of the archive's own
members (a file written from the custom resource's ``files`` can never be
executed). No shell is involved: argv goes straight to ``exec``.

Local mode (:class:`ProcessSupervisor`): the process runs in its own
session with its output appended to ``ROOT/var/log/components/C.log``; when
it exits it is restarted with exponential backoff (1 s doubling to 60 s,
reset after 30 s of stable running — :class:`Backoff`). Its PID and start
time are recorded so that an agent that was killed can, on restart, stop the
orphan before starting a fresh one (otherwise two copies would fight over
the same port).

Real hosts (:func:`systemd_unit`): the same argv and environment become a
unit ``kubenode-C.service`` with ``Restart=on-failure``; systemd does the
supervising and the journal keeps the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import psutil

from kubenode.apimachinery.tasks import cancel_and_wait

from .archive import read_manifest
from .layout import PathEscapeError, resolve_inside
from .package import CommandResult, run_argv

__all__ = [
    "Backoff",
    "ProcessSupervisor",
    "Service",
    "ServiceSpec",
    "SystemdSupervisor",
    "relocate",
    "resolve_program",
    "systemd_unit",
]

log = logging.getLogger(__name__)


def resolve_program(version_dir: Path, command: Sequence[str], *, field: str = "spec.run.command") -> list[str]:
    """``command`` with its program resolved inside ``version_dir``; raises :class:`PathEscapeError`.

    The program must resolve (symlinks followed) inside the version
    directory, be a regular executable file, and come from the artifact.
    """
    if not command:
        raise PathEscapeError(f"{field}: empty command")
    program = command[0]
    try:
        path = resolve_inside(version_dir, program)
    except PathEscapeError as exc:
        raise PathEscapeError(f"{field}[0]: {exc}") from None
    manifest = read_manifest(version_dir)
    rel = os.path.relpath(path, os.path.realpath(version_dir))
    if rel not in manifest:
        raise PathEscapeError(f"{field}[0]: {program!r} is not a file of the verified artifact")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise PathEscapeError(f"{field}[0]: {program!r} is not an executable file")
    return [str(path), *command[1:]]


@dataclass(frozen=True)
class Backoff:
    """Exponential restart delay: ``initial * factor**(n-1)`` capped at ``maximum`` (n = consecutive crashes)."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    #: A run at least this long counts as stable and resets the crash count.
    stable_after: float = 30.0

    def delay(self, consecutive_crashes: int) -> float:
        """Seconds to wait before restart number ``consecutive_crashes`` (0 → no wait)."""
        if consecutive_crashes <= 0:
            return 0.0
        return min(self.maximum, self.initial * self.factor ** min(consecutive_crashes - 1, 64))

    def next_crashes(self, consecutive_crashes: int, ran_for: float) -> int:
        """The crash count after a process that ran ``ran_for`` seconds exited."""
        return 1 if ran_for >= self.stable_after else consecutive_crashes + 1


@dataclass(frozen=True)
class ServiceSpec:
    """What to run: argv (program already resolved), environment, working directory, log file."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    log_file: Path
    version: str = ""


class Service(Protocol):
    """A supervised service, however it is run (agent child process or systemd unit)."""

    restarts: int
    last_exit: str

    @property
    def running(self) -> bool:
        """Whether the service's process is alive."""
        ...

    async def start(self, spec: ServiceSpec) -> None:
        """(Re)start the service with ``spec``."""
        ...

    async def restart(self) -> None:
        """Restart with the last spec."""
        ...

    async def stop(self) -> None:
        """Stop the service."""
        ...


class ProcessSupervisor:
    """Runs one service as a child process and keeps it running (local mode)."""

    def __init__(self, name: str, pid_file: Path, backoff: Backoff | None = None, stop_grace: float = 10.0) -> None:
        self.name = name
        self.pid_file = pid_file
        self.backoff = backoff or Backoff()
        self.stop_grace = stop_grace
        self.restarts = 0  # restarts after unexpected exits (what status.restartCount shows)
        self.last_exit: str = ""
        self._spec: ServiceSpec | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        """Whether the process is alive right now."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def active(self) -> bool:
        """Whether the supervisor is supervising (the process may be between restarts)."""
        return self._task is not None and not self._task.done()

    @property
    def pid(self) -> int | None:
        """PID of the running process."""
        return self._proc.pid if self.running and self._proc is not None else None

    async def start(self, spec: ServiceSpec) -> None:
        """Start supervising ``spec`` (stops a previous process first); returns once it was spawned."""
        await self.stop()
        await asyncio.to_thread(kill_recorded, self.pid_file)
        self._spec = spec
        self._stopping = asyncio.Event()
        started = asyncio.Event()
        self._task = asyncio.create_task(self._loop(spec, started), name=f"supervisor:{self.name}")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # spawn failed: raise it

    async def restart(self) -> None:
        """Stop and start again with the last spec."""
        if self._spec is None:
            raise RuntimeError(f"{self.name}: restart before start")
        await self.start(self._spec)

    async def stop(self) -> None:
        """Stop the process (SIGTERM to its group, SIGKILL after the grace period) and the supervision."""
        self._stopping.set()
        task, self._task = self._task, None
        await self._terminate()
        await cancel_and_wait(task)
        if self._proc is not None:
            # Only our own record: a previous agent's is kept for kill_recorded.
            self.pid_file.unlink(missing_ok=True)
            self._proc = None

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def _spawn(self, spec: ServiceSpec) -> asyncio.subprocess.Process:
        with _open_log(spec.log_file, spec.argv[0]) as out:
            proc = await asyncio.create_subprocess_exec(
                *spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, cwd=str(spec.cwd),
                env=dict(spec.env), start_new_session=True, preexec_fn=_die_with_parent)
        with contextlib.suppress(psutil.Error):
            created = psutil.Process(proc.pid).create_time()
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(f"{proc.pid} {created}\n")
        return proc

    async def _loop(self, spec: ServiceSpec, started: asyncio.Event) -> None:
        crashes = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            self._proc = await self._spawn(spec)
            started.set()
            code = await self._proc.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - began
            self.last_exit = f"exited with code {code} after {ran:.1f}s"
            crashes = self.backoff.next_crashes(crashes, ran)
            delay = self.backoff.delay(crashes)
            self.restarts += 1
            log.warning("%s %s; restarting in %.1fs", self.name, self.last_exit, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)


_PR_SET_PDEATHSIG = 1
_LIBC: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the agent dies (Linux), as a local machine's processes do.

    A SIGKILLed agent cannot stop its children; without this they would
    outlive their "machine" and hold its ports. Only a libc call runs here
    (nothing that takes Python-level locks), which is what makes it safe
    after fork in a threaded process. `kill_recorded` remains the fallback.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _open_log(path: Path, program: str) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = open(path, "ab")  # noqa: SIM115 - the caller closes it
    out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} starting {program}\n".encode())
    out.flush()
    return out


def kill_recorded(pid_file: Path, grace: float = 5.0) -> bool:
    """Stop a process recorded in ``pid_file`` by an earlier agent (same PID *and* start time); True if one ran."""
    try:
        pid_s, created_s = pid_file.read_text().split()
        proc = psutil.Process(int(pid_s))
        if abs(proc.create_time() - float(created_s)) > 0.5:
            return False  # the PID was recycled: not ours
    except (FileNotFoundError, ValueError, psutil.Error):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError, psutil.Error):
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except psutil.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    pid_file.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------- systemd (real hosts)


def _systemd_quote(value: str) -> str:
    """Quote one word for systemd's ExecStart/Environment (C-style escapes; ``%`` and ``$`` doubled)."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
               .replace("%", "%%").replace("$", "$$"))
    return f'"{escaped}"'


def unit_name(component: str) -> str:
    """The systemd unit of a component."""
    return f"kubenode-{component}.service"


def systemd_unit(component: str, spec: ServiceSpec, restart_sec: float = 1.0) -> str:
    """The text of ``kubenode-<component>.service`` running ``spec`` under systemd."""
    if any("\x00" in a for a in spec.argv) or any("\x00" in k or "\x00" in v for k, v in spec.env.items()):
        raise ValueError("NUL characters cannot be passed to systemd")
    lines = [
        "# Written by the KubeNode agent; changes are overwritten.",
        "[Unit]",
        f"Description=KubeNode component {component} {spec.version}".rstrip(),
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={' '.join(_systemd_quote(a) for a in spec.argv)}",
        f"WorkingDirectory={_systemd_quote(str(spec.cwd))}",
    ]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(spec.env.items())]
    lines += [
        "Restart=on-failure",
        f"RestartSec={restart_sec:g}",
        "KillMode=control-group",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def relocate(spec: ServiceSpec, host_root: Path) -> ServiceSpec:
    """`spec` as the host sees it: paths under `host_root` (the pod's view of the host) lose that prefix."""
    prefix = str(host_root).rstrip("/")

    def host(value: str) -> str:
        return "/" + value[len(prefix):].lstrip("/") if value == prefix or value.startswith(prefix + "/") else value

    return ServiceSpec(argv=tuple(host(a) for a in spec.argv), env={k: host(v) for k, v in spec.env.items()},
                       cwd=Path(host(str(spec.cwd))), log_file=Path(host(str(spec.log_file))), version=spec.version)


def systemctl_argv(action: str, component: str) -> list[str]:
    """``systemctl <action> kubenode-<component>.service`` (daemon-reload takes no unit)."""
    if action == "daemon-reload":
        return ["systemctl", "daemon-reload"]
    if action not in ("restart", "stop", "enable", "disable", "start"):
        raise ValueError(f"unsupported systemctl action {action!r}")
    return ["systemctl", action, unit_name(component)]


Runner = Callable[[list[str]], Awaitable[CommandResult]]


class SystemdSupervisor:
    """A component's service as a systemd unit (real hosts): write the unit, reload, restart."""

    def __init__(self, component: str, unit_dir: Path = Path("/etc/systemd/system"),
                 runner: Runner | None = None, host_root: Path | None = None) -> None:
        self.component = component
        #: DaemonSet mode: the host's root as mounted in the pod. The unit goes to the host's unit directory,
        #: names host paths, and systemctl runs chrooted into the host (see `executor.actions.on_host`).
        self.host_root = host_root
        unit_dir = host_root / "etc/systemd/system" if host_root is not None else unit_dir
        self.unit_path = unit_dir / unit_name(component)
        self.runner: Runner = runner or (lambda argv: run_argv(argv, time_limit=120))
        self.restarts = 0
        self.last_exit = ""
        self._spec: ServiceSpec | None = None
        self._running = False

    @property
    def running(self) -> bool:
        """Whether the last start succeeded and no stop followed (systemd owns the details)."""
        return self._running

    async def _systemctl(self, action: str) -> None:
        argv = systemctl_argv(action, self.component)
        if self.host_root is not None:
            argv = ["chroot", str(self.host_root), *argv]
        result = await self.runner(argv)
        if result.returncode != 0:
            raise OSError(f"systemctl {action} {unit_name(self.component)} failed: {result.output.strip()[-300:]}")

    async def start(self, spec: ServiceSpec) -> None:
        """Write the unit (atomically), reload systemd, enable and restart the unit."""
        text = systemd_unit(self.component, relocate(spec, self.host_root) if self.host_root is not None else spec)
        self.unit_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.unit_path.with_name(f".{self.unit_path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, self.unit_path)
        self._spec = spec
        await self._systemctl("daemon-reload")
        await self._systemctl("enable")
        await self._systemctl("restart")
        self._running = True

    async def restart(self) -> None:
        """Restart the unit."""
        await self._systemctl("restart")
        self._running = True

    async def stop(self) -> None:
        """Stop and disable the unit and remove its file."""
        if self.unit_path.exists():
            await self._systemctl("stop")
            await self._systemctl("disable")
            self.unit_path.unlink(missing_ok=True)
            await self._systemctl("daemon-reload")
        self._running = False
