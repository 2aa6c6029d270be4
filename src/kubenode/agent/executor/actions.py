"""What the agent may do for a remediation job, decided without side effects.

Nothing here takes a command from a custom resource. RunScript names a file;
the file must already sit directly inside the node's allowlisted directory
(ROOT/etc/kubenode/remedy.d in local mode, /etc/kubenode/remedy.d on hosts),
be a regular executable file, and is run without arguments. Reboot on a real
host is one fixed argv; `reboot` is the one way the agent reboots its node, for
a Reboot remediation and for a component's `disruption: Reboot` alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import sys
import uuid
from pathlib import Path

SCRIPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
REBOOT_ARGV = ("systemctl", "reboot")


def on_host(host_root: Path | None, argv: tuple[str, ...] | list[str]) -> list[str]:
    """`argv` run on the host: unchanged on a host, `chroot HOST_ROOT argv` for an agent in a pod.

    A DaemonSet agent sees the host's root filesystem at `--host-root`; chroot makes `systemctl` talk to the
    host's systemd over its own socket (`/run/systemd/private` of the host). Only the fixed argvs of this
    module and of the installer's systemd supervisor go through here, never a command from a resource.
    """
    return ["chroot", str(host_root), *argv] if host_root is not None else list(argv)
MAX_MESSAGE = 1024


class ActionRefused(ValueError):
    """The job asks for something this node will not do; the message says why."""


def remedy_dir(root: Path | None) -> Path:
    """The allowlisted script directory of this node."""
    return (root / "etc" / "kubenode" / "remedy.d") if root is not None else Path("/etc/kubenode/remedy.d")


def resolve_script(name: str, directory: Path) -> Path:
    """The script `name` inside `directory`; ActionRefused unless it is a safe, executable, regular file there."""
    if not name or len(name) > 253 or not SCRIPT_NAME.match(name) or name in (".", ".."):
        raise ActionRefused(f"script name {name!r} is not allowed (letters, digits, '.', '_', '-'; no paths)")
    path = directory / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ActionRefused(f"script {name!r} is not installed in {directory}") from None
    if stat.S_ISLNK(st.st_mode):
        raise ActionRefused(f"script {name!r} is a symbolic link; only regular files are run")
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.X_OK):
        raise ActionRefused(f"script {name!r} is not an executable regular file")
    if path.resolve().parent != directory.resolve():
        raise ActionRefused(f"script {name!r} resolves outside {directory}")
    return path


def boot_id(root: Path | None) -> str:
    """This boot's ID (local mode: ROOT/run/boot_id, renewed by a simulated reboot)."""
    for p in ([root / "run" / "boot_id"] if root else []) + [Path("/proc/sys/kernel/random/boot_id")]:
        with contextlib.suppress(OSError):
            text = p.read_text().strip()
            if text:
                return text
    return "unknown"


class RebootFailed(RuntimeError):
    """The reboot command failed; the message says how."""


async def reboot(root: Path | None, host_root: Path | None = None) -> None:
    """Reboot this node: a new boot ID and a fresh agent process (local mode), or `systemctl reboot`.

    Local mode re-executes the agent with its original command line (same PID, so
    the provider still recognises its process); nothing after the call runs. On a
    host the machine goes down; if it does not within ten minutes, the caller's
    deadline (the job's timeout, the rollout's progress deadline) reports it.
    """
    if root is not None and host_root is None:
        (root / "run" / "boot_id").write_text(str(uuid.uuid4()) + "\n")
        logging.shutdown()
        os.execv(sys.executable, sys.orig_argv)
    argv = on_host(host_root, REBOOT_ARGV)  # a DaemonSet agent reboots the host, not its container
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
    await proc.wait()
    if proc.returncode != 0:
        raise RebootFailed(f"{' '.join(argv)} exited {proc.returncode}")
    await asyncio.sleep(600)


def trim(text: str) -> str:
    """A status message of bounded size."""
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
