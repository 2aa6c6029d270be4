"""Component drift: do the installed files still match the verified artifact? (as OpenShift's MCD checks)

When a version directory is sealed — right after its archive passed the
sha256 check and was unpacked, and the spec's files were written — every
regular file's sha256 and permission bits and every symlink's target are
recorded in ``<version>/.kubenode-hashes``. Re-verifying compares the tree
with that record, in path order, and names the *first* differing path: a
file changed, missing, replaced by another kind of file, or with other
permissions. Files a service creates at run time are not part of the record
and are not drift.

Verification reads every recorded file, so it runs in a worker thread, and
only periodically or on demand (the ``kubenode.io/verify-now`` annotation);
never on the scrape path.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .layout import COMPLETE_MARKER

__all__ = ["HASHES", "DriftResult", "record_hashes", "verify_hashes"]

HASHES = ".kubenode-hashes"
_SKIP = {HASHES, COMPLETE_MARKER}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DriftResult:
    """The outcome of one verification."""

    drifted: bool
    path: str = ""  # the first differing path (relative to the version directory)
    what: str = ""  # how it differs
    files: int = 0  # how many recorded entries were checked

    @property
    def message(self) -> str:
        """A sentence for the Drifted condition."""
        if self.drifted:
            return f"{self.path}: {self.what} (first differing path; the verified artifact is unchanged)"
        return f"{self.files} files match the verified artifact"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _entries(base: Path) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, base)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel in _SKIP or name.endswith(".tmp"):
                continue
            full = Path(dirpath) / name
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = {"link": os.readlink(full)}
            elif stat.S_ISREG(st.st_mode):
                out[rel] = {"sha256": _sha256(full), "mode": stat.S_IMODE(st.st_mode)}
    return out


def record_hashes(version_dir: Path) -> int:
    """Record the tree of a sealed (or about to be sealed) version directory; returns the entry count."""
    entries = _entries(version_dir)
    tmp = version_dir / f"{HASHES}.tmp"
    tmp.write_text(json.dumps({"version": 1, "entries": entries}, sort_keys=True))
    os.replace(tmp, version_dir / HASHES)
    return len(entries)


def has_record(version_dir: Path) -> bool:
    """Whether the directory was sealed with a hash record (installs older than drift detection were not)."""
    return (version_dir / HASHES).is_file()


def verify_hashes(version_dir: Path) -> DriftResult | None:
    """Compare the tree with its record; None when there is no record to compare with."""
    try:
        raw = json.loads((version_dir / HASHES).read_text())
        recorded: dict[str, dict[str, object]] = raw["entries"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return DriftResult(True, HASHES, "the hash record itself is unreadable")
    for rel in sorted(recorded):
        want = recorded[rel]
        full = version_dir / rel
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return DriftResult(True, rel, "missing", len(recorded))
        except OSError as exc:
            return DriftResult(True, rel, f"unreadable: {exc.strerror}", len(recorded))
        if "link" in want:
            if not stat.S_ISLNK(st.st_mode):
                return DriftResult(True, rel, "was a symlink, is now another kind of file", len(recorded))
            if os.readlink(full) != want["link"]:
                return DriftResult(True, rel, f"symlink now points to {os.readlink(full)!r}, not {want['link']!r}",
                                   len(recorded))
            continue
        if not stat.S_ISREG(st.st_mode):
            return DriftResult(True, rel, "was a regular file, is now another kind of file", len(recorded))
        try:
            digest = _sha256(full)
        except OSError as exc:
            return DriftResult(True, rel, f"unreadable: {exc.strerror}", len(recorded))
        if digest != want.get("sha256"):
            return DriftResult(True, rel, "content differs", len(recorded))
        if stat.S_IMODE(st.st_mode) != want.get("mode"):
            return DriftResult(True, rel, f"mode {stat.S_IMODE(st.st_mode):o}, verified {want.get('mode'):o}",
                               len(recorded))
    return DriftResult(False, files=len(recorded))
