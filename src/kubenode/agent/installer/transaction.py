"""Install, upgrade, roll back and remove one component on this node, each as a journaled transaction.

This is the executor behind :func:`.plan.plan`: it owns the component's
directories (:class:`.layout.ComponentLayout`), its intent journal, its
recorded state and its supervised service. Every operation that changes
what ``current`` names runs inside the journal, so a crash at any step
leaves a complete version (or nothing) behind — see :mod:`.journal`.

An upgrade is verified by the health check before it is committed; when the
new version fails it, the previous version is switched back in and
restarted *on this node* (the rollout controller only sees the Failed
status with the reason, and decides about the other nodes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenode.api import constants as c

from .archive import (
    ArchiveError,
    complete_sha256,
    fetch_verified,
    mark_complete,
    read_manifest,
    switch_current,
    unpack,
    write_files,
)
from .drift import record_hashes
from .healthcheck import HealthCheck, HealthTracker, ProbeResult, await_verdict, probe
from .inputs import InputRefused, check_env, check_file_source, default_trusted_dirs
from .journal import Journal, Recovery, recover, write_json_atomic
from .layout import ComponentLayout, PathEscapeError
from .package import PackageError, install_package
from .plan import Desired, LocalState, disruption_note
from .supervisor import (
    ProcessSupervisor,
    Service,
    ServiceSpec,
    SystemdSupervisor,
    kill_recorded,
    resolve_program,
)

__all__ = ["ComponentHandle", "InstallError", "Outcome", "port_for"]

log = logging.getLogger(__name__)

Failpoint = Callable[[str], None]
#: Ports handed to components through KUBENODE_COMPONENT_PORT (local mode: many machines share one host).
PORT_RANGE = (20000, 40000)
#: What a component process inherits from the agent's environment (nothing else leaks in).
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR")


class InstallError(Exception):
    """An operation failed; ``reason`` is a MachineComponent condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What an install or reconfiguration ended with."""

    ok: bool
    reason: str
    message: str
    healthy: bool | None = None


def preferred_port(machine: str, component: str, lo: int = PORT_RANGE[0], hi: int = PORT_RANGE[1]) -> int:
    """A deterministic port for (machine, component) in ``[lo, hi)`` — the first one tried."""
    return lo + zlib.crc32(f"{machine}/{component}".encode()) % (hi - lo)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_for(machine: str, component: str, recorded: int = 0, is_free: Callable[[int], bool] = _port_free) -> int:
    """The component's port: the recorded one, else the deterministic one, probing upwards past busy ports.

    Recorded in the component's state once chosen, so it never changes for a
    node; on one host with many local machines the hash spreads them and the
    probe skips a port another machine's component already holds.
    """
    if recorded:
        return recorded
    lo, hi = PORT_RANGE
    start = preferred_port(machine, component)
    for i in range(hi - lo):
        port = lo + (start - lo + i) % (hi - lo)
        if is_free(port):
            return port
    raise InstallError(c.COMPONENT_REASON_START_FAILED, f"no free port in {lo}-{hi}")


class ComponentHandle:
    """One component on this node: its files, journal, state and service."""

    def __init__(self, root: Path, component: str, machine: str, *, local: bool = True,
                 failpoint: Failpoint | None = None, systemd_dir: Path | None = None,
                 service: Service | None = None, host_root: Path | None = None,
                 trusted_file_dirs: tuple[Path, ...] | None = None) -> None:
        self.layout = ComponentLayout(root, component)
        self.machine = machine
        self.local = local
        #: Directories `file://` sources may be read from (None: the default for this mode, see inputs.py).
        self.trusted_file_dirs = (default_trusted_dirs(root, local) if trusted_file_dirs is None
                                  else trusted_file_dirs)
        self.journal = Journal(self.layout, failpoint)
        self.state = self._load_state()
        self.service: Service = service or (
            ProcessSupervisor(component, self.layout.state_dir / "service.pid") if local
            else SystemdSupervisor(component, systemd_dir or Path("/etc/systemd/system"), host_root=host_root))
        self.tracker: HealthTracker | None = None
        self.recovery: Recovery | None = None
        self.last_probe: ProbeResult | None = None

    # ------------------------------------------------------------------ state
    @property
    def state_file(self) -> Path:
        """``STATE/state.json``."""
        return self.layout.state_dir / "state.json"

    def _load_state(self) -> LocalState:
        try:
            return LocalState.from_json(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return LocalState()
        except (ValueError, TypeError) as exc:
            log.warning("%s: unreadable state (%s); starting afresh", self.state_file, exc)
            return LocalState()

    def save_state(self) -> None:
        """Persist the recorded state atomically."""
        write_json_atomic(self.state_file, self.state.to_json())

    def recover(self) -> Recovery:
        """Undo whatever a crash interrupted (called once, before the first reconcile)."""
        if self.local:
            # A service left by the previous agent process is nobody's child now: stop it, the reconcile
            # starts it again under supervision (otherwise two copies would fight over one port).
            kill_recorded(self.layout.state_dir / "service.pid")
        self.recovery = recover(self.layout)
        current = self.layout.current_version()
        if self.recovery.record is not None and current != self.state.version:
            # The crashed operation had not committed: the state still describes what `current` named
            # before it — unless nothing is installed any more.
            if current is None:
                self.state = LocalState(mc_name=self.state.mc_name, port=self.state.port)
            self.save_state()
        return self.recovery

    # ------------------------------------------------------------------ environment and service
    def env(self, version_dir: Path, version: str, run: Mapping[str, Any] | None) -> dict[str, str]:
        """The environment of the service and of exec probes."""
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        if not self.state.port:
            self.state.port = port_for(self.machine, self.layout.component)
            self.save_state()
        env.update({
            "KUBENODE_MACHINE": self.machine,
            "KUBENODE_COMPONENT": self.layout.component,
            "KUBENODE_COMPONENT_VERSION": version,
            "KUBENODE_COMPONENT_DIR": str(version_dir),
            "KUBENODE_COMPONENT_PORT": str(self.state.port),
            "KUBENODE_ROOT": str(self.layout.root),
        })
        for item in (run or {}).get("env") or ():
            env[str(item["name"])] = str(item.get("value", ""))
        return env

    def real_version_dir(self, version: str) -> Path:
        """The version directory with symlinks resolved (what processes see as their directory)."""
        return Path(os.path.realpath(self.layout.version_dir(version)))

    def service_spec(self, version: str, run: Mapping[str, Any]) -> ServiceSpec:
        """Resolve ``run`` against the installed ``version`` (the program must come from its artifact)."""
        check_env(run)
        version_dir = self.real_version_dir(version)
        argv = resolve_program(version_dir, [str(a) for a in run.get("command") or ()])
        return ServiceSpec(argv=tuple(argv), env=self.env(version_dir, version, run), cwd=version_dir,
                           log_file=self.layout.log_file, version=version)

    async def start_service(self, version: str, applied: Mapping[str, Any]) -> None:
        """(Re)start the service of ``version`` as ``applied`` describes it (or stop it if it has no run)."""
        run = applied.get("run")
        if not run:
            await self.service.stop()
            return
        await self.service.start(self.service_spec(version, run))

    # ------------------------------------------------------------------ health
    def health_check(self, applied: Mapping[str, Any]) -> HealthCheck | None:
        """The parsed health check of an applied spec."""
        return HealthCheck.from_spec(applied.get("healthCheck"))

    async def probe_once(self) -> ProbeResult | None:
        """One probe of the running version (None without a health check); updates the tracker."""
        version = self.layout.current_version()
        check = self.health_check(self.state.applied)
        if version is None or check is None:
            return None
        version_dir = self.real_version_dir(version)
        result = await probe(check, version_dir, self.env(version_dir, version, self.state.applied.get("run")))
        if self.tracker is None or self.tracker.failure_threshold != check.failure_threshold:
            self.tracker = HealthTracker(check.failure_threshold)
        self.tracker.observe(result)
        self.last_probe = result
        return result

    async def verify(self, version: str, applied: Mapping[str, Any], stop: asyncio.Event | None) -> HealthTracker:
        """Probe a freshly started version until the health check gives a verdict."""
        check = self.health_check(applied)
        if check is None:
            tracker = HealthTracker(1)
            running = not applied.get("run") or self.service.running
            tracker.observe(ProbeResult(running, "process running" if running else
                                        f"process not running ({self.service.last_exit})"))
            self.tracker = tracker
            return tracker
        version_dir = self.real_version_dir(version)
        env = self.env(version_dir, version, applied.get("run"))
        tracker = await await_verdict(check, lambda: probe(check, version_dir, env), stop)
        self.tracker = tracker
        self.last_probe = tracker.last
        return tracker

    # ------------------------------------------------------------------ operations
    @staticmethod
    def applied_parts(d: Desired) -> dict[str, Any]:
        """What a rollback needs to restart a version exactly as it was applied."""
        return {"run": d.run, "healthCheck": d.health_check, "files": list(d.files)}

    async def _stage(self, d: Desired) -> None:
        """Download + verify + unpack (or install the package) and write the files into a sealed version dir."""
        url, sha = d.source.get("url"), d.source.get("sha256")
        if url:
            if not sha:
                raise InstallError(c.COMPONENT_REASON_CHECKSUM_MISMATCH,
                                   "spec.source.sha256: required with url (nothing was installed)")
            if complete_sha256(self.layout, d.version) == sha:
                # Already unpacked and verified (e.g. the version we rolled back from, or a re-install):
                # only the files may differ.
                self.journal.step("downloaded")
                write_files(self.layout.version_dir(d.version), d.files,
                            read_manifest(self.layout.version_dir(d.version)))
                record_hashes(self.layout.version_dir(d.version))
                self.journal.step("unpacked")
                return
            download = self.layout.state_dir / f"download-{d.version}.tar.gz"
            try:
                check_file_source(str(url), self.trusted_file_dirs)
            except InputRefused as exc:
                raise InstallError(c.COMPONENT_REASON_DOWNLOAD_FAILED, f"{exc} (nothing was installed)") from exc
            try:
                await fetch_verified(str(url), str(sha), download)
                self.journal.step("downloaded")
                staging = await asyncio.to_thread(unpack, download, self.layout, d.version)
            except ArchiveError as exc:
                raise InstallError(exc.reason, str(exc)) from exc
            finally:
                download.unlink(missing_ok=True)
        else:
            pkg = d.source.get("package") or {}
            if self.local:
                raise InstallError(c.COMPONENT_REASON_PACKAGE_FAILED,
                                   f"spec.source.package: {pkg.get('name')} is a distribution package, installed "
                                   "with apt/yum on real hosts only; a local machine supports archive sources")
            try:
                await install_package(str(pkg.get("name")), pkg.get("version"))
            except PackageError as exc:
                raise InstallError(exc.reason, str(exc)) from exc
            self.journal.step("downloaded")
            self.layout.home.mkdir(parents=True, exist_ok=True)
            staging = self.layout.home / f".staging-{d.version}-pkg"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            sha = d.artifact_key
        try:
            write_files(staging, d.files, read_manifest(staging))
        except PathEscapeError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise InstallError(c.COMPONENT_REASON_UNPACK_FAILED, str(exc)) from exc
        record_hashes(staging)  # what drift verification compares with (drift.py)
        mark_complete(staging, self.layout, d.version, str(sha))
        self.journal.step("unpacked")

    async def install(self, d: Desired, stop: asyncio.Event | None = None) -> Outcome:
        """Install or upgrade to ``d``; a failed health check switches back to the previous version."""
        self.layout.ensure_dirs()
        prev = self.layout.current_version()
        prev_parts = dict(self.state.applied) if prev else {}
        parts = self.applied_parts(d)
        if d.source.get("package") and (d.run or (d.health_check or {}).get("exec")):
            return self._fail(d, c.COMPONENT_REASON_START_FAILED,
                              "spec.run and spec.healthCheck.exec need an archive source: a package's programs "
                              "are not part of a verified artifact")
        self.journal.begin("install", target=d.version, restore=prev)
        existed = self.layout.is_complete(d.version)
        try:
            await self._stage(d)
            if parts["run"]:
                try:
                    self.service_spec(d.version, parts["run"])  # refuse a bad command before switching
                except PathEscapeError as exc:
                    raise InstallError(c.COMPONENT_REASON_START_FAILED, str(exc)) from exc
            switch_current(self.layout, d.version)
            self.journal.step("switched")
            try:
                await self.start_service(d.version, parts)
            except (OSError, PathEscapeError) as exc:
                raise InstallError(c.COMPONENT_REASON_START_FAILED, f"cannot start {d.version}: {exc}") from exc
            self.journal.step("started")
        except InstallError as exc:
            await self._restore(prev, prev_parts)
            if not existed and d.version != prev:
                # Refused after unpacking (e.g. a bad command): what this attempt unpacked goes too.
                shutil.rmtree(self.layout.version_dir(d.version), ignore_errors=True)
            self.journal.commit()
            return self._fail(d, exc.reason, exc.message)
        tracker = await self.verify(d.version, parts, stop)
        detail = tracker.last.message if tracker.last else ""
        if tracker.healthy is False:
            if prev and prev != d.version:
                await self._restore(prev, prev_parts)
                self.journal.commit()
                return self._fail(d, c.COMPONENT_REASON_HEALTH_CHECK_FAILED,
                                  f"version {d.version} failed its health check ({detail}); rolled back to {prev}")
            # First install (nothing to go back to): keep it, report it, let the probes keep watching.
            self.journal.step("verified")
            self._applied(d, parts, prev, prev_parts)
            self.journal.commit()
            return self._fail(d, c.COMPONENT_REASON_HEALTH_CHECK_FAILED,
                              f"version {d.version} failed its health check ({detail})", keep_applied=True)
        self.journal.step("verified")
        self._applied(d, parts, prev, prev_parts)
        self.journal.commit()
        verb = "upgraded from " + prev if prev and prev != d.version else "installed"
        return Outcome(True, c.COMPONENT_REASON_INSTALLED, f"version {d.version} {verb}; {detail}".rstrip("; ")
                       + disruption_note(d.disruption), tracker.healthy)

    async def _restore(self, prev: str | None, prev_parts: Mapping[str, Any]) -> None:
        """Switch ``current`` back to ``prev`` and restart it (the journal still protects us)."""
        if self.layout.current_version() != prev:
            switch_current(self.layout, prev if prev and self.layout.is_complete(prev) else None)
        if prev:
            try:
                await self.start_service(prev, prev_parts)
            except (OSError, PathEscapeError) as exc:
                log.error("%s: cannot restart %s after a failed install: %s", self.layout.component, prev, exc)
        else:
            await self.service.stop()

    def _applied(self, d: Desired, parts: dict[str, Any], prev: str | None, prev_parts: dict[str, Any]) -> None:
        st = self.state
        if prev and prev != d.version:
            st.previous = {"version": prev, **prev_parts}
        st.mc_name, st.applied_hash, st.artifact_key = d.name, d.spec_hash, d.artifact_key
        st.run_hash, st.files_hash, st.revision, st.version = d.run_hash, d.files_hash, d.revision, d.version
        st.applied = parts
        st.failed_hash = st.failed_reason = st.failed_message = ""
        self.save_state()

    def _fail(self, d: Desired, reason: str, message: str, keep_applied: bool = False) -> Outcome:
        self.state.mc_name = d.name
        self.state.failed_hash, self.state.failed_reason, self.state.failed_message = d.spec_hash, reason, message
        self.save_state()
        log.warning("%s: %s: %s", self.layout.component, reason, message)
        return Outcome(False, reason, message, False if keep_applied else None)

    async def reconfigure(self, d: Desired, restart: bool) -> Outcome:
        """Same version and artifact, changed files/run/health check: rewrite files, restart if needed."""
        version_dir = self.layout.version_dir(d.version)
        parts = self.applied_parts(d)
        try:
            write_files(version_dir, d.files, read_manifest(version_dir))
            record_hashes(version_dir)
            if restart:
                await self.start_service(d.version, parts)
        except (PathEscapeError, OSError) as exc:
            return self._fail(d, c.COMPONENT_REASON_START_FAILED, str(exc))
        self._applied(d, parts, None, {})
        what = "restarted" if restart else "files updated without a restart (disruption None)"
        return Outcome(True, c.COMPONENT_REASON_INSTALLED, f"version {d.version} reconfigured, {what}"
                       + (disruption_note(d.disruption) if restart else ""))

    async def ensure_running(self) -> None:
        """Start the applied service if it is not supervised (after an agent restart)."""
        version = self.layout.current_version()
        if version and self.state.applied.get("run"):
            await self.start_service(version, self.state.applied)

    async def restart(self) -> None:
        """Restart the service (RestartComponent remediation, Restart disruption)."""
        await self.ensure_running()

    async def remove(self) -> None:
        """Stop the service and delete the component's files and state (idempotent)."""
        self.journal.begin("remove", target=None, restore=None)
        await self.service.stop()
        switch_current(self.layout, None)
        shutil.rmtree(self.layout.home, ignore_errors=True)
        self.layout.log_file.unlink(missing_ok=True)
        shutil.rmtree(self.layout.state_dir, ignore_errors=True)
        self.state = LocalState()
