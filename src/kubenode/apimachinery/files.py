"""Writing a file so that a reader (or a crash) sees either the old or the new one, never a part or a leak.

The embedded server's keys, certificates and tokens and the agent's identity (its key and certificate, its
kubeconfig) are written the same way, so both import it from here, the bottom layer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` with `mode` so that readers see either the old or the new file.

    The temporary file is created with its final mode (never world-readable, not even for a moment) in
    the same directory, flushed to disk, then renamed over the target; the directory is synced so that the
    rename survives a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            # os.open filters the mode through the umask; fchmod makes it
            # exact so that the result does not depend on the caller's umask.
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Persist a rename in `directory` (best effort: not every file system supports it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
