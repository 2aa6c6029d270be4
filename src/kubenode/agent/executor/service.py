"""The agent side of remediation: run the RemedyOperationJobs the Remedy Operator approved for this node.

The agent watches only jobs labelled `kubenode.io/machine=<its machine>` (the
API server lets it write only their status). For an Approved job with an
agent-side action it moves the job to Running, acts, and reports Succeeded or
Failed with a message; every status write carries the resourceVersion it read,
so a controller that timed the job out at the same moment wins cleanly.

Reboot is special: the process does not survive it. Before rebooting the
agent leaves a marker (job name and boot ID) in its state directory; the
agent that starts after the reboot sees a Running Reboot job, compares boot
IDs and reports the outcome. In local mode a reboot rotates ROOT/run/boot_id
and re-executes the agent with its original command line (same PID, so the
provider still recognises its process); on a real host it runs
`systemctl reboot`.

RestartComponent restarts a component this agent supervises, through the
`restarters` it is given (the fault detectors register themselves as
`node-problem-detector`); an unknown component fails the job cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenode.api import constants as c
from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.kinds import REMEDY_OPERATION_JOBS
from kubenode.runtime.conditions import now_rfc3339, set_condition
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer

from ..bounded import run_bounded
from ..trust import REASON_IGNORED, job_mismatch
from .actions import (
    ActionRefused,
    RebootFailed,
    boot_id,
    reboot,
    remedy_dir,
    resolve_script,
    trim,
)

log = logging.getLogger("kubenode.agent.executor")
Obj = dict[str, Any]
JOBS = REMEDY_OPERATION_JOBS
FIELD_MANAGER = "kubenode-agent-executor"

Restarter = Callable[[str], Awaitable[str]]
Rebooter = Callable[[], Awaitable[None]]


@dataclass
class ExecutorSettings:
    """Who this agent is and where it keeps things."""

    machine: str
    node_name: str
    root: Path | None = None
    #: DaemonSet mode: the host's root filesystem as mounted in the pod (reboots go through the host's systemd).
    host_root: Path | None = None
    restarters: dict[str, Restarter] = field(default_factory=dict)
    #: Restarts a component the installer supervises; False when it is not installed here.
    installed: Callable[[str], Awaitable[bool]] | None = None

    @property
    def state_dir(self) -> Path:
        """Where the reboot marker lives."""
        return (self.root / "var/lib/kubenode/executor") if self.root else Path("/var/lib/kubenode/executor")

    def boot_id(self) -> str:
        """This boot's ID."""
        return boot_id(self.root)


class JobOutcome(Exception):
    """Ends an action with a final phase and message."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase
        self.message = message


def status_body(job: Obj, phase: str, reason: str, message: str, *, start: bool = False) -> Obj:
    """A /status merge patch moving `job` to `phase`, guarded by its resourceVersion."""
    status = dict(job.get("status") or {})
    conditions = [dict(x) for x in status.get("conditions") or []]
    now = now_rfc3339()
    if phase in c.JOB_TERMINAL_PHASES:
        set_condition(conditions, c.JOB_CONDITION_COMPLETE, "True", reason, message)
    body: Obj = {"phase": phase, "message": trim(message), "conditions": conditions}
    if start:
        body["startTime"] = now
    if phase in c.JOB_TERMINAL_PHASES:
        body["completionTime"] = now
    return {"metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}, "status": body}


class RemedyExecutor:
    """An agent extension executing this node's agent-side remediation jobs."""

    def __init__(self, client: KubeClient, settings: ExecutorSettings, *, rebooter: Rebooter | None = None) -> None:
        self.client = client
        self.settings = settings
        self.rebooter = rebooter or self._reboot
        self.marker = settings.state_dir / "reboot.json"
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self.informer = Informer(client, JOBS, label_selector=f"{c.LABEL_MACHINE}={settings.machine}")
        self.executed: list[str] = []
        self.events = EventRecorder(client, FIELD_MANAGER, host=settings.machine)

    async def run(self, stop: asyncio.Event) -> None:
        """Watch this machine's jobs and act on them until `stop`."""
        self.informer.on_change(lambda _old, new: self._queue.put_nowait(new["metadata"]["name"]) if new else None)
        self.informer.start()
        try:
            while not stop.is_set():
                getter = asyncio.create_task(self._queue.get())
                stopper = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    await cancel_and_wait(stopper, None if getter.done() else getter, raise_errors=False)
                if getter.cancelled():
                    break
                name = getter.result()
                try:
                    await self.handle(name)
                except (errors.ApiError, OSError, TimeoutError) as exc:
                    log.warning("remediation job %s: %s (will retry)", name, exc)
                    loop = asyncio.get_running_loop()
                    loop.call_later(2.0, self._queue.put_nowait, name)
        finally:
            await self.informer.stop()

    async def handle(self, name: str) -> None:
        """Advance one job as far as this agent can."""
        job = self.informer.cache.get("", name)
        if job is None:
            return
        spec = job.get("spec") or {}
        action = spec.get("action") or {}
        phase = (job.get("status") or {}).get("phase") or c.JOB_PHASE_PENDING
        if action.get("type") not in c.AGENT_ACTIONS or spec.get("dryRun"):
            return
        why = job_mismatch(job, self.settings.machine, self.settings.node_name)
        if why is not None:
            # Defence in depth: the label selected it, but its spec names another node (agent/trust.py).
            log.warning("ignoring remediation job %s: %s", name, why)
            with contextlib.suppress(errors.ApiError, OSError, TimeoutError):
                await self.events.event(job, "Warning", REASON_IGNORED,
                                        f"ignored by the agent of {self.settings.machine}: {why}")
            return
        if phase == c.JOB_PHASE_RUNNING:
            await self._resume(job, action)
        elif phase == c.JOB_PHASE_APPROVED:
            await self._execute(job, action)

    async def _patch(self, job: Obj, body: Obj) -> Obj | None:
        try:
            return await self.client.patch(JOBS, job["metadata"]["name"], body, subresource="status",
                                           field_manager=FIELD_MANAGER)
        except errors.Conflict:
            return None  # someone else (the controller's timeout) moved it: we see the change next
        except errors.NotFound:
            return None

    async def _finish(self, job: Obj, phase: str, message: str) -> None:
        reason = c.JOB_REASON_SUCCEEDED if phase == c.JOB_PHASE_SUCCEEDED else c.JOB_REASON_FAILED
        await self._patch(job, status_body(job, phase, reason, message))
        log.info("remediation job %s: %s: %s", job["metadata"]["name"], phase, message)

    async def _execute(self, job: Obj, action: Obj) -> None:
        name = job["metadata"]["name"]
        running = await self._patch(job, status_body(job, c.JOB_PHASE_RUNNING, c.JOB_REASON_EXECUTING,
                                                     f"{action['type']} started by the agent", start=True))
        if running is None:
            return
        self.executed.append(name)
        try:
            message = await self._act(running, action)
        except JobOutcome as out:
            await self._finish(running, out.phase, out.message)
            return
        except ActionRefused as exc:
            await self._finish(running, c.JOB_PHASE_FAILED, str(exc))
            return
        await self._finish(running, c.JOB_PHASE_SUCCEEDED, message)

    async def _act(self, job: Obj, action: Obj) -> str:
        type_ = action["type"]
        if type_ == c.ACTION_RESTART_COMPONENT:
            component = str(action.get("component") or "")
            restarter = self.settings.restarters.get(component)
            if restarter is not None:
                return await restarter(component)
            if self.settings.installed is not None and await self.settings.installed(component):
                return f"component {component} restarted"
            raise JobOutcome(c.JOB_PHASE_FAILED, f"component {component!r} not installed on this node")
        if type_ == c.ACTION_RUN_SCRIPT:
            return await self._run_script(str(action.get("script") or ""), float(action.get("timeoutSeconds") or 300))
        if type_ == c.ACTION_REBOOT:
            self.settings.state_dir.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(json.dumps({"job": job["metadata"]["name"], "bootID": self.settings.boot_id(),
                                               "time": time.time()}))
            log.warning("remediation job %s: rebooting", job["metadata"]["name"])
            await self.rebooter()
            # A real reboot does not return; a test rebooter does: the outcome is reported as after a boot.
            return "reboot requested"
        raise JobOutcome(c.JOB_PHASE_FAILED, f"action {type_!r} is not an agent action")

    async def _resume(self, job: Obj, action: Obj) -> None:
        """A Running job found at start (or after a reboot): report how it ended."""
        name = job["metadata"]["name"]
        if name in self.executed and action.get("type") != c.ACTION_REBOOT:
            return  # ours, in progress in this process
        marker: Obj = {}
        with contextlib.suppress(OSError, ValueError):
            marker = json.loads(self.marker.read_text())
        if action.get("type") == c.ACTION_REBOOT and marker.get("job") == name:
            now_boot = self.settings.boot_id()
            if marker.get("bootID") != now_boot:
                self.marker.unlink(missing_ok=True)
                await self._finish(job, c.JOB_PHASE_SUCCEEDED,
                                   f"rebooted: boot ID {marker.get('bootID')} -> {now_boot}")
            return  # same boot: the reboot is still under way
        if name not in self.executed:
            await self._finish(job, c.JOB_PHASE_FAILED, "interrupted: the agent restarted while the action ran")

    async def _run_script(self, name: str, limit_seconds: float) -> str:
        path = resolve_script(name, remedy_dir(self.settings.root))
        try:
            # The agent stopping while the script runs kills it too (its job resumes as interrupted).
            done = await run_bounded([str(path)], limit_seconds, cwd=path.parent)
        except TimeoutError:
            raise JobOutcome(c.JOB_PHASE_FAILED, f"script {name} killed after {limit_seconds:g}s") from None
        text = done.output.decode("utf-8", errors="replace").strip()
        if done.returncode != 0:
            raise JobOutcome(c.JOB_PHASE_FAILED, f"script {name} exited {done.returncode}: {text}")
        return f"script {name} succeeded" + (f": {text}" if text else "")

    async def _reboot(self) -> None:
        """The agent's one reboot action (`actions.reboot`); a failed command fails the job."""
        try:
            await reboot(self.settings.root, self.settings.host_root)
        except RebootFailed as exc:
            raise JobOutcome(c.JOB_PHASE_FAILED, str(exc)) from None
