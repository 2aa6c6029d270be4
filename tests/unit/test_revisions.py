"""Template revisions: content hashes and the history `kubenode rollout undo` relies on."""

from __future__ import annotations

from typing import Any

import pytest

from kubenode.componentset.revisions import previous_revision, record_revision, template_hash

T1: dict[str, Any] = {"version": "1.0.0", "source": {"url": "https://x/a.tar.gz", "sha256": "a" * 64}}
T2: dict[str, Any] = {**T1, "version": "1.1.0"}
T3: dict[str, Any] = {**T1, "version": "1.2.0"}


def test_hash_ignores_key_order_and_sees_every_change() -> None:
    reordered = {"source": {"sha256": "a" * 64, "url": "https://x/a.tar.gz"}, "version": "1.0.0"}
    assert template_hash(T1) == template_hash(reordered)
    assert template_hash(T1) != template_hash(T2)
    assert template_hash(T1) != template_hash({**T1, "disruption": "Reboot"})
    assert len(template_hash(T1)) == 10 and template_hash(T1).isalnum()


def names(history: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["version"], r["revision"]) for r in history]


@pytest.mark.parametrize(
    ("templates", "limit", "want"),
    [
        ([T1], 10, [("1.0.0", 1)]),
        ([T1, T1], 10, [("1.0.0", 1)]),  # the same template is no new revision
        ([T1, T2, T3], 10, [("1.0.0", 1), ("1.1.0", 2), ("1.2.0", 3)]),
        ([T1, T2, T1], 10, [("1.1.0", 2), ("1.0.0", 3)]),  # re-applied: newest again, next number
        ([T1, T2, T3], 1, [("1.1.0", 2), ("1.2.0", 3)]),  # limit counts old revisions
        ([T1, T2, T3], 0, [("1.2.0", 3)]),
    ],
)
def test_history(templates: list[dict[str, Any]], limit: int, want: list[tuple[str, int]]) -> None:
    history: list[dict[str, Any]] = []
    for t in templates:
        history = record_revision(history, t, "2026-01-01T00:00:00Z", limit)
    assert names(history) == want


def test_reapplied_revision_keeps_its_creation_time() -> None:
    h = record_revision([], T1, "2026-01-01T00:00:00Z", 10)
    h = record_revision(h, T2, "2026-01-02T00:00:00Z", 10)
    h = record_revision(h, T1, "2026-01-03T00:00:00Z", 10)
    assert h[-1]["createdAt"] == "2026-01-01T00:00:00Z"


def test_previous_revision_for_undo() -> None:
    h: list[dict[str, Any]] = []
    for t in (T1, T2, T3):
        h = record_revision(h, t, "2026-01-01T00:00:00Z", 10)
    prev = previous_revision(h, template_hash(T3))
    assert prev is not None and prev["version"] == "1.1.0"
    to_first = previous_revision(h, template_hash(T3), to_revision=1)
    assert to_first is not None and to_first["version"] == "1.0.0"
    assert previous_revision(h, template_hash(T3), to_revision=7) is None
    assert previous_revision(record_revision([], T1, "t", 10), template_hash(T1)) is None
