"""The detectors as an agent extension: monitors → condition states → the Node's status and Events.

Temporary problems become Events on the Node; permanent ones become Node
conditions, written with a strategic-merge patch of `status.conditions`
(merged by type) so the kubelet's Ready — the agent core's — is never
touched. The write is level-triggered: the detectors watch their own Node
and re-assert their conditions whenever the Node disagrees (another writer
replaced the list, the node lifecycle controller marked everything Unknown
while the agent was away), and otherwise only post a heartbeat every few
minutes, so a healthy fleet costs the API server almost nothing.

Paths in monitor configs are host paths; in local mode they are resolved
under the machine root, so the default kernel monitor reads ROOT/dev/kmsg.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenode.agent.telemetry import AgentMetrics
from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer

from .config import (
    PERMANENT,
    PLUGIN_JOURNALD,
    ConditionDefault,
    LogMonitorConfig,
    MonitorConfig,
    PluginMonitorConfig,
    PluginRule,
    parse_monitor,
)
from .default_rules import KERNEL_MONITOR
from .journal import JournalFollower, journalctl_argv
from .logwatch import FileTail, FloodBudget, KmsgDevice
from .matcher import Finding, LogMatcher
from .plugin import NPD_PLUGIN_DIRS, resolve_plugin, run_plugin
from .state import ConditionTracker, StateFile
from .system_stats import StatsCollector, SystemStatsConfig, is_system_stats, parse_system_stats

log = logging.getLogger("kubenode.agent.detectors")
Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-detectors"
#: Names under which the executor's RestartComponent reaches the detectors.
COMPONENT_NAMES = ("node-problem-detector", "kubenode-detectors")


@dataclass
class DetectorSettings:
    """Where the detectors read and keep things, and how often they act."""

    node_name: str
    root: Path | None = None  # machine root in local mode; None on a real host
    poll_seconds: float = 0.5  # log tail interval
    heartbeat_seconds: float = 300.0  # re-post unchanged conditions this often
    jitter: float = 0.2  # ± fraction applied to every periodic check (NPD #412: not all at once)
    flood_event_seconds: float = 60.0  # at most one flood Event per monitor this often
    metrics: AgentMetrics | None = None  # problem_counter/problem_gauge and drop counts go here
    #: node-problem-detector's --config.* flags: monitor config files beside the config directory's.
    system_log_monitors: tuple[str, ...] = ()
    custom_plugin_monitors: tuple[str, ...] = ()
    system_stats_monitors: tuple[str, ...] = ()

    def host_path(self, path: str) -> Path:
        """A host path, under the machine root in local mode."""
        return self.root / path.lstrip("/") if self.root is not None else Path(path)

    @property
    def config_dir(self) -> Path:
        """Node-local NPD monitor configs (*.json)."""
        return self.host_path("/etc/kubenode/detectors")

    @property
    def plugin_dir(self) -> Path:
        """The only directory custom plugins may live in."""
        return self.host_path("/etc/kubenode/detectors/plugins")

    @property
    def npd_plugin_dirs(self) -> list[Path]:
        """node-problem-detector's standard plugin directories on this node."""
        return [self.host_path(d) for d in NPD_PLUGIN_DIRS]

    @property
    def config_files(self) -> list[Path]:
        """Monitor configs named by the --config.* flags (paths as given on the command line)."""
        return [Path(p) for p in (*self.system_log_monitors, *self.custom_plugin_monitors)]

    @property
    def state_dir(self) -> Path:
        """Persisted condition states, offsets and the drop-count metrics file."""
        return self.host_path("/var/lib/kubenode/detectors")

    def boot_id(self) -> str:
        """This boot's ID (ROOT/run/boot_id in local mode, the kernel's otherwise)."""
        for p in ([self.root / "run" / "boot_id"] if self.root else []) + [Path("/proc/sys/kernel/random/boot_id")]:
            with contextlib.suppress(OSError):
                text = p.read_text().strip()
                if text:
                    return text
        return "unknown"


def _config_files(config_dir: Path, extra: Sequence[Path]) -> list[Path]:
    files = sorted(config_dir.glob("*.json")) if config_dir.is_dir() else []
    return files + [f for f in extra if f not in files]


def load_monitors(config_dir: Path, extra: Sequence[Path] = ()) -> tuple[list[MonitorConfig], list[str]]:
    """Every valid monitor config in `config_dir` and `extra` (the --config.* flags), plus our kernel monitor.

    The built-in kernel monitor is replaced only on purpose: by a config
    whose `source` is its name, `kernel-monitor` (as NPD's own
    kernel-monitor.json is). Any other kmsg config runs beside it; one that
    redefines its conditions is refused with a message, never silently.
    System-stats configs are skipped here (see :func:`load_stats_monitors`).
    """
    monitors: list[MonitorConfig] = []
    problems: list[str] = []
    for f in _config_files(config_dir, extra):
        try:
            raw = json.loads(f.read_text())
            if is_system_stats(raw):
                continue
            monitors.append(parse_monitor(raw, f.name))
        except (OSError, ValueError) as exc:  # ConfigError is a ValueError; so is bad JSON
            problems.append(f"{f}: {exc}")
    builtin = str(KERNEL_MONITOR["source"])
    replacing = [m for m in monitors if m.source == builtin]
    if replacing:
        log.info("the built-in kernel monitor is replaced by a config with source %r", builtin)
    else:
        monitors.insert(0, parse_monitor(KERNEL_MONITOR, "default kernel-monitor"))
    seen: set[str] = set()
    unique: list[MonitorConfig] = []
    for m in monitors:
        dup = {c.type for c in m.conditions} & seen
        if dup:
            problems.append(f"{m.source}: condition(s) {sorted(dup)} already defined by another monitor; skipped"
                            + (f" (to replace the built-in kernel monitor, name its source {builtin!r})"
                               if isinstance(m, LogMonitorConfig) and m.plugin == "kmsg" else ""))
            continue
        seen |= {c.type for c in m.conditions}
        unique.append(m)
    return unique, problems


def load_stats_monitors(config_dir: Path, extra: Sequence[Path] = ()) -> tuple[list[SystemStatsConfig], list[str]]:
    """The system-stats monitors in `config_dir` and `extra` (--config.system-stats-monitor); errors."""
    out: list[SystemStatsConfig] = []
    problems: list[str] = []
    for f in _config_files(config_dir, extra):
        try:
            raw = json.loads(f.read_text())
            if is_system_stats(raw) or f in extra:
                out.append(parse_system_stats(raw, f.name))
        except (OSError, ValueError) as exc:
            problems.append(f"{f}: {exc}")
    return out, problems


async def wait_any(events: tuple[asyncio.Event, ...], within: float | None) -> None:
    """Return when any of `events` is set or `within` seconds passed; never leaves a waiter task behind."""
    tasks = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(*tasks, raise_errors=False)


def _jittered(seconds: float, fraction: float) -> float:
    return seconds * (1 + random.uniform(-fraction, fraction))


class DetectorService:
    """Runs every monitor of one node and reports to its Node object."""

    def __init__(self, client: KubeClient, settings: DetectorSettings) -> None:
        self.client = client
        self.settings = settings
        self.recorder = EventRecorder(client, "kubenode-detectors", settings.node_name)
        self.state_file = StateFile(settings.state_dir / "state.json")
        self.tracker: ConditionTracker | None = None
        self.config_errors: list[str] = []
        self._dirty = asyncio.Event()
        self._restart = asyncio.Event()
        self._pending_events: list[tuple[str, str, str]] = []  # (type, reason, message)
        self._dropped: dict[str, int] = {}
        self.restarts = 0
        self.monitors: list[MonitorConfig] = []
        self._reasons: dict[str, set[str]] = {}  # condition type -> the reasons its rules may set

    # ------------------------------------------------------------------ public surface

    async def run(self, stop: asyncio.Event) -> None:
        """Run the monitors until `stop`; a restart request re-reads the configs (states are kept)."""
        informer = Informer(self.client, NODES, field_selector=f"metadata.name={self.settings.node_name}",
                            watch_timeout=300)
        informer.on_change(lambda _old, _new: self._dirty.set())
        informer.start()
        try:
            while not stop.is_set():
                self._restart.clear()
                inner = asyncio.Event()
                relay = asyncio.create_task(self._relay(stop, inner), name="detectors-relay")
                try:
                    await self._run_once(inner, informer)
                finally:
                    await cancel_and_wait(relay)
        finally:
            await informer.stop()

    def restarters(self) -> dict[str, Callable[[str], Awaitable[str]]]:
        """RestartComponent targets this service answers to (for the remediation executor)."""
        return dict.fromkeys(COMPONENT_NAMES, self.restart)

    async def restart(self, component: str) -> str:
        """RestartComponent for the detectors: re-read configs and restart every monitor."""
        self.restarts += 1
        self._restart.set()
        return f"{component}: detectors restarted (conditions kept until this boot ends)"

    # ------------------------------------------------------------------ internals

    async def _relay(self, stop: asyncio.Event, inner: asyncio.Event) -> None:
        try:
            await wait_any((stop, self._restart), None)
        finally:
            inner.set()

    async def _run_once(self, stop: asyncio.Event, informer: Informer) -> None:
        monitors, problems = await asyncio.to_thread(load_monitors, self.settings.config_dir,
                                                     self.settings.config_files)
        stats, stats_problems = await asyncio.to_thread(
            load_stats_monitors, self.settings.config_dir, [Path(p) for p in self.settings.system_stats_monitors])
        problems = problems + stats_problems
        self.config_errors = problems
        self.monitors = monitors
        self._init_metrics(monitors, stats, len(problems))
        for p in problems:
            log.error("detector config rejected: %s", p)
            self._pending_events.append(("Warning", "DetectorConfigInvalid", p))
        now = time.time()
        defaults: list[ConditionDefault] = [c for m in monitors for c in m.conditions]
        stored = self.state_file.load()
        tracker = ConditionTracker(defaults, stored, self.settings.boot_id(), now)
        first_start = not stored.boot_id
        self.tracker = tracker
        if tracker.rebooted:
            log.info("new boot ID: detector conditions reset to their healthy defaults")
        self._save()
        self._dirty.set()
        tasks = [asyncio.create_task(self._sync_loop(stop, informer), name="detectors-sync")]
        for m in monitors:
            if isinstance(m, LogMonitorConfig) and m.plugin == PLUGIN_JOURNALD:
                tasks.append(asyncio.create_task(self._journal_loop(stop, m, tracker, first_start),
                                                 name=f"detectors-journal-{m.source}"))
            elif isinstance(m, LogMonitorConfig):
                tasks.append(asyncio.create_task(self._log_loop(stop, m, tracker, first_start),
                                                 name=f"detectors-log-{m.source}"))
            else:
                tasks.append(asyncio.create_task(self._plugin_loop(stop, m, tracker),
                                                 name=f"detectors-plugin-{m.source}"))
        try:
            await stop.wait()
        finally:
            await cancel_and_wait(*tasks)
            self._save()

    def _init_metrics(self, monitors: list[MonitorConfig], stats: list[SystemStatsConfig], errors_: int) -> None:
        """NPD's problem series at zero for every rule, the stats monitors' collector, the error count."""
        metrics = self.settings.metrics
        self._reasons = {}
        for m in monitors:
            for c in m.conditions:
                self._reasons.setdefault(c.type, set()).add(c.reason)
            for r in m.rules:
                if r.type == PERMANENT:
                    self._reasons.setdefault(r.condition, set()).add(r.reason)
        if metrics is None:
            return
        metrics.config_errors = errors_
        metrics.init_problems({r.reason for m in monitors for r in m.rules},
                              {(t, r) for t, reasons in self._reasons.items() for r in reasons})
        for s in stats:
            for mid, why in s.not_exported.items():
                log.info("%s: %s is not exported by the agent (%s)", s.source, mid, why)
        # /proc is the host's in local mode too (a machine directory has none of its own).
        metrics.extra_sources["system-stats"] = StatsCollector(stats, Path("/proc")).collect

    def _publish(self) -> None:
        """problem_gauge and the drop counts from the current state."""
        metrics = self.settings.metrics
        if metrics is None or self.tracker is None:
            return
        for c in self.tracker.conditions:
            metrics.set_condition(c.type, c.reason, c.status == "True", self._reasons.get(c.type, ()))
        for source, n in self._dropped.items():
            metrics.set_dropped(source, n)

    def _save(self) -> None:
        if self.tracker is None:
            return
        self._publish()
        try:
            self.state_file.save(self.tracker.state)
        except OSError as exc:
            log.warning("cannot persist detector state: %s", exc)

    def _problem(self, reason: str) -> None:
        if self.settings.metrics is not None:
            self.settings.metrics.record_problem(reason)

    def _apply(self, m: MonitorConfig, tracker: ConditionTracker, findings: list[Finding], now: float) -> None:
        changed = False
        for f in findings:
            if f.kind == "event":
                self._pending_events.append(("Warning", f.reason, f.message))
                self._problem(f.reason)
            elif f.kind == "condition":
                was = tracker.state.conditions[f.condition]
                if (was.status, was.reason) != ("True", f.reason):
                    self._problem(f.reason)  # NPD counts a permanent problem when it sets the condition
                changed |= tracker.set(f.condition, "True", f.reason, f.message, now)
                self._pending_events.append(("Warning", f.reason, f.message))
            elif f.kind == "recovered" and tracker.state.conditions[f.condition].status != "False":
                changed |= tracker.clear(f.condition, now, f"recovered: {f.message}")
        if changed or findings:
            self._save()
            self._dirty.set()

    def _open_tail(self, m: LogMonitorConfig, tracker: ConditionTracker, first_start: bool) -> FileTail | KmsgDevice:
        path = self.settings.host_path(m.log_path)
        if m.plugin == "kmsg" and KmsgDevice.is_device(path):
            return KmsgDevice(path, m.lookback)
        stored = tracker.state.offsets.get(str(path))
        if stored is not None and not tracker.rebooted:
            return FileTail(path, stored)
        if tracker.rebooted or not first_start:
            # A new boot: what the file holds belongs to the previous one.
            return FileTail(path, from_end=True)
        try:
            recent = time.time() - path.stat().st_mtime <= m.lookback
        except OSError:
            recent = True
        return FileTail(path, from_end=not recent)

    async def _log_loop(self, stop: asyncio.Event, m: LogMonitorConfig, tracker: ConditionTracker,
                        first_start: bool) -> None:
        matcher = LogMatcher(m)
        tail = self._open_tail(m, tracker, first_start)
        budget = FloodBudget(m.max_lines_per_second, time.monotonic())
        last_flood_event = 0.0
        key = str(self.settings.host_path(m.log_path))
        try:
            while not stop.is_set():
                try:
                    lines = await asyncio.to_thread(tail.read_lines)
                except OSError as exc:
                    log.warning("%s: cannot read %s: %s", m.source, m.log_path, exc)
                    lines = []
                now_m = time.monotonic()
                if lines:
                    ok = budget.admit(len(lines), now_m)
                    findings: list[Finding] = []
                    for line in lines[:ok]:
                        findings.extend(matcher.feed(line))
                    self._apply(m, tracker, findings, time.time())
                    if isinstance(tail, FileTail):
                        tracker.state.offsets[key] = tail.position
                        self._save()
                    if ok < len(lines):
                        self._dropped[m.source] = budget.dropped
                        tracker.state.dropped_lines = sum(self._dropped.values())
                        if now_m - last_flood_event >= self.settings.flood_event_seconds:
                            last_flood_event = now_m
                            self._pending_events.append((
                                "Warning", "LogFlood", f"{m.source}: {budget.dropped} log lines dropped so far "
                                f"this boot (budget {m.max_lines_per_second} lines/s)"))
                            self._dirty.set()
                        self._save()
                if tracker.expire(time.time()):
                    self._save()
                    self._dirty.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _jittered(self.settings.poll_seconds, self.settings.jitter))
        finally:
            if isinstance(tail, KmsgDevice):
                tail.close()

    async def _journal_loop(self, stop: asyncio.Event, m: LogMonitorConfig, tracker: ConditionTracker,
                            first_start: bool) -> None:
        """Follow the journal with journalctl; restart it (after a pause) if it exits."""
        matcher = LogMatcher(m)
        budget = FloodBudget(m.max_lines_per_second, time.monotonic())
        key = f"journald:{m.source}"
        directory = self.settings.host_path(m.log_path) if m.log_path else None
        warned = ""
        pause = 5.0
        while not stop.is_set():
            journalctl = JournalFollower.find_journalctl()
            problem = ""
            if journalctl is None:
                problem = "journalctl is not installed (Debian: apt-get install systemd)"
            elif directory is not None and not directory.exists():
                problem = f"log path {m.log_path} does not exist"  # NPD refuses a missing logPath too
            if problem:
                if problem != warned:
                    warned = problem
                    log.warning("%s: %s; retrying", m.source, problem)
                    self._pending_events.append(("Warning", "DetectorConfigInvalid", f"{m.source}: {problem}"))
                    self._dirty.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 30.0)
                continue
            assert journalctl is not None
            cursor = tracker.state.cursors.get(key, "") if not tracker.rebooted else ""
            since = time.time() - (m.lookback if first_start else 0.0)
            follower = JournalFollower(journalctl_argv(journalctl, m.journal_source, directory, since=since,
                                                       after_cursor=cursor))
            await follower.start()
            started = time.monotonic()
            try:
                while not stop.is_set() and not follower.exited:
                    entries = await follower.read(_jittered(self.settings.poll_seconds, self.settings.jitter))
                    if not entries:
                        if follower.exited:
                            break
                        continue
                    ok = budget.admit(len(entries), time.monotonic())
                    findings: list[Finding] = []
                    for e in entries[:ok]:
                        findings.extend(matcher.feed(e.message))
                    self._apply(m, tracker, findings, time.time())
                    if entries[-1].cursor:
                        tracker.state.cursors[key] = entries[-1].cursor
                    if ok < len(entries):
                        self._dropped[m.source] = budget.dropped
                    self._save()
                if follower.exited and not stop.is_set():
                    log.warning("%s: journalctl exited (restarting in %.0f s): %s", m.source, pause,
                                await follower.error_text())
            finally:
                await follower.close()
            first_start = False
            if time.monotonic() - started > 60.0:
                pause = 5.0  # it ran fine for a while: a fresh failure starts the backoff over
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, 60.0)  # a journalctl that keeps failing is retried ever less often

    async def _plugin_loop(self, stop: asyncio.Event, m: PluginMonitorConfig, tracker: ConditionTracker) -> None:
        sem = asyncio.Semaphore(m.concurrency)

        async def check(rule: PluginRule) -> tuple[PluginRule, str, str]:
            try:
                exe = resolve_plugin(rule.path, self.settings.plugin_dir, self.settings.npd_plugin_dirs,
                                     self.settings.root)
            except ValueError as exc:
                return rule, "Unknown", str(exc)[: m.max_output_length]
            async with sem:
                r = await run_plugin(exe, rule.args, rule.timeout, m.max_output_length)
            return rule, r.status, r.message

        # Start at a random point of the interval so a fleet's checks do not fire in lockstep.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), random.uniform(0, min(m.invoke_interval, 5.0)))
        while not stop.is_set():
            results = await asyncio.gather(*(check(r) for r in m.rules))
            now = time.time()
            changed = False
            for rule, status, message in results:
                if rule.type == PERMANENT:
                    if status == "False":
                        if tracker.state.conditions[rule.condition].reason == rule.reason:
                            changed |= tracker.clear(rule.condition, now)
                    else:
                        was = tracker.state.conditions[rule.condition]
                        if status == "True" and (was.status, was.reason) != ("True", rule.reason):
                            self._problem(rule.reason)
                        changed |= tracker.set(rule.condition, status, rule.reason, message, now)
                elif status == "True":
                    self._pending_events.append(("Warning", rule.reason, message))
                    self._problem(rule.reason)
                    changed = True
            if changed:
                self._save()
                self._dirty.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _jittered(m.invoke_interval, self.settings.jitter))

    async def _sync_loop(self, stop: asyncio.Event, informer: Informer) -> None:
        last_post = 0.0
        backoff = 0.5
        while not stop.is_set():
            timeout = max(0.0, last_post + _jittered(self.settings.heartbeat_seconds, self.settings.jitter)
                          - time.monotonic())
            await wait_any((self._dirty, stop), timeout)
            if stop.is_set():
                return
            self._dirty.clear()
            heartbeat = time.monotonic() - last_post >= self.settings.heartbeat_seconds
            try:
                if await self._sync(informer, force=heartbeat):
                    last_post = time.monotonic()
                backoff = 0.5
            except (errors.ApiError, OSError, TimeoutError) as exc:
                log.warning("cannot report detector conditions (will retry): %s", exc)
                self._dirty.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)

    async def _sync(self, informer: Informer, *, force: bool) -> bool:
        """Make the Node say what the tracker says; send pending Events. True if the status was posted."""
        tracker = self.tracker
        node = informer.cache.get("", self.settings.node_name)
        if tracker is None or node is None:
            return False  # not registered yet: the informer wakes us when it is
        now = time.time()
        current = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        want = [c.to_node_condition(now) for c in tracker.conditions]
        differs = [c for c in want if any((current.get(c["type"]) or {}).get(k) != c[k]
                                          for k in ("status", "reason", "message", "lastTransitionTime"))]
        posted = False
        if differs or (force and want):
            body = {"status": {"conditions": want if force else differs}}
            await self.client.patch(NODES, self.settings.node_name, body, subresource="status",
                                    patch_type="strategic", field_manager=FIELD_MANAGER)
            posted = True
        events, self._pending_events = self._pending_events, []
        for type_, reason, message in events:
            await self.recorder.event(node, type_, reason, message)
        return posted
