"""Crash consistency: an intent journal that makes every install all-or-nothing.

Before an install (or a local rollback) changes anything, it writes an
intent record — which version ``current`` must point to if the operation
does not finish (``restore``) — to ``STATE/journal.json`` with fsync and an
atomic rename. Each step then records its progress in the same file. Only
when the operation has finished and the component was found healthy is the
journal removed (``commit``).

When the agent starts, :func:`recover` reads a leftover journal and rolls
the component back to ``restore``: an unfinished install was never verified
healthy, so the safe state is the one before it — and since reconciliation
is level-triggered the agent simply installs the desired version again,
which is how an interrupted install "resumes". An interrupted rollback is
completed the same way (its ``restore`` is the version it was rolling back
to). Staging directories and partial downloads are deleted. The component is
therefore never half-installed: ``current`` always names a complete,
checksum-verified version, or nothing.

Tests inject crashes between steps through ``failpoint`` (a callable that
gets each step's name), which is how "agent killed mid-install" is proved.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .archive import cleanup_staging, switch_current
from .layout import ComponentLayout

__all__ = ["STEPS", "Journal", "JournalRecord", "Recovery", "recover", "write_json_atomic"]

log = logging.getLogger(__name__)

#: The steps of an install, in order (a rollback uses "begin", "switched", "started").
STEPS = ("begin", "downloaded", "unpacked", "switched", "started", "verified")

Failpoint = Callable[[str], None]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``: temp file, fsync, rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as out:
        json.dump(data, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


@dataclass
class JournalRecord:
    """One operation in progress."""

    op: str  # install | rollback | remove
    component: str
    target: str | None  # the version being installed (or rolled back to)
    restore: str | None  # what `current` must name if the operation does not finish
    step: str = "begin"
    steps: list[str] = field(default_factory=list)


class Journal:
    """The intent journal of one component (``STATE/journal.json``)."""

    def __init__(self, layout: ComponentLayout, failpoint: Failpoint | None = None) -> None:
        self.layout = layout
        self.path = layout.state_dir / "journal.json"
        self.failpoint = failpoint
        self.record: JournalRecord | None = None

    def begin(self, op: str, target: str | None, restore: str | None) -> None:
        """Record the intent before touching anything."""
        self.record = JournalRecord(op=op, component=self.layout.component, target=target, restore=restore,
                                    steps=["begin"])
        write_json_atomic(self.path, asdict(self.record))
        self._fail("begin")

    def step(self, name: str) -> None:
        """Record that ``name`` is done (durably, before the next step starts)."""
        if self.record is None:
            raise RuntimeError("journal step without begin")
        self.record.step = name
        self.record.steps.append(name)
        write_json_atomic(self.path, asdict(self.record))
        self._fail(name)

    def commit(self) -> None:
        """The operation finished: forget it."""
        self.path.unlink(missing_ok=True)
        self.record = None

    def load(self) -> JournalRecord | None:
        """The leftover record on disk, if any (a corrupt journal reads as an unknown install)."""
        try:
            data = json.loads(self.path.read_text())
            return JournalRecord(**{k: data.get(k) for k in ("op", "component", "target", "restore", "step")},
                                 steps=list(data.get("steps") or []))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            log.warning("%s: unreadable journal (%s); treating it as an interrupted install", self.path, exc)
            return JournalRecord(op="install", component=self.layout.component, target=None,
                                 restore=self.layout.current_version(), step="unknown")

    def _fail(self, step: str) -> None:
        if self.failpoint is not None:
            self.failpoint(step)


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` found and did."""

    record: JournalRecord | None
    restored: str | None
    removed: tuple[str, ...] = ()

    @property
    def acted(self) -> bool:
        """Whether there was anything to recover."""
        return self.record is not None or bool(self.removed)

    def describe(self) -> str:
        """A one-line account for logs and the component's status message."""
        if self.record is None:
            return f"removed leftovers {', '.join(self.removed)}" if self.removed else "nothing to recover"
        what = f"{self.record.op} of {self.record.target or 'an unknown version'}"
        now = f"version {self.restored}" if self.restored else "nothing installed"
        return f"recovered from an interrupted {what} (last step {self.record.step!r}): {now}"


def recover(layout: ComponentLayout) -> Recovery:
    """Finish or undo whatever a crash interrupted, so ``current`` names a complete version or nothing."""
    journal = Journal(layout)
    record = journal.load()
    removed = tuple(cleanup_staging(layout))
    restored = layout.current_version()
    if record is not None:
        target = record.restore
        if target is not None and not layout.is_complete(target):
            # The version to restore is gone (should not happen): leave nothing rather than a broken link.
            log.warning("%s: version %s to restore is incomplete; removing the current link", layout.component,
                        target)
            target = None
        if layout.current_version() != target or (target is None and layout.current.is_symlink()):
            switch_current(layout, target)
        restored = target
        if record.op == "install" and record.target and record.target != target \
                and not layout.is_complete(record.target):
            # A version directory without its completion marker is not trusted by anything; tidy it up.
            shutil.rmtree(layout.version_dir(record.target), ignore_errors=True)
        journal.commit()
    if record is not None or removed:
        log.info("%s: %s", layout.component, Recovery(record, restored, removed).describe())
    return Recovery(record, restored, removed)
