"""Packaging the demo exporter into versioned, checksummed archives — at runtime, reproducibly.

`kubenode up` needs real artifacts to show a rollout: 1.0.0, 1.1.0 and a
1.2.0 whose health check fails. They are built from :mod:`.exporter` and
:mod:`.healthcheck_script` into ``DATA/artifacts/node-exporter-<v>.tar.gz``
with fixed timestamps, owners and gzip header, so the same host always
produces the same sha256 (printed commands and manifests stay valid across
restarts). The scripts' ``#!`` line names this Python interpreter: the demo
runs on the machine that built it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from . import exporter, healthcheck_script

__all__ = ["COMPONENT", "VERSIONS", "Artifact", "build_all", "build_archive"]

COMPONENT = "node-exporter"
#: Demo versions and whether their health check passes.
VERSIONS: dict[str, bool] = {"1.0.0": True, "1.1.0": True, "1.2.0": False}
_MTIME = 1_700_000_000  # fixed, for reproducible archives


@dataclass(frozen=True)
class Artifact:
    """One built archive."""

    version: str
    path: Path
    sha256: str
    healthy: bool

    @property
    def filename(self) -> str:
        """The archive's file name."""
        return self.path.name


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _script(module_file: str, python: str) -> bytes:
    source = Path(module_file).read_text()
    return f"#!{python} -I\n".encode() + source.encode()


def build_archive(dest_dir: Path, version: str, healthy: bool, python: str = sys.executable) -> Artifact:
    """Build ``node-exporter-<version>.tar.gz`` in ``dest_dir`` (atomically); returns it with its sha256."""
    build = json.dumps({"version": version, "healthy": healthy}, sort_keys=True).encode() + b"\n"
    readme = (f"KubeNode demo node exporter {version}\n"
              "bin/node-exporter serves /metrics and /healthz on $KUBENODE_COMPONENT_PORT.\n"
              "bin/check is its health check.\n").encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "bin", None, 0o755)
        _add(tar, "bin/node-exporter", _script(exporter.__file__, python), 0o755)
        _add(tar, "bin/check", _script(healthcheck_script.__file__, python), 0o755)
        _add(tar, "share", None, 0o755)
        _add(tar, "share/build.json", build, 0o644)
        _add(tar, "README", readme, 0o644)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    data = packed.getvalue()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{COMPONENT}-{version}.tar.gz"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return Artifact(version, path, hashlib.sha256(data).hexdigest(), healthy)


def build_all(dest_dir: Path, python: str = sys.executable) -> list[Artifact]:
    """Build every demo version."""
    return [build_archive(dest_dir, v, ok, python) for v, ok in VERSIONS.items()]
