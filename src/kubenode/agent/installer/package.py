"""The package driver: apt or yum ``name=version`` on real hosts, as fixed argv templates.

Package names and versions come from a custom resource, so they are checked
against strict patterns (the schema's, repeated here because the agent must
not trust that the server validated them) and placed as single argv
elements into fixed command templates. No shell ever sees them, and a value
cannot become an option (both patterns forbid a leading ``-``).

Local machines have no package manager of their own: a package source there
is reported as Failed with a message saying so.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass

__all__ = ["PackageError", "PackageManager", "detect_manager", "install_argv", "installed_version_argv",
           "run_argv"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9.*+~:_-]*$")

PackageManager = str  # "apt" | "yum" | "dnf"
MANAGERS = ("apt", "yum", "dnf")


class PackageError(Exception):
    """A package could not be installed (bad value, no package manager, or the manager failed)."""

    reason = "PackageInstallFailed"


def _check(name: str, version: str | None) -> None:
    if len(name) > 253 or not _NAME.match(name):
        raise PackageError(f"spec.source.package.name: invalid package name {name!r} (must match {_NAME.pattern})")
    if version is not None and (len(version) > 128 or not _VERSION.match(version)):
        raise PackageError(f"spec.source.package.version: invalid package version {version!r} "
                           f"(must match {_VERSION.pattern})")


def install_argv(manager: PackageManager, name: str, version: str | None) -> list[str]:
    """The argv that installs ``name`` (at ``version``, globs allowed) with ``manager``."""
    _check(name, version)
    if manager == "apt":
        spec = f"{name}={version}" if version else name
        return ["apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades",
                "-o", "Dpkg::Options::=--force-confold", spec]
    if manager in ("yum", "dnf"):
        spec = f"{name}-{version}" if version else name
        return [manager, "install", "-y", spec]
    raise PackageError(f"unknown package manager {manager!r} (apt, yum or dnf)")


def installed_version_argv(manager: PackageManager, name: str) -> list[str]:
    """The argv that prints the installed version of ``name``."""
    _check(name, None)
    if manager == "apt":
        return ["dpkg-query", "--show", "--showformat=${Version}", name]
    if manager in ("yum", "dnf"):
        return ["rpm", "--query", "--queryformat", "%{VERSION}-%{RELEASE}", name]
    raise PackageError(f"unknown package manager {manager!r} (apt, yum or dnf)")


def detect_manager() -> PackageManager | None:
    """The host's package manager, if any."""
    for manager, binary in (("apt", "apt-get"), ("dnf", "dnf"), ("yum", "yum")):
        if shutil.which(binary):
            return manager
    return None


@dataclass(frozen=True)
class CommandResult:
    """Exit code and (trimmed) output of one package-manager command."""

    returncode: int
    output: str


async def run_argv(argv: list[str], time_limit: float = 900.0) -> CommandResult:
    """Run ``argv`` without a shell (non-interactive); output is trimmed to its last 4 KiB."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return CommandResult(-1, f"{argv[0]} timed out after {time_limit:g}s")
    return CommandResult(proc.returncode if proc.returncode is not None else -1,
                         out.decode(errors="replace")[-4096:])


async def install_package(name: str, version: str | None, manager: PackageManager | None = None) -> str:
    """Install the package on this host; returns the installed version."""
    manager = manager or detect_manager()
    if manager is None:
        raise PackageError("no package manager (apt-get, dnf or yum) on this host")
    result = await run_argv(install_argv(manager, name, version))
    if result.returncode != 0:
        raise PackageError(f"{' '.join(install_argv(manager, name, version))} failed ({result.returncode}): "
                           f"{result.output.strip()[-500:]}")
    query = await run_argv(installed_version_argv(manager, name), time_limit=60)
    return query.output.strip() if query.returncode == 0 else (version or "")
