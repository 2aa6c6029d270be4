"""node-problem-detector's system-stats monitors, exported on the agent's /metrics under NPD's names.

A system-stats config (`system-stats-monitor.json`,
`net-cgroup-system-stats-monitor.json`, …) has no `plugin`: it lists metric
IDs per section (`cpu`, `disk`, `host`, `memory`, `net`, `osFeature`), each
with a `displayName`. NPD's Prometheus exporter names a series after its
display name with `/` turned into `_` (`cpu/load_1m` → `cpu_load_1m`) and
keeps its labels (`state`, `device_name`, `direction`, `interface_name`,
`cpu`, `stage`, `kernel_version`, `os_version`); so do we.

NPD samples every `invokeInterval`; here a scrape reads /proc at that
moment (the same files node-exporter's names come from, parsed once by
:mod:`kubenode.agent.telemetry.node_collector`), so nothing runs between
scrapes. Counters are totals since boot, which is what NPD's cumulative
`Sum` views add up to.

Not exported, and said so when a config asks for them:
`disk/avg_queue_len` (a rate over NPD's own sampling interval),
`disk/bytes_used`/`disk/percent_used` (NPD resolves them through `lsblk`),
`system/os_feature` (GKE's guest OS inventory).
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubenode.agent.telemetry.exposition import Family
from kubenode.agent.telemetry.node_collector import (
    parse_diskstats_full,
    parse_loadavg,
    parse_meminfo,
    parse_netdev,
    parse_stat,
)

from .config import ConfigError, parse_duration
from .re2 import RE2Error, compile_re2

__all__ = ["SECTIONS", "StatsCollector", "SystemStatsConfig", "is_system_stats", "parse_system_stats"]

SECTIONS = {
    "cpu": ("cpu/load_1m", "cpu/load_5m", "cpu/load_15m", "cpu/runnable_task_count", "cpu/usage_time",
            "system/cpu_stat", "system/interrupts_total", "system/processes_total", "system/procs_blocked",
            "system/procs_running"),
    "disk": ("disk/avg_queue_len", "disk/bytes_used", "disk/percent_used", "disk/io_time", "disk/weighted_io",
             "disk/operation_count", "disk/merged_operation_count", "disk/operation_bytes_count",
             "disk/operation_time"),
    "host": ("host/uptime",),
    "memory": ("memory/anonymous_used", "memory/bytes_used", "memory/dirty_used", "memory/page_cache_used",
               "memory/unevictable_used", "memory/percent_used"),
    "osFeature": ("system/os_feature",),
    "net": tuple(f"net/{d}_{f}" for d, fs in (("rx", ("bytes", "packets", "errors", "dropped", "fifo", "frame",
                                                      "compressed", "multicast")),
                                             ("tx", ("bytes", "packets", "errors", "dropped", "fifo", "collisions",
                                                     "carrier", "compressed"))) for f in fs),
}
NOT_EXPORTED = {
    "disk/avg_queue_len": "a rate over NPD's own sampling interval",
    "disk/bytes_used": "NPD resolves it through lsblk",
    "disk/percent_used": "NPD resolves it through lsblk",
    "system/os_feature": "GKE's guest OS inventory",
}
_KNOWN_KEYS = {*SECTIONS, "invokeInterval", "procPath"}


@dataclass(frozen=True)
class SystemStatsConfig:
    """One system-stats monitor: metric ID → exported display name, plus the net interface filter."""

    source: str
    metrics: dict[str, str] = field(default_factory=dict)
    invoke_interval: float = 60.0
    exclude_interfaces: re.Pattern[str] | None = None

    @property
    def not_exported(self) -> dict[str, str]:
        """Metric IDs this config asks for that the agent does not export, and why."""
        return {m: NOT_EXPORTED[m] for m in self.metrics if m in NOT_EXPORTED}


def is_system_stats(raw: Any) -> bool:
    """Whether a decoded config file is a system-stats monitor (it has sections, not a `plugin`)."""
    return isinstance(raw, dict) and "plugin" not in raw and bool(set(raw) & set(SECTIONS))


def parse_system_stats(raw: Any, where: str = "config") -> SystemStatsConfig:
    """Parse a system-stats config strictly; ConfigError with a field path when invalid."""
    if not isinstance(raw, dict):
        raise ConfigError(where, f"must be an object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown field (expected one of {sorted(_KNOWN_KEYS)})")
    metrics: dict[str, str] = {}
    exclude: re.Pattern[str] | None = None
    for section, ids in SECTIONS.items():
        sec = raw.get(section)
        if sec is None:
            continue
        p = f"{where}.{section}"
        if not isinstance(sec, dict):
            raise ConfigError(p, "must be an object")
        mc = sec.get("metricsConfigs") or {}
        if not isinstance(mc, dict):
            raise ConfigError(f"{p}.metricsConfigs", "must be an object")
        for mid, spec in mc.items():
            if mid not in ids:
                raise ConfigError(f"{p}.metricsConfigs[{mid}]", f"unknown metric for {section!r}: supported "
                                                                f"{list(ids)}")
            name = (spec or {}).get("displayName") if isinstance(spec, dict) else None
            if not isinstance(name, str):
                raise ConfigError(f"{p}.metricsConfigs[{mid}].displayName", "Required value")
            if name:  # NPD: an empty display name disables the metric
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_/]*", name):
                    raise ConfigError(f"{p}.metricsConfigs[{mid}].displayName",
                                      f"{name!r}: letters, digits, _ and / only")
                metrics[mid] = name
        if section == "disk":
            t = sec.get("lsblkTimeout")
            if t is not None:
                try:
                    if parse_duration(t) <= 0:
                        raise ValueError("must be above 0s")
                except ValueError as exc:
                    raise ConfigError(f"{p}.lsblkTimeout", str(exc)) from None
        if section == "net" and sec.get("excludeInterfaceRegexp"):
            try:
                exclude = compile_re2(str(sec["excludeInterfaceRegexp"]))
            except RE2Error as exc:
                raise ConfigError(f"{p}.excludeInterfaceRegexp", f"invalid regular expression: {exc}") from None
    interval = 60.0
    if raw.get("invokeInterval") is not None:
        try:
            interval = parse_duration(raw["invokeInterval"])
        except ValueError as exc:
            raise ConfigError(f"{where}.invokeInterval", str(exc)) from None
        if interval <= 0:
            raise ConfigError(f"{where}.invokeInterval", "must be above 0s")
    return SystemStatsConfig(source=where, metrics=metrics, invoke_interval=interval, exclude_interfaces=exclude)


def _prom(name: str) -> str:
    return name.replace("/", "_")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class StatsCollector:
    """The metrics of every loaded system-stats monitor, read at scrape time."""

    def __init__(self, configs: list[SystemStatsConfig], proc: Path = Path("/proc")) -> None:
        self.configs = configs
        self.proc = proc
        self.ticks = float(os.sysconf("SC_CLK_TCK"))
        self.kernel = platform.release()
        self.os_version = _os_version()

    def _wanted(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in self.configs:
            for mid, name in c.metrics.items():
                if mid not in NOT_EXPORTED:
                    out.setdefault(mid, name)
        return out

    def collect(self) -> Iterator[Family]:
        """Families for every exported metric of the loaded configs (each name once)."""
        want = self._wanted()
        if not want:
            return
        fams: dict[str, Family] = {}

        def fam(mid: str, typ: str, help_: str) -> Family | None:
            if mid not in want:
                return None
            name = _prom(want[mid])
            if name not in fams:
                fams[name] = Family(name, typ, help_)
            return fams[name]

        sections = {m.split("/")[0] for m in want} | {"cpu" if any(m.startswith("system/") for m in want) else ""}
        if "cpu" in sections:
            self._cpu(fam)
        if "memory" in sections:
            self._memory(fam)
        if "host" in sections and (f := fam("host/uptime", "gauge", "The uptime of the operating system")):
            up = _read(self.proc / "uptime").split()
            if up:
                f.add(int(float(up[0])), {"kernel_version": self.kernel, "os_version": self.os_version})
        if "net" in sections:
            self._net(fam)
        if "disk" in sections:
            self._disk(fam)
        yield from fams.values()

    def _cpu(self, fam: Any) -> None:
        load = parse_loadavg(_read(self.proc / "loadavg"))
        if load is not None:
            for mid, value in (("cpu/load_1m", load[0]), ("cpu/load_5m", load[1]), ("cpu/load_15m", load[2]),
                               ("cpu/runnable_task_count", load[0])):  # NPD records Load1 as the runnable count
                if f := fam(mid, "gauge", f"CPU {mid.split('/')[1]}"):
                    f.add(value)
        st = parse_stat(_read(self.proc / "stat"))
        total = [sum(v[i] for v in st.cpus.values() if len(v) > i) for i in range(10)]
        if f := fam("cpu/usage_time", "counter", "CPU usage, in seconds"):
            for i, state in enumerate(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
                                       "guest", "guest_nice")):
                f.add(total[i] / self.ticks, {"state": state})
        if f := fam("system/cpu_stat", "counter", "Cumulative time each cpu spent in each stage, in seconds"):
            for idx, ticks in sorted(st.cpus.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
                for i, stage in enumerate(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
                                           "guest", "guest_nice")):
                    if i < len(ticks):
                        f.add(ticks[i] / self.ticks, {"cpu": f"cpu{idx}", "stage": stage})
        for mid, value, typ in (("system/processes_total", st.forks, "counter"),
                                ("system/procs_running", st.procs_running, "gauge"),
                                ("system/procs_blocked", st.procs_blocked, "gauge"),
                                ("system/interrupts_total", st.interrupts, "counter")):
            if f := fam(mid, typ, mid.split("/")[1].replace("_", " ")):
                f.add(value)

    def _memory(self, fam: Any) -> None:
        mi = parse_meminfo(_read(self.proc / "meminfo"))

        def get(key: str) -> int:
            return mi.get(f"{key}_bytes", 0)

        if f := fam("memory/bytes_used", "gauge", "Memory bytes used, by state"):
            used = get("MemTotal") - get("MemFree") - get("Buffers") - get("Cached") - get("Slab")
            for state, value in (("free", get("MemFree")), ("buffered", get("Buffers")), ("cached", get("Cached")),
                                 ("slab", get("Slab")), ("used", used)):
                f.add(value, {"state": state})
        if (f := fam("memory/percent_used", "gauge", "Memory usage, in percent")) and get("MemTotal"):
            used = get("MemTotal") - get("MemFree") - get("Buffers") - get("Cached") - get("Slab")
            f.add(used / get("MemTotal") * 100.0, {"state": "used"})
        for mid, pairs in (("memory/dirty_used", (("dirty", "Dirty"), ("writeback", "Writeback"))),
                           ("memory/anonymous_used", (("active", "Active_anon"), ("inactive", "Inactive_anon"))),
                           ("memory/page_cache_used", (("active", "Active_file"), ("inactive", "Inactive_file")))):
            if f := fam(mid, "gauge", f"Memory {mid.split('/')[1].replace('_', ' ')}, in bytes"):
                for state, key in pairs:
                    f.add(get(key), {"state": state})
        if f := fam("memory/unevictable_used", "gauge", "Unevictable memory, in bytes"):
            f.add(get("Unevictable"))

    def _net(self, fam: Any) -> None:
        devs = parse_netdev(_read(self.proc / "net" / "dev"))
        exclude = [c.exclude_interfaces for c in self.configs if c.exclude_interfaces is not None]
        rx = ("bytes", "packets", "errors", "dropped", "fifo", "frame", "compressed", "multicast")
        tx = ("bytes", "packets", "errors", "dropped", "fifo", "collisions", "carrier", "compressed")
        for direction, names, idx in (("rx", rx, 0), ("tx", tx, 1)):
            for i, field_ in enumerate(names):
                if f := fam(f"net/{direction}_{field_}", "counter", f"Network {direction} {field_}"):
                    for dev in sorted(devs):
                        if not any(r.search(dev) for r in exclude):
                            f.add(devs[dev][idx][i], {"interface_name": dev})

    def _disk(self, fam: Any) -> None:
        disks = parse_diskstats_full(_read(self.proc / "diskstats"))
        io = fam("disk/io_time", "counter", "The IO time spent on the disk, in ms")
        weighted = fam("disk/weighted_io", "counter", "The weighted IO on the disk, in ms")
        ops = fam("disk/operation_count", "counter", "Disk operations")
        merged = fam("disk/merged_operation_count", "counter", "Disk merged operations")
        nbytes = fam("disk/operation_bytes_count", "counter", "Bytes transferred in disk operations")
        otime = fam("disk/operation_time", "counter", "Time spent in disk operations, in ms")
        for d in disks:
            dev = {"device_name": d["device"]}
            if io:
                io.add(d["io_time"], dev)
            if weighted:
                weighted.add(d["weighted_io"], dev)
            for direction in ("read", "write"):
                labels = {"device_name": d["device"], "direction": direction}
                if ops:
                    ops.add(d[f"{direction}s"], labels)
                if merged:
                    merged.add(d[f"{direction}s_merged"], labels)
                if nbytes:
                    nbytes.add(d[f"{direction}_sectors"] * 512, labels)
                if otime:
                    otime.add(d[f"{direction}_time"], labels)


def _os_version() -> str:
    text = _read(Path("/etc/os-release"))
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    name = fields.get("ID", "").strip('"')
    version = fields.get("VERSION_ID", "").strip('"')
    return f"{name} {version}".strip() or "unknown"
