"""Which InfraProvider implementation serves a Machine.

`spec.import` → the SSH importer; otherwise `spec.providerRef.name` names an
InfraProvider object whose `spec.type` picks the implementation. Instances
are cached per InfraProvider resourceVersion, so a changed provider (new
credentials, new parameters) takes effect on the next reconcile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubenode.api import constants as c
from kubenode.providers.base import InfraProvider, ProviderError
from kubenode.runtime.informer import Informer

Obj = dict[str, Any]
#: Builds a provider of one type from the InfraProvider object.
ProviderFactory = Callable[[Obj], Awaitable[InfraProvider]]


class ProviderResolver:
    """Resolves the provider of a Machine from the InfraProvider cache."""

    def __init__(self, infraproviders: Informer, factories: dict[str, ProviderFactory],
                 importer: InfraProvider | None = None) -> None:
        self.infraproviders = infraproviders
        self.factories = factories
        self.importer = importer
        self._instances: dict[str, tuple[str, InfraProvider]] = {}

    async def __call__(self, machine: Obj) -> InfraProvider:
        spec = machine.get("spec") or {}
        if spec.get("import"):
            if self.importer is None:
                raise ProviderError("importing hosts over SSH is not enabled in this operator", retryable=False,
                                    reason=c.MACHINE_REASON_IMPORT_DISABLED)
            return self.importer
        ref = ((spec.get("providerRef") or {}).get("name")) or ""
        if not ref:
            raise ProviderError("spec.providerRef.name or spec.import is required", retryable=False,
                                reason=c.MACHINE_REASON_NO_PROVIDER)
        ip = self.infraproviders.cache.get("", ref)
        if ip is None:
            raise ProviderError(f'InfraProvider "{ref}" not found; create it or fix spec.providerRef.name',
                                reason=c.MACHINE_REASON_PROVIDER_NOT_FOUND)
        type_ = str((ip.get("spec") or {}).get("type") or "")
        factory = self.factories.get(type_)
        if factory is None:
            raise ProviderError(f'InfraProvider "{ref}" has type "{type_}", which this operator does not run '
                                f"(available: {', '.join(sorted(self.factories)) or 'none'})",
                                reason=c.INFRA_PROVIDER_REASON_UNKNOWN_TYPE)
        rv = str(ip["metadata"].get("resourceVersion", ""))
        cached = self._instances.get(ref)
        if cached is not None and cached[0] == rv:
            return cached[1]
        provider = await factory(ip)
        if cached is not None:
            await cached[1].close()
        self._instances[ref] = (rv, provider)
        return provider

    async def close(self) -> None:
        """Close every provider instance."""
        for _, p in self._instances.values():
            await p.close()
        self._instances.clear()
        if self.importer is not None:
            await self.importer.close()
