"""Node metrics under node-exporter's names and labels, read straight from /proc.

Dashboards, recording rules and alerts written for node-exporter work
unchanged on these series: `node_cpu_seconds_total{cpu,mode}`,
`node_memory_<Field>_bytes` (every /proc/meminfo field, named as
node-exporter names it: `Active(anon)` → `Active_anon`; fields without a
unit such as `HugePages_Total` carry no `_bytes`),
`node_filesystem_{size,free,avail}_bytes{device,fstype,mountpoint}`,
`node_disk_{read,written}_bytes_total{device}`,
`node_network_{receive,transmit}_bytes_total{device}`, `node_load1/5/15`,
`node_pressure_*` (PSI), `node_vmstat_oom_kill`, `node_boot_time_seconds`.

Only what node-exporter's default collectors export for these files is
covered, with its default exclusions (pseudo filesystems, partitions and
loop/ram disks). One deliberate difference: network filesystems (nfs, cifs,
…) are skipped, because a `statvfs` on a hung NFS mount blocks, and a scrape
must never block the agent.

The proc directory is the host's: `/proc`, or `HOST_ROOT/proc` for an agent
in a pod. A local machine (`DATA/machines/M`) is a directory, not a host,
so a local agent reports the host it runs on — its metrics say so in
`kubenode_agent_info{mode="local"}`.

Every parser is a pure function of the file's text, so the tests feed them
real samples; `NodeCollector.collect` only reads files. Numbers that are
integers in the kernel's files stay integers (exact, never `%g`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exposition import Family

__all__ = ["NodeCollector", "parse_diskstats", "parse_diskstats_full", "parse_loadavg", "parse_meminfo",
           "parse_mounts", "parse_netdev", "parse_pressure", "parse_stat", "parse_vmstat"]

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# node-exporter's defaults (collector/filesystem_linux.go, diskstats_linux.go, vmstat_linux.go).
FS_TYPES_EXCLUDE = re.compile(
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|"
    r"overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs"
    # ours: network filesystems can hang statvfs (see the module docstring)
    r"|nfs|nfs4|cifs|smb3|smbfs|ceph|glusterfs|fuse\.sshfs|9p)$")
MOUNT_POINTS_EXCLUDE = re.compile(r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|"
                                  r"var/lib/containers/storage/.+)($|/)")
DISK_EXCLUDE = re.compile(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
VMSTAT_FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")
SECTOR_BYTES = 512
PSI_RESOURCES = ("cpu", "memory", "io", "irq")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# --------------------------------------------------------------------------- parsers (pure)


def parse_meminfo(text: str) -> dict[str, int]:
    """`/proc/meminfo` as node-exporter names it: metric suffix → value (bytes for kB fields)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].endswith(":"):
            continue
        key = parts[0][:-1].replace("(", "_").replace(")", "")
        try:
            value = int(parts[1])
        except ValueError:
            continue
        if len(parts) == 3 and parts[2] == "kB":
            out[f"{key}_bytes"] = value * 1024
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class CpuStat:
    """What node-exporter reads from /proc/stat."""

    cpus: dict[str, tuple[int, ...]]  # cpu index → ticks per field (user nice system idle iowait irq softirq steal
    #                                    guest guest_nice)
    boot_time: int = 0
    context_switches: int = 0
    interrupts: int = 0
    forks: int = 0
    procs_running: int = 0
    procs_blocked: int = 0


def parse_stat(text: str) -> CpuStat:
    """`/proc/stat`: per-CPU ticks, btime, ctxt, intr, processes, procs_running/blocked."""
    cpus: dict[str, tuple[int, ...]] = {}
    scalars: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        head = parts[0]
        try:
            if head.startswith("cpu") and head != "cpu":
                cpus[head[3:]] = tuple(int(p) for p in parts[1:])
            elif head in ("btime", "ctxt", "intr", "processes", "procs_running", "procs_blocked") and len(parts) > 1:
                scalars[head] = int(parts[1])
        except ValueError:
            continue
    return CpuStat(cpus=cpus, boot_time=scalars.get("btime", 0), context_switches=scalars.get("ctxt", 0),
                   interrupts=scalars.get("intr", 0), forks=scalars.get("processes", 0),
                   procs_running=scalars.get("procs_running", 0), procs_blocked=scalars.get("procs_blocked", 0))


def parse_loadavg(text: str) -> tuple[float, float, float] | None:
    """`/proc/loadavg`: the 1, 5 and 15 minute load averages."""
    parts = text.split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return None


def parse_pressure(text: str) -> dict[str, int]:
    """One `/proc/pressure/<resource>` file: `some`/`full` → total stall time in microseconds."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] not in ("some", "full"):
            continue
        for p in parts[1:]:
            if p.startswith("total="):
                try:
                    out[parts[0]] = int(p[6:])
                except ValueError:
                    pass
    return out


def parse_vmstat(text: str) -> dict[str, int]:
    """`/proc/vmstat`, the fields node-exporter exports by default (oom_kill, pgpg*, pswp*, pg*fault)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and VMSTAT_FIELDS.match(parts[0]):
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


@dataclass(frozen=True)
class DiskStat:
    """One block device's counters (/proc/diskstats)."""

    device: str
    reads: int
    sectors_read: int
    writes: int
    sectors_written: int
    io_time_ms: int


def parse_diskstats(text: str) -> list[DiskStat]:
    """`/proc/diskstats`, whole disks only (node-exporter's default device exclusion)."""
    out: list[DiskStat] = []
    for line in text.splitlines():
        p = line.split()
        if len(p) < 14 or DISK_EXCLUDE.match(p[2]):
            continue
        try:
            out.append(DiskStat(p[2], int(p[3]), int(p[5]), int(p[7]), int(p[9]), int(p[12])))
        except ValueError:
            continue
    return out


def parse_diskstats_full(text: str) -> list[dict[str, Any]]:
    """`/proc/diskstats` with every counter NPD's disk metrics use, whole disks only."""
    keys = ("reads", "reads_merged", "read_sectors", "read_time", "writes", "writes_merged", "write_sectors",
            "write_time", "in_progress", "io_time", "weighted_io")
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        p = line.split()
        if len(p) < 14 or DISK_EXCLUDE.match(p[2]):
            continue
        try:
            values = [int(v) for v in p[3:14]]
        except ValueError:
            continue
        out.append({"device": p[2], **dict(zip(keys, values, strict=True))})
    return out


NETDEV_FIELDS = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
NETDEV_TX_FIELDS = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")


def parse_netdev(text: str) -> dict[str, tuple[list[int], list[int]]]:
    """`/proc/net/dev`: device → (receive counters, transmit counters)."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        name, _, rest = line.partition(":")
        values = rest.split()
        if len(values) < 16:
            continue
        try:
            nums = [int(v) for v in values[:16]]
        except ValueError:
            continue
        out[name.strip()] = (nums[:8], nums[8:16])
    return out


@dataclass(frozen=True)
class Mount:
    """One line of a mounts file."""

    device: str
    mountpoint: str
    fstype: str
    readonly: bool


def _unescape_mount(field: str) -> str:
    # The kernel escapes space, tab, newline and backslash as \ooo octal in /proc/mounts.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    """`/proc/1/mounts`: the mounts node-exporter reports (pseudo filesystems excluded), first of each point."""
    out: list[Mount] = []
    seen: set[str] = set()
    for line in text.splitlines():
        p = line.split()
        if len(p) < 4:
            continue
        device, point, fstype = _unescape_mount(p[0]), _unescape_mount(p[1]), p[2]
        if FS_TYPES_EXCLUDE.match(fstype) or MOUNT_POINTS_EXCLUDE.match(point) or point in seen:
            continue
        seen.add(point)
        out.append(Mount(device, point, fstype, "ro" in p[3].split(",")))
    return out


# --------------------------------------------------------------------------- the collector


class NodeCollector:
    """Reads the host's /proc on every scrape and yields node-exporter families."""

    def __init__(self, proc: Path = Path("/proc"), host_root: Path = Path("/")) -> None:
        self.proc = proc
        self.host_root = host_root
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def collect(self) -> Iterator[Family]:
        """All node families, in a stable order."""
        yield from self._cpu_and_stat()
        yield from self._memory()
        yield from self._load()
        yield from self._pressure()
        yield from self._vmstat()
        yield from self._disks()
        yield from self._network()
        yield from self._filesystems()
        now = Family("node_time_seconds", "gauge", "System time in seconds since epoch (1970).")
        now.add(time.time())
        yield now

    def _cpu_and_stat(self) -> Iterator[Family]:
        st = parse_stat(_read(self.proc / "stat"))
        cpu = Family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
        guest = Family("node_cpu_guest_seconds_total", "counter",
                       "Seconds the CPUs spent in guests (VMs) for each mode.")
        for idx, ticks in sorted(st.cpus.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
            for mode, value in zip(CPU_MODES, ticks, strict=False):
                cpu.add(value / self.ticks, {"cpu": idx, "mode": mode})
            if len(ticks) >= 10:
                guest.add(ticks[8] / self.ticks, {"cpu": idx, "mode": "user"})
                guest.add(ticks[9] / self.ticks, {"cpu": idx, "mode": "nice"})
        yield cpu
        yield guest
        for name, typ, help_, value in (
            ("node_boot_time_seconds", "gauge", "Node boot time, in unixtime.", st.boot_time),
            ("node_context_switches_total", "counter", "Total number of context switches.", st.context_switches),
            ("node_intr_total", "counter", "Total number of interrupts serviced.", st.interrupts),
            ("node_forks_total", "counter", "Total number of forks.", st.forks),
            ("node_procs_running", "gauge", "Number of processes in runnable state.", st.procs_running),
            ("node_procs_blocked", "gauge", "Number of processes blocked waiting for I/O to complete.",
             st.procs_blocked),
        ):
            f = Family(name, typ, help_)
            f.add(value)
            yield f

    def _memory(self) -> Iterator[Family]:
        for suffix, value in parse_meminfo(_read(self.proc / "meminfo")).items():
            field = suffix.removesuffix("_bytes")
            f = Family(f"node_memory_{suffix}", "gauge", f"Memory information field {field}.")
            f.add(value)
            yield f

    def _load(self) -> Iterator[Family]:
        load = parse_loadavg(_read(self.proc / "loadavg"))
        if load is None:
            return
        for minutes, value in zip((1, 5, 15), load, strict=True):
            f = Family(f"node_load{minutes}", "gauge", f"{minutes}m load average.")
            f.add(value)
            yield f

    def _pressure(self) -> Iterator[Family]:
        names = {("cpu", "some"): ("waiting", "processes"), ("cpu", "full"): ("stalled", "non-idle processes"),
                 ("memory", "some"): ("waiting", "processes"), ("memory", "full"): ("stalled", "no process"),
                 ("io", "some"): ("waiting", "processes"), ("io", "full"): ("stalled", "no process"),
                 ("irq", "full"): ("stalled", "no process")}
        for resource in PSI_RESOURCES:
            totals = parse_pressure(_read(self.proc / "pressure" / resource))
            for kind in ("some", "full"):
                if kind not in totals or (resource, kind) not in names:
                    continue
                verb, who = names[(resource, kind)]
                f = Family(f"node_pressure_{resource}_{verb}_seconds_total", "counter",
                           f"Total time in seconds that {who} have {'waited' if verb == 'waiting' else 'stalled'}"
                           f" for {resource} (PSI '{kind}').")
                f.add(totals[kind] / 1e6)
                yield f

    def _vmstat(self) -> Iterator[Family]:
        for key, value in parse_vmstat(_read(self.proc / "vmstat")).items():
            f = Family(f"node_vmstat_{key}", "untyped", f"/proc/vmstat information field {key}.")
            f.add(value)
            yield f

    def _disks(self) -> Iterator[Family]:
        disks = parse_diskstats(_read(self.proc / "diskstats"))
        fams = [
            (Family("node_disk_reads_completed_total", "counter", "The total number of reads completed "
                                                                   "successfully."), lambda d: d.reads),
            (Family("node_disk_read_bytes_total", "counter", "The total number of bytes read successfully."),
             lambda d: d.sectors_read * SECTOR_BYTES),
            (Family("node_disk_writes_completed_total", "counter", "The total number of writes completed "
                                                                    "successfully."), lambda d: d.writes),
            (Family("node_disk_written_bytes_total", "counter", "The total number of bytes written "
                                                                 "successfully."),
             lambda d: d.sectors_written * SECTOR_BYTES),
            (Family("node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os."),
             lambda d: d.io_time_ms / 1000),
        ]
        for fam, value in fams:
            for d in disks:
                fam.add(value(d), {"device": d.device})
            yield fam

    def _network(self) -> Iterator[Family]:
        devs = parse_netdev(_read(self.proc / "net" / "dev"))
        for direction, names, idx in (("receive", NETDEV_FIELDS, 0), ("transmit", NETDEV_TX_FIELDS, 1)):
            for i, field in enumerate(names):
                f = Family(f"node_network_{direction}_{field}_total", "counter",
                           f"Network device statistic {direction}_{field}.")
                for dev in sorted(devs):
                    f.add(devs[dev][idx][i], {"device": dev})
                yield f

    def _filesystems(self) -> Iterator[Family]:
        mounts_text = _read(self.proc / "1" / "mounts") or _read(self.proc / "self" / "mounts")
        size = Family("node_filesystem_size_bytes", "gauge", "Filesystem size in bytes.")
        free = Family("node_filesystem_free_bytes", "gauge", "Filesystem free space in bytes.")
        avail = Family("node_filesystem_avail_bytes", "gauge",
                       "Filesystem space available to non-root users in bytes.")
        files = Family("node_filesystem_files", "gauge", "Filesystem total file nodes.")
        files_free = Family("node_filesystem_files_free", "gauge", "Filesystem total free file nodes.")
        readonly = Family("node_filesystem_readonly", "gauge", "Filesystem read-only status.")
        for m in parse_mounts(mounts_text):
            try:
                st = os.statvfs(self.host_root / m.mountpoint.lstrip("/"))
            except OSError:
                continue
            labels = {"device": m.device, "fstype": m.fstype, "mountpoint": m.mountpoint}
            size.add(st.f_blocks * st.f_frsize, labels)
            free.add(st.f_bfree * st.f_frsize, labels)
            avail.add(st.f_bavail * st.f_frsize, labels)
            files.add(st.f_files, labels)
            files_free.add(st.f_ffree, labels)
            readonly.add(1 if m.readonly else 0, labels)
        yield from (size, free, avail, files, files_free, readonly)
