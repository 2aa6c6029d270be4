"""The agent extension that installs, runs, checks and removes this node's components.

It watches only the MachineComponents labelled ``kubenode.io/machine=<M>``
(an informer with a label selector: the API server never sends it another
node's objects) and reconciles each one level-triggered: read the object
from the cache, look at the node (:class:`.plan.Observation`), let the pure
:func:`.plan.plan` choose one action, execute it with the component's
:class:`.transaction.ComponentHandle`, and report the outcome in
``status`` (phase, installedVersion/Revision, healthy, restartCount,
message, observedGeneration, conditions Installed and Healthy) plus a Warning
Event for every failure (successes are in the Installed condition; an Event
per machine per upgrade would flood a large fleet's rollout). A steady component is re-probed
every ``healthCheck.periodSeconds`` by requeueing itself; its status is
only written when something changed, so a quiet fleet costs no writes.

Before the first reconcile every component found on disk is recovered from
its intent journal, so an agent killed mid-install starts from a complete
version. The finalizer ``kubenode.io/machinecomponent`` is added before the
first install and dropped once the component has been removed from the
node. Components on disk whose MachineComponent is gone (deleted without
waiting for us) are stopped and removed after the first sync.

``disruption: Reboot``: once the change is installed the status says
Installing (reason Rebooting), a Normal Event ``Rebooting`` is recorded and
the node reboots through the agent's one reboot action
(:func:`kubenode.agent.executor.actions.reboot`, as a Reboot remediation
does); the agent of the new boot starts the component, waits for its health
check's verdict and only then reports Running — so the rollout counts the
machine as done only after the node came back healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenode.agent.executor.actions import boot_id, reboot
from kubenode.agent.telemetry import AgentMetrics
from kubenode.api import constants as c
from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.kinds import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS
from kubenode.runtime.conditions import now_rfc3339, set_condition
from kubenode.runtime.controller import Controller, Request, Result
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer

from ..trust import REASON_IGNORED, component_mismatch, controller_set
from .drift import DriftResult, verify_hashes
from .layout import ComponentLayout, validate_name
from .plan import Action, Desired, Observation, compute_status, plan, reboots
from .transaction import ComponentHandle, Outcome

__all__ = ["MACHINE_COMPONENTS", "ComponentAgent", "ComponentAgentConfig"]

log = logging.getLogger(__name__)

FIELD_MANAGER = "kubenode-agent"
Obj = dict[str, Any]


@dataclass
class ComponentAgentConfig:
    """How the component installer runs on one node."""

    machine: str
    #: The machine's root: ``/`` on a real host, ``DATA/machines/M`` in local mode.
    root: Path
    #: Local mode: services are the agent's children; otherwise systemd units.
    local: bool = True
    #: Re-check a component without a health check this often (process alive?).
    resync_seconds: float = 30.0
    #: Report `Installing` only for installs still running after this long: a quick install goes straight
    #: to its final status, one write instead of two (see `reconcile`).
    installing_report_after: float = 2.0
    workers: int = 4
    #: Test hook: called with each journal step's name (raise or exit to simulate a crash).
    failpoint: Callable[[str], None] | None = None
    systemd_dir: Path | None = None
    #: DaemonSet mode: the host's root as mounted in the pod (`root` is then the same path).
    host_root: Path | None = None
    #: Re-verify installed files against the verified artifact this often (and on kubenode.io/verify-now).
    drift_seconds: float = 600.0
    #: The agent's metrics (drift counters), when it exports them.
    metrics: AgentMetrics | None = None
    #: The node this agent registers as (a MachineComponent naming another node is ignored); "" = unchecked.
    node: str = ""
    #: Directories `file://` sources may come from; None: the default (local mode: DATA/artifacts; else none).
    trusted_file_dirs: tuple[Path, ...] | None = None
    #: Reboots the node (disruption Reboot); default: the agent's one reboot action for this root.
    rebooter: Callable[[], Awaitable[None]] | None = None

    def boot_id(self) -> str:
        """This boot's ID (local mode: the machine root's)."""
        return boot_id(self.root if self.local else None)

    async def reboot(self) -> None:
        """Reboot the node; does not return on a real reboot."""
        if self.rebooter is not None:
            await self.rebooter()
        else:
            await reboot(self.root if self.local else None, self.host_root)


class ComponentAgent:
    """The component installer as an :class:`~kubenode.agent.agent.AgentExtension`."""

    def __init__(self, client: KubeClient, config: ComponentAgentConfig) -> None:
        self.client = client
        self.config = config
        self.informer = Informer(client, MACHINE_COMPONENTS, label_selector=f"{c.LABEL_MACHINE}={config.machine}")
        self.controller = Controller("machinecomponent-installer", self.reconcile, workers=config.workers)
        self.controller.watches(self.informer)
        self.events = EventRecorder(client, FIELD_MANAGER, host=config.machine)
        self.handles: dict[str, ComponentHandle] = {}
        self._stop = asyncio.Event()
        #: Component drift: last result, when it was checked (monotonic), the verify-now value it answered.
        self.drift: dict[str, DriftResult | None] = {}
        self._drift_at: dict[str, float] = {}
        self._verify_token: dict[str, str] = {}
        #: UIDs of MachineComponentSets seen to exist (a controller we trust; see `_not_ours`).
        self._sets_seen: set[str] = set()

    # ------------------------------------------------------------------ lifecycle
    def _handle(self, component: str) -> ComponentHandle:
        h = self.handles.get(component)
        if h is None:
            h = ComponentHandle(self.config.root, component, self.config.machine, local=self.config.local,
                                failpoint=self.config.failpoint, systemd_dir=self.config.systemd_dir,
                                host_root=self.config.host_root,
                                trusted_file_dirs=self.config.trusted_file_dirs)
            self.handles[component] = h
        return h

    def recover_all(self) -> list[str]:
        """Recover every component found on disk from its journal; returns their names."""
        base = ComponentLayout(self.config.root, "x").state_dir.parent
        found: list[str] = []
        if base.is_dir():
            for d in sorted(base.iterdir()):
                try:
                    validate_name("component", d.name)
                except ValueError:
                    continue
                self._handle(d.name).recover()
                found.append(d.name)
        return found

    async def run(self, stop: asyncio.Event) -> None:
        """Recover, sync, reconcile until ``stop``; then stop (local mode: also the services)."""
        self._stop = stop
        await asyncio.to_thread(self.recover_all)
        self.informer.start()
        try:
            await self.controller.start()
            await self._remove_orphans()
            await stop.wait()
        finally:
            await self.controller.stop(drain=False)
            await self.informer.stop()
            if self.config.local:
                # A local machine powering off takes its processes with it; systemd units outlive the agent.
                for h in self.handles.values():
                    with contextlib.suppress(Exception):
                        await h.service.stop()

    async def _remove_orphans(self) -> None:
        names = {str((o.get("metadata") or {}).get("name")) for o in self.informer.cache.list()}
        for component, h in list(self.handles.items()):
            if h.state.mc_name and h.state.mc_name not in names:
                log.info("component %s: MachineComponent %s is gone; removing it", component, h.state.mc_name)
                await h.remove()
                self.handles.pop(component, None)

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, req: Request) -> Result | None:
        """Bring one MachineComponent's component to its spec and report."""
        obj = self.informer.cache.get("", req.name)
        if obj is None:
            for component, h in list(self.handles.items()):
                if h.state.mc_name == req.name:
                    await h.remove()
                    self.handles.pop(component, None)
            return None
        why = await self._not_ours(obj)
        if why is not None:
            log.warning("ignoring MachineComponent %s: %s", req.name, why)
            with contextlib.suppress(errors.ApiError, OSError, TimeoutError):
                await self.events.event(obj, "Warning", REASON_IGNORED,
                                        f"ignored by the agent of {self.config.machine}: {why}")
            return None
        d = Desired.from_object(obj)
        try:
            validate_name("component", d.component)
            validate_name("version", d.version)
        except ValueError as exc:
            await self._report(obj, d, None, {"phase": c.COMPONENT_PHASE_FAILED, "message": f"spec: {exc}"},
                               c.COMPONENT_REASON_UNPACK_FAILED)
            return None
        h = self._handle(d.component)
        if h.state.mc_name and h.state.mc_name != d.name and not d.deleting:
            msg = (f"component {d.component} is already managed on this machine by MachineComponent "
                   f"{h.state.mc_name}")
            await self._report(obj, d, None, {"phase": c.COMPONENT_PHASE_FAILED, "message": msg},
                               c.COMPONENT_REASON_START_FAILED)
            return None
        action, restart = plan(d, self._observe(h))
        log.debug("%s: %s", d.name, action)
        if action is Action.FORGET:
            return None
        if action is Action.ADD_FINALIZER:
            await self._set_finalizer(d, add=True)
            return None
        if action is Action.REMOVE:
            await self._report(obj, d, h, {"phase": c.COMPONENT_PHASE_REMOVING,
                                           "message": f"removing {d.component}"}, c.COMPONENT_REASON_REMOVING)
            await h.remove()
            self.handles.pop(d.component, None)
            self._forget_drift(d.component)
            await self._set_finalizer(d, add=False)
            return None
        outcome: Outcome | None = None
        if action is Action.INSTALL:
            prev = h.layout.current_version()
            verb = f"upgrading {prev} to {d.version}" if prev and prev != d.version else f"installing {d.version}"
            outcome = await self._install(obj, d, h, verb)
            await self._event(obj, outcome)
        elif action is Action.RECONFIGURE:
            outcome = await h.reconfigure(d, restart)
            await self._event(obj, outcome)
        elif action is Action.AFTER_BOOT:
            outcome = await self._after_boot(d, h)
            await self._event(obj, outcome)
        elif action is Action.START:
            try:
                await h.ensure_running()
            except (OSError, ValueError) as exc:
                outcome = Outcome(False, c.COMPONENT_REASON_START_FAILED, f"cannot start {d.component}: {exc}")
        if outcome is not None and outcome.ok and reboots(d, action, restart):
            h.state.reboot_from = self.config.boot_id()
            h.save_state()
        if action is Action.REBOOT or h.state.reboot_from:
            # Installed; the node reboots now (or the reboot asked earlier is still under way).
            await self._report_observed(obj, d, h, outcome)
            await self._reboot(obj, d)
            return Result(requeue_after=1.0)
        # Steady, held-failed and freshly changed components: probe, verify the files when due, report.
        if outcome is None or outcome.ok:
            await h.probe_once()
        await self._verify_drift(obj, d, h, changed=outcome is not None)
        await self._report_observed(obj, d, h, outcome)
        return Result(requeue_after=self._period(h))

    async def _not_ours(self, obj: Obj) -> str | None:
        """Why this agent must not act on `obj` (defence in depth, `agent/trust.py`), or None.

        Its content must name this machine (and node), and its controller must be a MachineComponentSet
        that exists with that UID. A component being deleted is exempt from the controller check: its set
        may be gone already (garbage collection), and removing is what the agent owes it.
        """
        why = component_mismatch(obj, self.config.machine, self.config.node)
        if why is not None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return why
        ref = controller_set(obj) or {}
        uid = str(ref.get("uid", ""))
        if uid in self._sets_seen:
            return None
        try:
            owner = await self.client.get(MACHINE_COMPONENT_SETS, str(ref.get("name", "")))
        except errors.NotFound:
            return f"its controller MachineComponentSet {ref.get('name')} does not exist"
        except errors.Forbidden:
            return f"its controller MachineComponentSet {ref.get('name')} is not visible to this agent"
        if owner["metadata"].get("uid") != uid:
            return f"its controller MachineComponentSet {ref.get('name')} has another UID"
        self._sets_seen.add(uid)
        return None

    async def _reboot(self, obj: Obj, d: Desired) -> None:
        """disruption Reboot: record why, then reboot the node through the agent's one reboot action."""
        message = f"version {d.version} installed; rebooting the node (disruption Reboot)"
        log.warning("%s: %s", d.name, message)
        with contextlib.suppress(errors.ApiError, OSError, TimeoutError):
            await self.events.event(obj, "Normal", c.COMPONENT_REASON_REBOOTING, message)
        try:
            await self.config.reboot()
        except (OSError, RuntimeError) as exc:
            log.error("%s: reboot failed: %s (retried)", d.name, exc)

    async def _after_boot(self, d: Desired, h: ComponentHandle) -> Outcome:
        """The first look after a disruption-Reboot reboot: start the component, wait for its health verdict."""
        before, now = h.state.reboot_from, self.config.boot_id()
        try:
            await h.ensure_running()
        except (OSError, ValueError) as exc:
            h.state.reboot_from = ""
            h.save_state()
            return Outcome(False, c.COMPONENT_REASON_START_FAILED, f"cannot start {d.component} after the reboot: "
                           f"{exc}")
        tracker = await h.verify(d.version, h.state.applied, self._stop)
        h.state.reboot_from = ""
        h.save_state()
        detail = tracker.last.message if tracker.last else ""
        rebooted = f"version {d.version} after the reboot (boot ID {before} -> {now})"
        if tracker.healthy is False:
            return Outcome(False, c.COMPONENT_REASON_HEALTH_CHECK_FAILED, f"{rebooted} failed its health check "
                           f"({detail})", False)
        return Outcome(True, c.COMPONENT_REASON_INSTALLED, f"{rebooted}: {detail or 'running'}", tracker.healthy)

    async def _install(self, obj: Obj, d: Desired, h: ComponentHandle, verb: str) -> Outcome:
        """Install `d`; report Installing only if it takes longer than `installing_report_after`.

        At fleet scale every status write counts (a rollout of 10,000 machines is 10,000 of each): most
        upgrades (artifact cached or small, service restarted) finish in well under a second, and their
        one final report says all there is. A slow download or a long health check's initial delay still
        shows Installing while it lasts.
        """
        task = asyncio.ensure_future(h.install(d, self._stop))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.config.installing_report_after)
            if not done:
                try:
                    await self._report(obj, d, h, {"phase": c.COMPONENT_PHASE_INSTALLING, "message": verb},
                                       c.COMPONENT_REASON_INSTALLING)
                except (errors.ApiError, OSError, TimeoutError) as exc:
                    log.warning("%s: cannot report Installing (the final status follows): %s", d.name, exc)
            return await task
        except BaseException:
            # The install journal makes an interrupted install resume or roll back.
            await cancel_and_wait(task, raise_errors=False)
            raise

    async def _verify_drift(self, obj: Obj, d: Desired, h: ComponentHandle, *, changed: bool) -> None:
        """Re-verify the installed files when due: periodically, after a change, or on kubenode.io/verify-now."""
        if h.layout.current_version() != d.version or h.state.applied_hash != d.spec_hash:
            self.drift.pop(d.component, None)  # not installed as specified: drift is not the question
            return
        token = str(((obj.get("metadata") or {}).get("annotations") or {}).get(c.ANNOTATION_VERIFY_NOW) or "")
        now = time.monotonic()
        asked = bool(token) and token != self._verify_token.get(d.component, "")
        due = d.component not in self.drift or now - self._drift_at.get(d.component, 0.0) >= \
            self.config.drift_seconds
        if not (asked or due or changed):
            return
        before = self.drift.get(d.component)
        result = await asyncio.to_thread(verify_hashes, h.layout.version_dir(d.version))
        self.drift[d.component] = result
        self._drift_at[d.component] = now
        if token:
            self._verify_token[d.component] = token
        drifted = result is not None and result.drifted
        newly = result is not None and result.drifted and not (
            before is not None and before.drifted and before.path == result.path)
        if self.config.metrics is not None:
            self.config.metrics.record_drift_check(d.component, drifted, newly)
        if newly and result is not None:
            log.warning("%s: component drift: %s", d.name, result.message)
            with contextlib.suppress(errors.ApiError, OSError, TimeoutError):
                await self.events.event(obj, "Warning", c.COMPONENT_REASON_FILES_DIFFER,
                                        f"{d.component} {d.version}: {result.message}")

    def _drift_condition(self, obj: Obj, d: Desired) -> tuple[str, str, str] | None:
        """(status, reason, message) of the Drifted condition, or None when not verified (yet)."""
        if d.component not in self.drift:
            return None
        result = self.drift[d.component]
        token = str(((obj.get("metadata") or {}).get("annotations") or {}).get(c.ANNOTATION_VERIFY_NOW) or "")
        suffix = f" (verified on request {token!r})" if token and self._verify_token.get(d.component) == token \
            else ""
        if result is None:
            return ("Unknown", c.COMPONENT_REASON_NO_HASH_RECORD,
                    f"version {d.version} was installed before file hashes were recorded; reinstall it to "
                    f"verify{suffix}")
        if result.drifted:
            return "True", c.COMPONENT_REASON_FILES_DIFFER, result.message[:1000] + suffix
        return "False", c.COMPONENT_REASON_FILES_MATCH, result.message + suffix

    def _observe(self, h: ComponentHandle) -> Observation:
        h.state.restart_count = h.service.restarts
        return Observation(h.layout.current_version(), h.state, h.service.running,
                           self.config.boot_id() if h.state.reboot_from else "")

    def _period(self, h: ComponentHandle) -> float:
        try:
            check = h.health_check(h.state.applied)
        except ValueError:
            check = None
        return check.period if check is not None else self.config.resync_seconds

    # ------------------------------------------------------------------ status
    async def _report_observed(self, obj: Obj, d: Desired, h: ComponentHandle, outcome: Outcome | None) -> None:
        obs = self._observe(h)
        healthy = h.tracker.healthy if h.tracker is not None else None
        if obs.state.applied.get("run") and not h.service.running:
            healthy = False
        try:
            has_check = h.health_check(obs.state.applied) is not None
        except ValueError:
            has_check = False
        if outcome is not None:
            message, reason = outcome.message, outcome.reason
        elif obs.state.failed_hash == d.spec_hash:
            message, reason = obs.state.failed_message, obs.state.failed_reason
        else:
            probe = h.last_probe.message if h.last_probe else ""
            running = obs.current_version == d.version and obs.state.applied_hash == d.spec_hash
            message = (f"version {obs.current_version} running" + (f"; {probe}" if probe else "")) if running \
                else ""
            if h.service.last_exit and not h.service.running and obs.state.applied.get("run"):
                message = f"process {h.service.last_exit}; restarting"
            reason = c.COMPONENT_REASON_INSTALLED
        if obs.state.reboot_from:
            message, reason = f"version {d.version} installed; rebooting the node (disruption Reboot)", \
                c.COMPONENT_REASON_REBOOTING
        if not message:
            message = str(((obj.get("status") or {}).get("message")) or "")
        status = compute_status(d, obs, healthy, message, has_health_check=has_check)
        await self._report(obj, d, h, status, reason, has_check=has_check)

    async def _report(self, obj: Obj, d: Desired, h: ComponentHandle | None, status: Obj, reason: str, *,
                      has_check: bool = True) -> None:
        old = obj.get("status") or {}
        new = {k: v for k, v in old.items() if k not in ("conditions",)}
        new.update(status)
        # Every report is about the spec this reconcile read: Installing, a refused spec, Removing included,
        # so that the set controller counts it for the current revision (and a refusal as a failure).
        new["observedGeneration"] = d.generation
        conditions = copy.deepcopy(old.get("conditions") or [])
        installed = new.get("installedVersion") == d.version and new.get("phase") in (
            c.COMPONENT_PHASE_RUNNING, c.COMPONENT_PHASE_FAILED) and (h is None or h.state.applied_hash == d.spec_hash)
        set_condition(conditions, c.COMPONENT_CONDITION_INSTALLED, "True" if installed else "False",
                      c.COMPONENT_REASON_INSTALLED if installed else reason,
                      f"version {d.version} installed" if installed else str(new.get("message", ""))[:1024],
                      observed_generation=d.generation)
        healthy = new.get("healthy")
        if not has_check:
            set_condition(conditions, c.COMPONENT_CONDITION_HEALTHY, "True" if healthy else "Unknown",
                          c.COMPONENT_REASON_NO_HEALTH_CHECK, "no health check; the process state counts",
                          observed_generation=d.generation)
        elif healthy is None:
            set_condition(conditions, c.COMPONENT_CONDITION_HEALTHY, c.CONDITION_UNKNOWN,
                          c.COMPONENT_REASON_NOT_PROBED, "not probed yet",
                          observed_generation=d.generation)
        else:
            last = h.last_probe.message if h is not None and h.last_probe else ""
            set_condition(conditions, c.COMPONENT_CONDITION_HEALTHY, "True" if healthy else "False",
                          c.COMPONENT_REASON_HEALTH_CHECK_PASSED if healthy else c.COMPONENT_REASON_HEALTH_CHECK_FAILED,
                          last[:1024], observed_generation=d.generation)
        drift = self._drift_condition(obj, d) if h is not None else None
        if drift is not None:
            set_condition(conditions, c.COMPONENT_CONDITION_DRIFTED, *drift, observed_generation=d.generation)
        new["conditions"] = conditions
        if healthy and not old.get("healthy"):
            new["lastHealthyTime"] = now_rfc3339()
        if _same(old, new):
            return
        try:
            await self.client.patch_status(MACHINE_COMPONENTS, d.name, {"status": new}, field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass

    def _forget_drift(self, component: str) -> None:
        self.drift.pop(component, None)
        self._drift_at.pop(component, None)
        self._verify_token.pop(component, None)
        if self.config.metrics is not None:
            self.config.metrics.forget_component(component)

    async def _set_finalizer(self, d: Desired, *, add: bool) -> None:
        finalizers = [f for f in d.finalizers if f != c.FINALIZER_MACHINE_COMPONENT]
        if add:
            finalizers.append(c.FINALIZER_MACHINE_COMPONENT)
        # resourceVersion makes this a compare-and-swap: another writer's finalizer is never lost.
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": d.resource_version}}
        try:
            await self.client.patch(MACHINE_COMPONENTS, d.name, body, field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass

    async def _event(self, obj: Obj, outcome: Outcome) -> None:
        """A Warning Event for a failed install; a success is recorded in the Installed condition only.

        One Event per machine per successful upgrade would be 10,000 Events per rollout of a large fleet,
        saying what `status` (the `Installed` condition's transition time and message) and the set's own
        batch Events already say; failures are rare and worth an Event each.
        """
        if outcome.ok:
            return
        with contextlib.suppress(errors.ApiError, OSError, TimeoutError):
            await self.events.event(obj, "Warning", outcome.reason, outcome.message)

    # ------------------------------------------------------------------ for other agent parts
    async def restart_component(self, component: str) -> bool:
        """Restart a component's service (RestartComponent remediation); False when it is not installed here."""
        h = self.handles.get(component)
        if h is None or h.layout.current_version() is None:
            return False
        await h.restart()
        return True


def _same(old: Obj, new: Obj) -> bool:
    """Whether a status write would change nothing a reader cares about (transition times aside)."""
    def strip(s: Obj) -> Obj:
        out = {k: v for k, v in s.items() if k != "lastHealthyTime"}
        out["conditions"] = sorted(({k: v for k, v in cond.items() if k != "lastTransitionTime"}
                                    for cond in s.get("conditions") or ()), key=lambda x: str(x.get("type")))
        return out

    return strip(old) == strip(new)
