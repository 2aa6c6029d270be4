"""One server per data directory, private files, and startup errors that name their real cause.

Real `kubenode` processes; the file-system faults use real tmpfs mounts (skipped where mounting is not
permitted) and the "another user" is `nobody` through `setpriv`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubenode.apiserver.server import free_port

from .conftest import Cluster
from .tmpfs import tmpfs

pytestmark = pytest.mark.e2e

START = [sys.executable, "-m", "kubenode.cli.main"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*START, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def world_root() -> Iterator[Path]:
    """A directory other users can traverse (pytest's tmp dirs are 0700), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="kubenode-e2e-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_second_server_on_one_data_dir_exits_at_once_and_touches_nothing(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    cluster.start()
    try:
        assert cluster.proc is not None
        kubeconfig = cluster.kubeconfig.read_bytes()
        for cmd in (["apiserver"], ["up", "--machines", "0"]):
            p = _run(*cmd, "--data-dir", str(cluster.data_dir), "--port", str(free_port()))
            assert p.returncode != 0, p
            assert str(cluster.data_dir) in p.stderr and f"pid {cluster.proc.pid}" in p.stderr, p
            assert "Traceback" not in p.stderr and "--port" not in p.stderr, p
        assert cluster.kubeconfig.read_bytes() == kubeconfig
        assert cluster.proc.poll() is None
        cluster.kubectl("create", "configmap", "still-here")
        assert cluster.kubectl("get", "configmap", "still-here", "-o", "name").stdout.strip() == "configmap/still-here"
    finally:
        cluster.stop()
    # Once the first has stopped, the directory is free again (no stale lock, even after SIGKILL).
    cluster.start()
    assert cluster.proc is not None
    cluster.stop(sig=9)
    cluster.start()
    cluster.stop()


def _modes(data: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(data.stat().st_mode)}
    for sub in ("", "apiserver", "pki"):
        for p in (data / sub).iterdir():
            if p.is_dir() and sub == "":
                continue
            out[str(p.relative_to(data))] = stat.S_IMODE(p.stat().st_mode)
    for sub in ("apiserver", "pki"):
        out[sub] = stat.S_IMODE((data / sub).stat().st_mode)
    return out


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to act as another user")
    return subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=30, check=False)


def test_data_dir_is_private_and_corrected_at_start(world_root: Path) -> None:
    cluster = Cluster(world_root)
    cluster.start()
    try:
        cluster.kubectl("create", "configmap", "c", "--from-literal=k=v")  # WAL and SHM exist now
        modes = _modes(cluster.data_dir)
        for f in ("kubeconfig", "tokens.json", "server.lock", "apiserver/state.db", "apiserver/state.db-wal",
                  "apiserver/state.db-shm", "pki/ca.key", "pki/ca.crt", "pki/admin.token"):
            assert modes.get(f) == 0o600, (f, oct(modes.get(f, 0)), modes)
        assert {k: v for k, v in modes.items() if k in (".", "apiserver", "pki")} == {
            ".": 0o700, "apiserver": 0o700, "pki": 0o700}
        assert all(m == 0o600 for k, m in modes.items() if k not in (".", "apiserver", "pki")), modes
        control = world_root / "readable-by-all"
        control.write_text("x")
        control.chmod(0o644)
        assert _as_nobody("cat", str(control)).returncode == 0  # nobody can reach this place at all
        for f in ("kubeconfig", "pki/admin.token", "apiserver/state.db", "apiserver/state.db-wal"):
            r = _as_nobody("cat", str(cluster.data_dir / f))
            assert r.returncode != 0 and "Permission denied" in r.stderr, (f, r)
    finally:
        cluster.stop()
    # Loosened modes (an older version, a careless chmod) are corrected at the next start.
    cluster.data_dir.chmod(0o755)
    for p in [cluster.data_dir / "apiserver", cluster.data_dir / "pki"]:
        p.chmod(0o755)
        for f in p.iterdir():
            f.chmod(0o644)
    (cluster.data_dir / "kubeconfig").chmod(0o644)
    cluster.start()
    try:
        modes = _modes(cluster.data_dir)
        assert modes["."] == 0o700 and modes["apiserver"] == 0o700 and modes["pki"] == 0o700, modes
        assert all(m == 0o600 for k, m in modes.items() if k not in (".", "apiserver", "pki")), modes
    finally:
        cluster.stop()


def test_a_corrupt_database_is_named_not_a_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "apiserver").mkdir(parents=True)
    (data / "apiserver" / "state.db").write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    p = _run("apiserver", "--data-dir", str(data), "--port", str(free_port()))
    assert p.returncode != 0
    assert "is corrupt" in p.stderr and "state.db" in p.stderr and "--port" not in p.stderr, p
    assert "Traceback" not in p.stderr, p


def test_a_read_only_data_dir_is_named(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        p = _run("apiserver", "--data-dir", str(ro / "data"), "--port", str(free_port()))
        assert p.returncode != 0
        assert "read-only" in p.stderr and "--port" not in p.stderr and "Traceback" not in p.stderr, p


def _fill(path: Path) -> None:
    """Write `path` until its file system is full."""
    with path.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def test_a_full_disk_is_named_not_a_port(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "size=2m") as fs:
        # A data directory that served once, then its file system filled up while it was stopped. Whether
        # merely opening the database needs space depends on what the last run left in its WAL: the start
        # proves the disk takes a write, so it refuses every time, not one time in three.
        p = subprocess.Popen([*START, "apiserver", "--data-dir", str(fs / "data"), "--port", str(free_port())],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL)
        try:
            assert p.stdout is not None
            for line in p.stdout:
                if line.startswith("kubeconfig:"):
                    break
        finally:
            p.terminate()
            p.wait(60)
        _fill(fs / "filler")
        (fs / "data" / "kubeconfig").unlink()  # room for a new kubeconfig: the start gets as far as it can
        for _ in range(3):
            again = _run("apiserver", "--data-dir", str(fs / "data"), "--port", str(free_port()))
            assert again.returncode != 0, again
            assert "is full" in again.stderr and "--port" not in again.stderr, again
            assert "Traceback" not in again.stderr, again
        # A first start on a full file system says the same.
        fresh = _run("apiserver", "--data-dir", str(fs / "fresh"), "--port", str(free_port()))
        assert fresh.returncode != 0
        assert "is full" in fresh.stderr and "--port" not in fresh.stderr and "Traceback" not in fresh.stderr, fresh
