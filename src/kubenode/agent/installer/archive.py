"""The archive driver: download, verify, unpack — in that order, and nothing unverified reaches the disk tree.

A component archive is fetched (http, https or file URL) into the
component's state directory with a size cap, hashed while it streams, and
compared with the mandatory sha256 *before* a single member is unpacked: a
mismatch deletes the download and installs nothing (DESIGN.md, "fail
closed"). Unpacking validates every member first (no absolute paths, no
``..``, no device files or FIFOs, no links pointing out of the directory) and
then extracts with Python's ``data`` filter as a second, independent guard,
into a staging directory that only becomes ``<version>/`` by a rename once
it is complete. The ``current`` symlink is switched with a rename too, so a
reader (or a crash) sees either the old or the new version, never a mix.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import shutil
import tarfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from kubenode.apimachinery.files import fsync_dir
from kubenode.client.h11_transport import H11Transport

from .inputs import capped_mode, duplicate_paths, normal_path
from .layout import COMPLETE_MARKER, ComponentLayout, PathEscapeError, resolve_inside

__all__ = [
    "MANIFEST",
    "ArchiveError",
    "ChecksumMismatch",
    "DownloadError",
    "UnsafeArchiveError",
    "check_member",
    "download",
    "fetch_verified",
    "mark_complete",
    "read_manifest",
    "switch_current",
    "unpack",
    "write_files",
]

#: Default cap of one download (bytes).
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
#: Cap of the unpacked size, against decompression bombs.
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
#: Inside each version directory: the archive's member names (executables must be among them).
MANIFEST = ".kubenode-manifest"
_CHUNK = 1 << 16
_MAX_REDIRECTS = 10


class ArchiveError(Exception):
    """The artifact could not be installed; ``reason`` is a MachineComponent condition reason."""

    reason = "UnpackFailed"


class DownloadError(ArchiveError):
    """The URL could not be fetched (or was too large)."""

    reason = "DownloadFailed"


class ChecksumMismatch(ArchiveError):
    """The download's sha256 is not the one the spec names: nothing was installed."""

    reason = "ChecksumMismatch"


class UnsafeArchiveError(ArchiveError):
    """A member would escape the directory or is not a plain file, directory or inner link."""

    reason = "UnpackFailed"


# --------------------------------------------------------------------------- download


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(f"{url}: file URLs must be local (file:///path)")
    return Path(unquote(parts.path))


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


class _HashingWriter:
    """Writes chunks to a file, hashing and counting them; refuses to grow past ``max_bytes``."""

    def __init__(self, dest: Path, url: str, max_bytes: int) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(dest, "wb")  # noqa: SIM115 - closed in close()
        self.url = url
        self.max_bytes = max_bytes
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise DownloadError(f"{self.url}: larger than the {self.max_bytes}-byte limit")
        self.digest.update(chunk)
        self.out.write(chunk)

    def copy_file(self, src: Path) -> None:
        with open(src, "rb") as f:
            while chunk := f.read(_CHUNK):
                self.write(chunk)

    def close(self) -> None:
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()


async def download(url: str, dest: Path, *, max_bytes: int = MAX_DOWNLOAD_BYTES,
                   time_limit: float = 300.0) -> str:
    """Fetch ``url`` into ``dest`` (at most ``max_bytes``); returns the hex sha256 of what was written."""
    scheme = urlsplit(url).scheme
    writer: _HashingWriter | None = None
    try:
        if scheme not in ("file", "http", "https"):
            raise DownloadError(f"{url}: unsupported URL scheme {scheme!r} (http, https or file)")
        writer = _HashingWriter(dest, url, max_bytes)
        if scheme == "file":
            await asyncio.to_thread(writer.copy_file, _file_path(url))
        else:
            # The agent's light HTTP client (no aiohttp in an agent, issue 15), one connection for this download.
            async with asyncio.timeout(time_limit), H11Transport(limit=1) as http:
                await _http_download(http, url, writer, max_bytes)
        writer.close()
    except ArchiveError:
        if writer is not None:
            writer.out.close()
        _remove(dest)
        raise
    except (OSError, TimeoutError) as exc:  # TransportError is an OSError
        if writer is not None:
            writer.out.close()
        _remove(dest)
        raise DownloadError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return writer.digest.hexdigest()


async def _http_download(http: H11Transport, url: str, writer: _HashingWriter, max_bytes: int) -> None:
    """GET ``url`` into ``writer``, following up to ``_MAX_REDIRECTS`` redirects (artifact stores redirect)."""
    target = url
    for _ in range(_MAX_REDIRECTS + 1):
        async with http.stream("GET", target, headers={"User-Agent": "kubenode-agent"}) as resp:
            location = resp.headers.get("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                target = urljoin(target, location)
                if urlsplit(target).scheme not in ("http", "https"):
                    raise DownloadError(f"{url}: redirected to an unsupported URL {target}")
                continue
            if resp.status != 200:
                raise DownloadError(f"{url}: HTTP {resp.status} {resp.reason}")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise DownloadError(f"{url}: larger than the {max_bytes}-byte limit")
            async for chunk in resp.iter_chunks():
                writer.write(chunk)
            return
    raise DownloadError(f"{url}: more than {_MAX_REDIRECTS} redirects")


async def fetch_verified(url: str, sha256: str, dest: Path, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Download ``url`` to ``dest`` and check its sha256; on a mismatch the file is deleted and nothing is kept."""
    actual = await download(url, dest, max_bytes=max_bytes)
    if actual != sha256.lower():
        _remove(dest)
        raise ChecksumMismatch(f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}; "
                               "nothing was installed")
    return dest


# --------------------------------------------------------------------------- member validation (pure)


def check_member(name: str, kind: str, linkname: str = "") -> str:
    """Validate one archive member; returns its normalised name or raises :class:`UnsafeArchiveError`.

    ``kind`` is ``file``, ``dir``, ``symlink``, ``hardlink`` or anything else
    (devices, FIFOs: refused). Symlink targets must be relative and stay
    inside the archive root when resolved from the member's directory, and
    must not contain ``..`` beyond that (a lexical check that a chain of inner
    links cannot defeat, because the extractor re-checks with realpath).
    """
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"member {name!r}: empty or NUL in name")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"member {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"member {name!r}: '..' in path")
    normalised = "/".join(parts)
    if kind in ("file", "dir"):
        return normalised or "."
    if kind in ("symlink", "hardlink"):
        if not linkname or linkname.startswith("/") or "\x00" in linkname:
            raise UnsafeArchiveError(f"member {name!r}: {kind} to absolute or empty target {linkname!r}")
        base = posixpath.dirname(normalised) if kind == "symlink" else ""
        target = posixpath.normpath(posixpath.join(base, linkname))
        if target == ".." or target.startswith("../"):
            raise UnsafeArchiveError(f"member {name!r}: {kind} target {linkname!r} escapes the directory")
        return normalised
    raise UnsafeArchiveError(f"member {name!r}: {kind} members are not allowed (only files, directories and "
                             "links inside the archive)")


def _kind(member: tarfile.TarInfo) -> str:
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "fifo"
    return "special"


def _check_members(members: Iterable[tarfile.TarInfo]) -> list[str]:
    names: list[str] = []
    total = 0
    for i, m in enumerate(members):
        if i >= MAX_MEMBERS:
            raise UnsafeArchiveError(f"more than {MAX_MEMBERS} members")
        names.append(check_member(m.name, _kind(m), m.linkname))
        total += max(0, m.size)
        if total > MAX_UNPACKED_BYTES:
            raise UnsafeArchiveError(f"unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    return names


def _check_tree(base: Path) -> None:
    """After extraction: every symlink must still resolve inside ``base`` (catches link chains)."""
    real = os.path.realpath(base)
    for dirpath, dirnames, filenames in os.walk(base):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                resolved = os.path.realpath(p)
                if resolved != real and not resolved.startswith(real + os.sep):
                    raise UnsafeArchiveError(f"member {os.path.relpath(p, base)!r}: link resolves outside "
                                             "the directory")


# --------------------------------------------------------------------------- unpack, files, switch


def unpack(archive: Path, layout: ComponentLayout, version: str) -> Path:
    """Unpack a verified ``archive`` into a fresh staging directory of ``layout``; returns it.

    The staging directory is ``<home>/.staging-<version>-<random>``; the caller
    writes the spec's files into it and then calls :func:`mark_complete`.
    On any error the staging directory is removed.
    """
    layout.version_dir(version)  # validates the version
    layout.home.mkdir(parents=True, exist_ok=True)
    staging = layout.home / f".staging-{version}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                names = _check_members(members)
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"cannot unpack {archive.name}: {type(exc).__name__}: {exc}") from exc
        _check_tree(staging)
        (staging / MANIFEST).write_text("\n".join(sorted(set(names))) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def read_manifest(version_dir: Path) -> set[str]:
    """The archive member names of an unpacked version (empty when it had no archive)."""
    try:
        return {line for line in (version_dir / MANIFEST).read_text().splitlines() if line}
    except FileNotFoundError:
        return set()


def write_files(base: Path, files: Iterable[dict[str, object]], protected: set[str] | None = None) -> list[str]:
    """Write the spec's ``files`` under ``base`` atomically (temp file + rename); returns their paths.

    Each path must resolve inside ``base``; a path that is an archive member
    (``protected``) is refused, so a custom resource can never replace a
    verified program with its own content.
    """
    written: list[str] = []
    files = list(files)
    dups = duplicate_paths(files)
    if dups:
        raise PathEscapeError(f"spec.files: {dups[0]} are the same file")
    real_base = os.path.realpath(base)
    for i, f in enumerate(files):
        raw = str(f.get("path", ""))
        content = str(f.get("content", ""))
        mode = capped_mode(int(f.get("mode", 0o644)))  # type: ignore[call-overload]
        try:
            rel = normal_path(raw)  # every spelling of a path is compared in one form (bin//run is bin/run)
            target = resolve_inside(base, rel)
        except PathEscapeError as exc:
            raise PathEscapeError(f"spec.files[{i}].path: {exc}") from None
        if protected and (rel in protected or os.path.relpath(target, real_base) in protected):
            raise PathEscapeError(f"spec.files[{i}].path: {raw!r} is part of the artifact and cannot be "
                                  "overwritten")
        target.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(base, rel)  # again, now that parents exist (a parent could be an inner link)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        written.append(rel)
    return written


def mark_complete(staging: Path, layout: ComponentLayout, version: str, sha256: str) -> Path:
    """Seal ``staging`` as the directory of ``version`` (rename); returns the version directory.

    An existing directory of the same name (an incomplete leftover, or a
    re-published version with another checksum) is moved aside first and
    removed after the rename.
    """
    (staging / COMPLETE_MARKER).write_text(sha256 + "\n")
    fsync_dir(staging)
    final = layout.version_dir(version)
    trash: Path | None = None
    if final.exists() or final.is_symlink():
        trash = layout.home / f".trash-{version}-{uuid.uuid4().hex[:8]}"
        os.replace(final, trash)
    os.replace(staging, final)
    fsync_dir(layout.home)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return final


def complete_sha256(layout: ComponentLayout, version: str) -> str | None:
    """The checksum a complete version directory was installed from (None if incomplete or absent)."""
    try:
        return (layout.version_dir(version) / COMPLETE_MARKER).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def switch_current(layout: ComponentLayout, version: str | None) -> None:
    """Point ``current`` at ``version`` atomically (symlink + rename); None removes the link."""
    if version is None:
        layout.current.unlink(missing_ok=True)
        fsync_dir(layout.home)
        return
    if not layout.is_complete(version):
        raise ArchiveError(f"version {version} is not completely installed; refusing to switch to it")
    tmp = layout.home / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(version, tmp)  # relative: the tree stays valid if ROOT moves
    os.replace(tmp, layout.current)
    fsync_dir(layout.home)


def cleanup_staging(layout: ComponentLayout) -> list[str]:
    """Remove leftovers of interrupted installs (staging, trash, temporary links); returns their names."""
    removed: list[str] = []
    if not layout.home.is_dir():
        return removed
    for p in layout.home.iterdir():
        if p.name.startswith((".staging-", ".trash-", ".current-")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


