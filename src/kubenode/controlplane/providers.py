"""The InfraProvider implementations an operator process runs, built from the API.

`existing` adopts Nodes the cluster already has (it only reads Nodes);
`aliyun` (Alibaba Cloud ECS) reads `accessKeyId`/`accessKeySecret` from
`spec.credentialsSecretRef` like `libcloud` does; `local` needs a data directory on this machine (only `kubenode up` and
`kubenode operator --data-dir` have one); `libcloud` reads its credentials
from the Secret named by `InfraProvider.spec.credentialsSecretRef`; SSH
import reads the key from the Secret named by `Machine.spec.import.sshSecretRef` and hands imported hosts
their kubelet's bootstrap (`kubelet_join.py`).
Secrets are read through the API at the moment they are needed and never
logged or written anywhere else.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubenode.api.constants import INFRA_PROVIDER_TYPE_ALIYUN as ALIYUN
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES, SECRETS
from kubenode.machine.bootstrap import SYSTEM_NAMESPACE, AgentEndpoint
from kubenode.machine.provider_resolver import ProviderFactory
from kubenode.providers.base import InfraProvider, ProviderError
from kubenode.providers.bootstrap import AgentInstall
from kubenode.providers.existing import TYPE as EXISTING
from kubenode.providers.existing import ExistingNodesProvider
from kubenode.providers.libcloud_provider import LibcloudProvider
from kubenode.providers.local import LocalProvider
from kubenode.providers.ssh_import import SSHCredentials, SSHImportProvider

from .kubelet_join import kubelet_join_source

Obj = dict[str, Any]


async def read_secret(client: KubeClient, ref: Obj | None, what: str) -> dict[str, str]:
    """The decoded data of the Secret `ref` ({name, namespace}; namespace defaults to kubenode-system)."""
    if not ref or not ref.get("name"):
        raise ProviderError(f"{what} is required", retryable=False, reason="CredentialsMissing")
    namespace = ref.get("namespace") or SYSTEM_NAMESPACE
    try:
        secret = await client.get(SECRETS, ref["name"], namespace)
    except errors.NotFound:
        raise ProviderError(f'{what}: Secret {namespace}/{ref["name"]} not found', reason="CredentialsMissing") \
            from None
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def provider_factories(client: KubeClient, *, local: LocalProvider | None = None) -> dict[str, ProviderFactory]:
    """Factories by InfraProvider type."""
    factories: dict[str, ProviderFactory] = {}
    if local is not None:
        async def local_factory(_: Obj) -> InfraProvider:
            return local

        factories["local"] = local_factory

    async def cloud(ip: Obj, make: Callable[[Obj, dict[str, str]], InfraProvider]) -> InfraProvider:
        """`make(spec.parameters, credentials)` with the data of `spec.credentialsSecretRef`; a ValueError of
        the parameters is a non-retryable InvalidParameters."""
        spec = ip.get("spec") or {}
        creds = await read_secret(client, spec.get("credentialsSecretRef"), "spec.credentialsSecretRef")
        try:
            return make(spec.get("parameters") or {}, creds)
        except ValueError as exc:
            raise ProviderError(f"invalid spec.parameters: {exc}", retryable=False, reason="InvalidParameters") \
                from None

    async def libcloud_factory(ip: Obj) -> InfraProvider:
        return await cloud(ip, LibcloudProvider)

    factories["libcloud"] = libcloud_factory

    async def aliyun_factory(ip: Obj) -> InfraProvider:
        # Imported when first used: the generated SDK is large, and most operators run no aliyun provider.
        from kubenode.providers.aliyun_provider import AliyunProvider

        return await cloud(ip, AliyunProvider)

    factories[ALIYUN] = aliyun_factory

    async def get_node(name: str) -> Obj | None:
        try:
            return await client.get(NODES, name)
        except errors.NotFound:
            return None

    async def existing_factory(_: Obj) -> InfraProvider:
        return ExistingNodesProvider(get_node)

    factories[EXISTING] = existing_factory
    return factories


def ssh_importer(client: KubeClient, install: AgentInstall, state_dir: Path, remote_dir: str | None = None, *,
                 endpoint: AgentEndpoint | None = None, host_root: str | None = None) -> SSHImportProvider:
    """The SSH importer for Machines with `spec.import`; with `endpoint`, it also provisions the kubelet's
    bootstrap (under `host_root`, default `/` for root) so that the host can join as a Kubernetes node."""

    async def lookup(machine: Obj) -> SSHCredentials:
        spec = (machine.get("spec") or {}).get("import") or {}
        data = await read_secret(client, spec.get("sshSecretRef"), "spec.import.sshSecretRef")
        key = data.get("ssh-privatekey")
        if not key:
            raise ProviderError("the SSH Secret has no ssh-privatekey", retryable=False, reason="CredentialsMissing")
        return SSHCredentials(private_key=key, known_hosts=data.get("known_hosts") or None)

    join = kubelet_join_source(client, endpoint) if endpoint is not None else None
    return SSHImportProvider(lookup, install, state_dir=state_dir, remote_dir=remote_dir, kubelet_join=join,
                             host_root=host_root)
