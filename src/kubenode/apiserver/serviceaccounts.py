"""The serviceaccounts controller: a `default` ServiceAccount in every namespace.

On a real cluster kube-controller-manager's serviceaccounts controller makes
sure each active namespace has a ServiceAccount named `default` (pods that
name none run as it, and clients such as test suites wait for it before
creating pods). It is created when a namespace appears, for namespaces that
already exist when the controller starts, and again whenever it is deleted;
namespaces being terminated are left alone. Level-triggered like the other
embedded controllers: a change only marks work as due, and each pass
recomputes the missing accounts from the whole current state. Writes go
through `ObjectAPI`, like any client's, so they produce normal watch events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from . import errors
from .objects import Obj
from .rest import ObjectAPI, WriteOptions, WriteResult
from .storage import Change, PassLog, Store

log = logging.getLogger("kubenode.apiserver.serviceaccounts")

DEFAULT_SERVICE_ACCOUNT = "default"
_NAMESPACES = "/namespaces/"
_SERVICE_ACCOUNTS = "/serviceaccounts/"
_SYSTEM = WriteOptions(field_manager="kube-controller-manager")


def is_active(namespace: Obj) -> bool:
    """A namespace that is not being deleted (new content may be created in it)."""
    return not namespace["metadata"].get("deletionTimestamp") and (
        (namespace.get("status") or {}).get("phase") != "Terminating")


def missing_default_accounts(namespaces: Iterable[Obj], has_account: Callable[[str], bool]) -> list[str]:
    """The active namespaces, by name and in order, that have no `default` ServiceAccount."""
    return [ns["metadata"]["name"] for ns in namespaces
            if is_active(ns) and not has_account(ns["metadata"]["name"])]


def _wakes(change: Change) -> bool:
    """A namespace appeared or changed, or a `default` ServiceAccount was deleted."""
    if change.key.startswith(_NAMESPACES):
        return change.type != "DELETED"
    return (change.type == "DELETED" and change.key.startswith(_SERVICE_ACCOUNTS)
            and change.key.endswith("/" + DEFAULT_SERVICE_ACCOUNT))


class ServiceAccountController:
    """Creates the `default` ServiceAccount of every active namespace."""

    def __init__(self, api: ObjectAPI, store: Store) -> None:
        self._passes = PassLog(log, "serviceaccounts pass")
        self.api = api
        self.store = store
        self._dirty = asyncio.Event()
        self._dirty.set()  # the first pass covers the namespaces that exist at startup
        store.add_listener(self._on_commit)

    def _on_commit(self, changes: list[Change]) -> None:
        if any(_wakes(c) for c in changes):
            self._dirty.set()

    def sync_pass(self) -> list[WriteResult]:
        """Stage a `default` ServiceAccount for every active namespace that lacks one."""
        info = self.api.registry.lookup("", "v1", "serviceaccounts")
        if info is None:
            return []
        namespaces = [obj for _, obj in self.store.items("/namespaces")]
        out: list[WriteResult] = []
        for name in missing_default_accounts(
                namespaces, lambda ns: self.store.get(info.key(ns, DEFAULT_SERVICE_ACCOUNT)) is not None):
            try:
                out.append(self.api.create(info, name, {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}, _SYSTEM))
            except errors.StatusError as exc:  # e.g. the namespace started terminating meanwhile
                log.debug("default ServiceAccount in %s: %s", name, exc.message)
        return out

    async def run(self) -> None:
        """Run passes whenever something changed, until cancelled."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                for res in self.sync_pass():
                    await res.wait()
                self._passes.ok()
            except Exception as exc:  # keep the controller alive; retry shortly
                self._passes.failed(exc)
                await asyncio.sleep(1)
                self._dirty.set()
