"""The data directory: one server at a time, private to its owner, and startup errors that name their cause.

- `DataDirLock`: an exclusive `flock` on `DIR/server.lock`, held for the server's life. A second
  `kubenode apiserver` or `kubenode up` on the same directory fails at once, before it writes anything,
  naming the directory and the process that holds it (the pid is written into the lock file). The kernel
  drops the lock when the process dies, even by SIGKILL, so a crash never leaves a stale lock behind.
- `secure`: the directory is 0700 and the server's own files in it (database, WAL, SHM, keys, certificates,
  tokens, kubeconfigs) 0600, created so and corrected at every start: the tokens in them are credentials.
- `StartupError`: what went wrong at start, in words that say what to do (read-only directory, disk full,
  corrupt database, another server, a port in use), for the CLI to print instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import stat
from pathlib import Path

from .storage import file_system_full

LOCK_NAME = "server.lock"
#: Sub-directories holding the server's own files; others (machines' roots) keep their modes, the 0700
#: directory above them already keeps other users out.
PRIVATE_DIRS = ("apiserver", "pki")
DIR_MODE, FILE_MODE = 0o700, 0o600


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


class DataDirBusy(StartupError):
    """Another server holds the data directory."""


class DataDirLock:
    """An exclusive lock on a data directory; `release()` (or process exit) frees it."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> DataDirLock:
        """Lock `directory` (creating it 0700) or raise `DataDirBusy` naming the holder."""
        try:
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise startup_error(exc, directory) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirBusy(
                f"the data directory {directory} is in use by another kubenode server (pid {holder}); stop that "
                "one first, or give this one another --data-dir") from None
        except OSError as exc:
            os.close(fd)
            raise startup_error(exc, directory) from None
        try:
            os.fchmod(fd, FILE_MODE)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise startup_error(exc, directory) from None
        return cls(directory, fd)

    def release(self) -> None:
        """Unlock (idempotent). The pid stays in the file; only the flock means "in use"."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def secure(directory: Path) -> None:
    """Make `directory` 0700 and the server's own files 0600 (and their directories 0700)."""
    _chmod(directory, DIR_MODE)
    for entry in _entries(directory):
        if entry.is_dir(follow_symlinks=False):
            if entry.name in PRIVATE_DIRS:
                _chmod(Path(entry.path), DIR_MODE)
                for sub in _entries(Path(entry.path)):
                    if sub.is_file(follow_symlinks=False):
                        _chmod(Path(sub.path), FILE_MODE)
        elif entry.is_file(follow_symlinks=False):
            _chmod(Path(entry.path), FILE_MODE)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (SQLite gives its WAL and SHM the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except FileNotFoundError:
        return []


def _chmod(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat(follow_symlinks=False).st_mode) != mode:
            os.chmod(path, mode, follow_symlinks=False)
    except FileNotFoundError:
        pass


def startup_error(exc: BaseException, directory: Path) -> StartupError:
    """A `StartupError` saying what `exc` means for the data directory and what to do about it."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, OSError):
        where = exc.filename or directory
        if exc.errno == errno.EROFS:
            return StartupError(f"the data directory {directory} is on a read-only file system ({where}); "
                                "make it writable or choose another --data-dir")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return StartupError(f"no permission to write {where}: run as the directory's owner or choose "
                                "another --data-dir")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or (exc.errno == errno.EIO and file_system_full(directory)):
            return StartupError(f"the file system of the data directory {directory} is full ({where}); free "
                                "space and start again")
        return StartupError(f"cannot use the data directory {directory}: {exc.strerror or exc} ({where})")
    if isinstance(exc, sqlite3.DatabaseError):
        db = directory / "apiserver" / "state.db"
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == 13 or (code == 10 and file_system_full(db)):  # SQLITE_FULL; IOERR on a full tmpfs
            return StartupError(f"the file system of the data directory {directory} is full ({exc}); free "
                                "space and start again")
        if code == 8 or "readonly" in str(exc):  # SQLITE_READONLY
            return StartupError(f"the database {db} cannot be written ({exc}); make the data directory "
                                "writable or choose another --data-dir")
        if code in (11, 26) or "not a database" in str(exc) or "malformed" in str(exc):  # CORRUPT, NOTADB
            return StartupError(f"the database {db} is corrupt ({exc}); restore it from a backup, or move it "
                                "away to start with an empty state")
        return StartupError(f"cannot open the database {db}: {exc}")
    return StartupError(f"cannot start with the data directory {directory}: {exc}")
