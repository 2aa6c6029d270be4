"""A background pass's failures in the log: a full disk once per episode, a bug with its traceback."""

from __future__ import annotations

import logging

import pytest

from kubenode.apiserver.storage import PassLog, StorageError

FULL = StorageError("storage is full: free space", 507, "InsufficientStorage")
READONLY = StorageError("the database cannot be written", 500)


@pytest.mark.parametrize(("events", "expected"), [
    # the same storage failure every second is said once, then once more when writes are stored again
    (["full", "full", "full", "ok", "ok"], [("WARNING", "failed: storage is full"), ("INFO", "stored again")]),
    # a new cause is a new line
    (["full", "readonly", "readonly"], [("WARNING", "storage is full"), ("WARNING", "cannot be written")]),
    # after recovery the same cause is news again
    (["full", "ok", "full"], [("WARNING", "storage is full"), ("INFO", "stored again"),
                              ("WARNING", "storage is full")]),
    # a bug is logged every time, with its traceback
    (["bug", "bug"], [("ERROR", "failed"), ("ERROR", "failed")]),
    (["ok"], []),
])
def test_pass_log(events: list[str], expected: list[tuple[str, str]], caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("kubenode.test.passlog")
    passes = PassLog(log, "test pass")
    with caplog.at_level(logging.DEBUG, logger=log.name):
        for e in events:
            if e == "ok":
                passes.ok()
            elif e == "bug":
                passes.failed(KeyError("x"))
            else:
                passes.failed(FULL if e == "full" else READONLY)
    got = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(got) == len(expected), got
    for (level, message), (want_level, fragment) in zip(got, expected, strict=True):
        assert level == want_level and fragment in message and message.startswith("test pass"), got
    bugs = [r for r in caplog.records if r.levelname == "ERROR"]
    assert all(r.exc_info is not None and r.exc_info[0] is KeyError for r in bugs)
    assert all(r.exc_info is None for r in caplog.records if r.levelname != "ERROR")
