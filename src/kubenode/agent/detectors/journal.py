"""node-problem-detector's journald watcher, on top of Debian's `journalctl -o json --follow`.

NPD reads the journal through libsystemd: entries whose SYSLOG_IDENTIFIER
is the monitor's `pluginConfig.source`, from `logPath` (a journal
directory) or the system journal when it is empty, starting `lookback`
before now. `journalctl` does exactly that without a C binding:
`--identifier`, `--directory`, `--since=@<epoch>`; each entry is one JSON
object per line, and its `__CURSOR` lets an agent restart resume after the
last entry it handled (`--after-cursor`) instead of re-reading or skipping.

The child runs in its own session and is killed with its process group
when the monitor stops; no shell is involved and every argument comes from
the node-local config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JournalEntry", "JournalFollower", "journalctl_argv", "parse_entry"]

MAX_LINE = 1 << 20


@dataclass(frozen=True)
class JournalEntry:
    """One journal entry as the monitor needs it."""

    message: str
    cursor: str


def journalctl_argv(journalctl: str, identifier: str, directory: Path | None, *, since: float | None = None,
                    after_cursor: str = "") -> list[str]:
    """The journalctl command line following `identifier` (from `after_cursor`, else from `since`)."""
    argv = [journalctl, "--output=json", "--follow", "--no-pager", "--lines=all", "--quiet",
            f"--identifier={identifier}"]
    if directory is not None:
        argv.append(f"--directory={directory}")
    if after_cursor:
        argv.append(f"--after-cursor={after_cursor}")
    elif since is not None:
        argv.append(f"--since=@{int(since)}")
    return argv


def parse_entry(line: bytes) -> JournalEntry | None:
    """A `journalctl -o json` line; None for anything that is not an entry with a MESSAGE."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    msg = raw.get("MESSAGE")
    if isinstance(msg, list):  # not valid UTF-8: journalctl sends the bytes as a list of integers
        try:
            msg = bytes(msg).decode("utf-8", errors="replace")
        except (TypeError, ValueError):
            return None
    if not isinstance(msg, str):
        return None
    return JournalEntry(message=msg, cursor=str(raw.get("__CURSOR") or ""))


class JournalFollower:
    """A running `journalctl --follow` for one monitor."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self.eof = False

    @staticmethod
    def find_journalctl() -> str | None:
        """The journalctl executable (Debian's systemd package), if installed."""
        return shutil.which("journalctl") or next(
            (p for p in ("/usr/bin/journalctl", "/bin/journalctl") if os.access(p, os.X_OK)), None)

    async def start(self) -> None:
        """Start journalctl."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=MAX_LINE)

    async def read(self, wait: float, max_entries: int = 10_000) -> list[JournalEntry]:
        """Entries available within `wait` seconds (returns as soon as the stream pauses after some)."""
        assert self.proc is not None and self.proc.stdout is not None
        out: list[JournalEntry] = []
        timeout = wait
        while len(out) < max_entries:
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            except TimeoutError:
                break
            except ValueError:  # a line longer than MAX_LINE: skip it
                continue
            if not line:
                self.eof = True  # journalctl closed its output: it is exiting
                break
            entry = parse_entry(line)
            if entry is not None:
                out.append(entry)
            timeout = 0.05  # drain what is buffered, then hand it over
        return out

    @property
    def exited(self) -> bool:
        """Whether journalctl has exited (or closed its output, which it does only when exiting)."""
        return self.eof or (self.proc is not None and self.proc.returncode is not None)

    async def error_text(self) -> str:
        """What journalctl said on stderr (after it exited)."""
        if self.proc is None or self.proc.stderr is None:
            return ""
        with contextlib.suppress(Exception):
            return (await asyncio.wait_for(self.proc.stderr.read(4096), 1.0)).decode(errors="replace").strip()
        return ""

    async def close(self) -> None:
        """Stop journalctl (its whole process group)."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(self.proc.wait())
        self.proc = None
