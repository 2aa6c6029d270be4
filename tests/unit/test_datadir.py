"""The data directory: exclusive lock, private modes, startup errors in words that say what to do."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from kubenode.apiserver.datadir import DataDirBusy, DataDirLock, StartupError, secure, startup_error
from kubenode.apiserver.storage import storage_error


def test_second_lock_fails_naming_directory_and_holder(tmp_path: Path) -> None:
    first = DataDirLock.acquire(tmp_path / "d")
    try:
        with pytest.raises(DataDirBusy) as err:
            DataDirLock.acquire(tmp_path / "d")
        assert str(tmp_path / "d") in str(err.value)
        assert f"pid {os.getpid()}" in str(err.value)
    finally:
        first.release()
    again = DataDirLock.acquire(tmp_path / "d")
    again.release()
    again.release()  # idempotent


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_secure_corrects_modes_of_the_servers_files(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "apiserver").mkdir(parents=True)
    (d / "pki").mkdir()
    (d / "machines" / "m1").mkdir(parents=True)
    files = [d / "kubeconfig", d / "tokens.json", d / "apiserver" / "state.db", d / "apiserver" / "state.db-wal",
             d / "pki" / "ca.crt", d / "pki" / "ca.key"]
    for f in files:
        f.write_text("x")
        f.chmod(0o644)
    tool = d / "machines" / "m1" / "run"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    for sub in (d, d / "apiserver", d / "pki"):
        sub.chmod(0o755)
    secure(d)
    assert _mode(d) == 0o700
    assert _mode(d / "apiserver") == 0o700 and _mode(d / "pki") == 0o700
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert _mode(tool) == 0o755  # a machine's installed program keeps its mode; d's 0700 guards it


def _os(code: int) -> OSError:
    return OSError(code, os.strerror(code), "/x/apiserver/state.db")


def _sqlite(code: int, message: str) -> sqlite3.DatabaseError:
    err = sqlite3.DatabaseError(message)
    err.sqlite_errorcode = code  # type: ignore[attr-defined]
    return err


@pytest.mark.parametrize(("exc", "says"), [
    (_os(errno.EROFS), "read-only file system"),
    (_os(errno.EACCES), "no permission to write"),
    (_os(errno.ENOSPC), "is full"),
    (_sqlite(13, "database or disk is full"), "is full"),
    (_sqlite(26, "file is not a database"), "is corrupt"),
    (_sqlite(11, "database disk image is malformed"), "is corrupt"),
    (_sqlite(8, "attempt to write a readonly database"), "cannot be written"),
], ids=["erofs", "eacces", "enospc", "sqlite-full", "notadb", "malformed", "readonly"])
def test_startup_errors_name_their_cause(exc: BaseException, says: str) -> None:
    err = startup_error(exc, Path("/x"))
    assert isinstance(err, StartupError)
    assert says in str(err) and "/x" in str(err)
    assert "--port" not in str(err)


def test_an_io_error_with_space_left_is_not_called_full(tmp_path: Path) -> None:
    # A full tmpfs makes SQLite answer a mere I/O error; only then (no space left) is it "full"
    # (tests/e2e/test_data_dir.py proves that case on a real full tmpfs).
    (tmp_path / "apiserver").mkdir()
    err = startup_error(_sqlite(10, "disk I/O error"), tmp_path)
    assert "is full" not in str(err) and "disk I/O error" in str(err)
    failed = storage_error(_sqlite(10, "disk I/O error"), tmp_path / "apiserver" / "state.db")
    assert failed.code == 500 and "storage write failed" in failed.message
    assert storage_error(_sqlite(13, "database or disk is full")).code == 507
