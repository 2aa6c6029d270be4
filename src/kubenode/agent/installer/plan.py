"""What the agent should do about one MachineComponent, decided from observed state alone (pure).

`plan` compares the MachineComponent's spec with what is on the node (the
version ``current`` names, the spec hash last applied, the spec hash that
last failed, whether the service runs) and names one action; the executor in
:mod:`.component_agent` carries it out. `compute_status` turns the same
observation into the ``status`` the agent reports. Both are table-tested.

Disruption, as the agent applies it (documented in docs/agent-installer.md):

* a new version or a changed ``run`` always restarts the component's own
  process — nothing else can make the new program run;
* changed ``files`` alone restart it only when ``disruption`` is not
  ``None`` (``None`` means the component picks the change up itself);
* ``Drain`` is applied locally as ``Restart``: draining needs the API (the
  MachineComponentSet controller cordons and drains the batch's nodes
  first); the status message says so;
* ``Reboot`` reboots the node once the change is installed (through the
  agent's one reboot action, ``executor.actions.reboot``): the state
  records the boot the change was applied in (``reboot_from``); while the
  node still runs that boot the plan is REBOOT and the status stays
  ``Installing``; once a new boot runs, AFTER_BOOT checks the component's
  health and only then reports ``Running``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kubenode.api import constants as c

__all__ = ["Action", "Desired", "LocalState", "Observation", "compute_status", "plan", "reboots"]

Obj = dict[str, Any]


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Desired:
    """The parts of a MachineComponent the agent acts on."""

    name: str
    component: str
    version: str
    source: Obj
    run: Obj | None
    health_check: Obj | None
    files: tuple[Obj, ...]
    disruption: str
    revision: str
    generation: int
    deleting: bool
    has_finalizer: bool
    resource_version: str = ""
    finalizers: tuple[str, ...] = ()

    @classmethod
    def from_object(cls, obj: Obj) -> Desired:
        """Read a MachineComponent (raw dict)."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        finalizers = tuple(str(f) for f in meta.get("finalizers") or ())
        return cls(
            name=str(meta.get("name", "")), component=str(spec.get("component", "")),
            version=str(spec.get("version", "")), source=dict(spec.get("source") or {}),
            run=spec.get("run") or None, health_check=spec.get("healthCheck") or None,
            files=tuple(spec.get("files") or ()), disruption=str(spec.get("disruption") or c.DISRUPTION_NONE),
            revision=str(spec.get("revision") or ""), generation=int(meta.get("generation") or 0),
            deleting=bool(meta.get("deletionTimestamp")),
            has_finalizer=c.FINALIZER_MACHINE_COMPONENT in finalizers,
            resource_version=str(meta.get("resourceVersion") or ""), finalizers=finalizers)

    @property
    def artifact_key(self) -> str:
        """What identifies the artifact: url + sha256, or the package."""
        pkg = self.source.get("package")
        if pkg:
            return f"package:{pkg.get('name')}={pkg.get('version') or ''}"
        return f"{self.source.get('url')}#{self.source.get('sha256')}"

    @property
    def run_hash(self) -> str:
        """Hash of what the service runs (command, environment)."""
        return _hash(self.run or {})

    @property
    def files_hash(self) -> str:
        """Hash of the files."""
        return _hash(list(self.files))

    @property
    def spec_hash(self) -> str:
        """Hash of everything the agent applies (the unit of 'applied' and 'failed')."""
        return _hash({"v": self.version, "a": self.artifact_key, "r": self.run or {}, "h": self.health_check or {},
                      "f": list(self.files), "d": self.disruption})


@dataclass
class LocalState:
    """What the agent recorded about the component on this node (``STATE/state.json``)."""

    mc_name: str = ""
    applied_hash: str = ""
    artifact_key: str = ""
    run_hash: str = ""
    files_hash: str = ""
    revision: str = ""
    version: str = ""
    #: The applied spec parts of the running version (run, healthCheck, files): a rollback restarts with them.
    applied: Obj = field(default_factory=dict)
    #: The applied spec parts of the version before it (the rollback target's).
    previous: Obj = field(default_factory=dict)
    failed_hash: str = ""
    failed_reason: str = ""
    failed_message: str = ""
    restart_count: int = 0
    port: int = 0
    #: disruption Reboot: the boot ID the applied change was installed in, until a new boot checked it.
    reboot_from: str = ""

    def to_json(self) -> Obj:
        """Serialisable form."""
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Obj) -> LocalState:
        """Parse, ignoring unknown keys (older or newer agents)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class Action(StrEnum):
    """What to do next."""

    ADD_FINALIZER = "AddFinalizer"
    REMOVE = "Remove"
    FORGET = "Forget"  # deleting and nothing of ours is on it: nothing to do
    HOLD_FAILED = "HoldFailed"  # this spec failed already: do not retry until it changes
    INSTALL = "Install"
    RECONFIGURE = "Reconfigure"
    START = "Start"
    REBOOT = "Reboot"  # disruption Reboot: the change is installed, the node reboots
    AFTER_BOOT = "AfterBoot"  # disruption Reboot: a new boot runs, check health before reporting Running
    STEADY = "Steady"


@dataclass(frozen=True)
class Observation:
    """What is on the node right now."""

    current_version: str | None
    state: LocalState
    service_running: bool
    boot_id: str = ""


def plan(d: Desired, obs: Observation) -> tuple[Action, bool]:
    """The next action, and (for RECONFIGURE) whether it restarts the service."""
    if d.deleting:
        return (Action.REMOVE, False) if d.has_finalizer else (Action.FORGET, False)
    if not d.has_finalizer:
        return Action.ADD_FINALIZER, False
    st = obs.state
    if st.failed_hash and st.failed_hash == d.spec_hash:
        return Action.HOLD_FAILED, False
    if obs.current_version != d.version or st.artifact_key != d.artifact_key or st.version != d.version:
        return Action.INSTALL, True
    if st.applied_hash != d.spec_hash:
        restart = st.run_hash != d.run_hash or (st.files_hash != d.files_hash
                                               and d.disruption != c.DISRUPTION_NONE)
        return Action.RECONFIGURE, restart
    if st.reboot_from:
        return (Action.REBOOT if st.reboot_from == obs.boot_id else Action.AFTER_BOOT), False
    if d.run and not obs.service_running:
        return Action.START, False
    return Action.STEADY, False


def disruption_note(disruption: str) -> str:
    """What the agent says about a Drain or Reboot disruption it applied."""
    if disruption == c.DISRUPTION_DRAIN:
        return " (disruption Drain: the component was restarted; draining the node is the controller's job)"
    if disruption == c.DISRUPTION_REBOOT:
        return " (disruption Reboot: the node reboots, health is checked after boot)"
    return ""


def reboots(d: Desired, action: Action, restart: bool) -> bool:
    """Whether applying `action` for `d` is followed by a node reboot (disruption Reboot)."""
    return d.disruption == c.DISRUPTION_REBOOT and (
        action is Action.INSTALL or (action is Action.RECONFIGURE and restart))


def compute_status(d: Desired, obs: Observation, healthy: bool | None, message: str, *,
                   phase: str | None = None, reason: str = "", has_health_check: bool = True) -> Obj:
    """The status fields the agent reports (conditions are merged by the caller).

    ``phase`` overrides the computed phase (Installing, Removing); otherwise:
    Running when the desired spec is applied and not known unhealthy, Failed
    when the desired spec failed (it was rolled back, or its first install
    never became healthy), else Pending.
    """
    st = obs.state
    applied = obs.current_version == d.version and st.applied_hash == d.spec_hash
    if phase is None:
        if applied and st.reboot_from:
            phase = c.COMPONENT_PHASE_INSTALLING  # installed, the reboot (or the check after it) is pending
        elif applied and healthy is not False:
            phase = c.COMPONENT_PHASE_RUNNING
        elif st.failed_hash == d.spec_hash or applied:
            phase = c.COMPONENT_PHASE_FAILED
        else:
            phase = c.COMPONENT_PHASE_PENDING
    status: Obj = {"phase": phase, "observedGeneration": d.generation, "restartCount": st.restart_count,
                   "message": message[:32768]}
    if obs.current_version:
        status["installedVersion"] = obs.current_version
        status["installedRevision"] = st.revision
    if healthy is not None:
        status["healthy"] = healthy
    elif not has_health_check and d.run is None and obs.current_version:
        status["healthy"] = True
    return status
