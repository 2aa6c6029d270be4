"""Our default kernel monitor, in node-problem-detector's config format.

Written from NPD's documented kernel-monitor.json. One deliberate
difference (DESIGN.md, "Default kernel rules"): any hung task — not only
docker's or umount.aufs's — sets the permanent condition KernelDeadlock=True
with reason TaskHung, because a task blocked in the kernel for minutes marks
the whole node as hung. NPD's narrower DockerHung and AUFSUmountHung rules
are therefore subsumed and left out. The temporary TaskHung Event stays, so
every occurrence is still visible on the Node.

It is a Python constant rather than a JSON file so that it ships with the
code; `kubenode agent` uses it when no kernel monitor config is present in
the node's detector config directory.
"""

from __future__ import annotations

from typing import Any, Final

HUNG_TASK = r"task [\S ]+:\w+ blocked for more than \w+ seconds\."

KERNEL_MONITOR: Final[dict[str, Any]] = {
    "plugin": "kmsg",
    "logPath": "/dev/kmsg",
    "lookback": "5m",
    "bufferSize": 10,
    "source": "kernel-monitor",
    "maxLinesPerSecond": 1000,
    "conditions": [
        {"type": "KernelDeadlock", "reason": "KernelHasNoDeadlock", "message": "kernel has no deadlock"},
        {"type": "ReadonlyFilesystem", "reason": "FilesystemIsNotReadOnly", "message": "Filesystem is not read-only"},
    ],
    "rules": [
        {"type": "temporary", "reason": "OOMKilling",
         "pattern": r"Killed process \d+ (.+) total-vm:\d+kB, anon-rss:\d+kB, file-rss:\d+kB.*"},
        {"type": "temporary", "reason": "TaskHung", "pattern": HUNG_TASK},
        {"type": "temporary", "reason": "UnregisterNetDevice",
         "pattern": r"unregister_netdevice: waiting for \w+ to become free. Usage count = \d+"},
        {"type": "temporary", "reason": "KernelOops",
         "pattern": r"BUG: unable to handle kernel NULL pointer dereference at .*"},
        {"type": "temporary", "reason": "KernelOops", "pattern": r"divide error: 0000 \[#\d+\] SMP"},
        {"type": "temporary", "reason": "Ext4Error", "pattern": r"EXT4-fs error .*"},
        {"type": "temporary", "reason": "Ext4Warning", "pattern": r"EXT4-fs warning .*"},
        {"type": "temporary", "reason": "IOError", "pattern": r"Buffer I/O error .*"},
        {"type": "temporary", "reason": "MemoryReadError", "pattern": r"CE memory read error .*"},
        {"type": "permanent", "condition": "KernelDeadlock", "reason": "TaskHung", "pattern": HUNG_TASK},
        {"type": "permanent", "condition": "ReadonlyFilesystem", "reason": "FilesystemIsReadOnly",
         "pattern": r"Remounting filesystem read-only"},
    ],
}
