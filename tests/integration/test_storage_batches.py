"""A group commit writes only the last change of each key, in few statements: what a restart reads is exactly
the state the acknowledged writes left, whatever one batch held (creates, updates and deletes of the same key,
more rows than one statement takes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubenode.apiserver.storage import _ROWS_PER_STATEMENT, Store, _final_rows


@pytest.mark.parametrize(("rows", "upserts", "deletes"), [
    ([], [], []),
    ([("a", 1, b"1")], ["a", 1, b"1"], []),
    ([("a", 1, b"1"), ("a", 2, b"2")], ["a", 2, b"2"], []),  # the last update wins
    ([("a", 1, b"1"), ("a", 2, None)], [], ["a"]),  # created then deleted in one batch
    ([("a", 1, None), ("a", 2, b"2")], ["a", 2, b"2"], []),  # deleted then re-created
    ([("a", 1, b"1"), ("b", 2, None), ("c", 3, b"3"), ("a", 4, b"4")], ["c", 3, b"3", "a", 4, b"4"], ["b"]),
])
def test_only_the_last_change_of_each_key_is_written(rows: list[tuple[str, int, bytes | None]],
                                                      upserts: list[Any], deletes: list[str]) -> None:
    assert _final_rows(rows) == (upserts, deletes)


def _cm(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "d"},
            "data": {"v": value}}


async def test_a_mixed_batch_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store.open(path)
    try:
        first = [store.stage(f"/configmaps/d/keep-{i}", _cm(f"keep-{i}", "0"))[1] for i in range(5)]
        await asyncio.gather(*first)
        # One batch (nothing awaits in between): more rows than one statement, updates, deletes, a delete
        # followed by a re-create, a create followed by a delete.
        pending = [store.stage(f"/configmaps/d/n-{i}", _cm(f"n-{i}", "x"))[1]
                   for i in range(2 * _ROWS_PER_STATEMENT + 7)]
        pending += [store.stage("/configmaps/d/keep-0", _cm("keep-0", f"u{i}"))[1] for i in range(3)]
        pending.append(store.stage("/configmaps/d/keep-1", None)[1])
        pending.append(store.stage("/configmaps/d/keep-2", None)[1])
        pending.append(store.stage("/configmaps/d/keep-2", _cm("keep-2", "again"))[1])
        pending.append(store.stage("/configmaps/d/brief", _cm("brief", "x"))[1])
        pending.append(store.stage("/configmaps/d/brief", None)[1])
        for i in range(0, 2 * _ROWS_PER_STATEMENT + 7, 2):
            pending.append(store.stage(f"/configmaps/d/n-{i}", None)[1])
        await asyncio.gather(*pending)
        before = dict(store.items("/configmaps"))
        rv = store.rv
    finally:
        await store.close()
    reopened = Store.open(path)
    try:
        assert dict(reopened.items("/configmaps")) == before
        assert reopened.rv == rv
        assert before["/configmaps/d/keep-0"]["data"] == {"v": "u2"}
        assert "/configmaps/d/keep-1" not in before and "/configmaps/d/brief" not in before
        assert before["/configmaps/d/keep-2"]["data"] == {"v": "again"}
        assert sum(k.startswith("/configmaps/d/n-") for k in before) == _ROWS_PER_STATEMENT + 3
    finally:
        await reopened.close()
