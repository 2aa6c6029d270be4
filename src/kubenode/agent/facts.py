"""What the agent knows about its host: capacity, identity, addresses, GPUs.

In local mode several "machines" share one real host, so the boot ID comes
from the machine's root (ROOT/run/boot_id, renewed by a simulated reboot)
rather than from the kernel; everything else is the real host's.
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

AGENT_VERSION = "0.1.0"
KUBELET_VERSION = "v1.32.0-kubenode"

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


@dataclass(frozen=True)
class HostFacts:
    """Static facts reported in Node.status."""

    hostname: str
    arch: str
    os: str
    kernel: str
    os_image: str
    boot_id: str
    machine_id: str
    cpus: int
    memory_bytes: int
    gpus: int = 0
    gpu_vendor: str = ""
    addresses: list[dict[str, str]] = field(default_factory=list)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read(Path("/etc/os-release")).splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return f"{platform.system()} {platform.release()}"


def detect_gpus() -> tuple[int, str]:
    """Count NVIDIA GPUs (device nodes, or nvidia-smi when present); (0, "") when none."""
    devices = [d for d in glob.glob("/dev/nvidia[0-9]*") if os.path.basename(d)[6:].isdigit()]
    if devices:
        return len(devices), "nvidia"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return 0, ""
        n = sum(1 for line in out.splitlines() if line.startswith("GPU "))
        if n:
            return n, "nvidia"
    return 0, ""


def internal_address() -> str:
    """The host's address as its Node reports it (InternalIP), or "" when it cannot be resolved."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return ""


def gather(root: Path | None, hostname: str) -> HostFacts:
    """Collect the facts; `root` is the machine root in local mode (None on a real host)."""
    boot_id = _read(root / "run" / "boot_id") if root else ""
    if not boot_id:
        boot_id = _read(Path("/proc/sys/kernel/random/boot_id"))
    machine_id = _read(root / "machine-uid") if root else ""
    machine_id = machine_id.replace("-", "") or _read(Path("/etc/machine-id"))
    gpus, vendor = detect_gpus()
    addresses = [{"type": "Hostname", "address": hostname}]
    if root is not None:
        addresses.insert(0, {"type": "InternalIP", "address": "127.0.0.1"})
    else:
        try:
            addresses.insert(0, {"type": "InternalIP", "address": socket.gethostbyname(socket.gethostname())})
        except OSError:
            pass
    return HostFacts(
        hostname=hostname,
        arch=_ARCH.get(platform.machine().lower(), platform.machine().lower()),
        os=platform.system().lower(),
        kernel=platform.release(),
        os_image=_os_image(),
        boot_id=boot_id,
        machine_id=machine_id,
        cpus=psutil.cpu_count() or 1,
        memory_bytes=psutil.virtual_memory().total,
        gpus=gpus,
        gpu_vendor=vendor,
        addresses=addresses,
    )
