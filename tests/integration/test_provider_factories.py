"""The operator's cloud provider factories against the embedded API server: an InfraProvider's credentials come
from its Secret, and parameters a provider refuses are a non-retryable InvalidParameters that names them."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import NAMESPACES, SECRETS
from kubenode.controlplane.providers import provider_factories
from kubenode.machine.bootstrap import SYSTEM_NAMESPACE
from kubenode.providers.aliyun_provider import AliyunProvider
from kubenode.providers.base import ProviderError
from kubenode.providers.libcloud_provider import LibcloudProvider

Obj = dict[str, Any]
ALIYUN = {"regionId": "cn-hangzhou", "imageId": "debian_12", "instanceType": "ecs.g7.large"}
LIBCLOUD = {"driver": "dummy", "image": "1", "size": "s"}


def infra(type_: str, parameters: Obj, secret: str = "cloud") -> Obj:
    return {"metadata": {"name": type_}, "spec": {"type": type_, "parameters": parameters,
                                                  "credentialsSecretRef": {"name": secret}}}


async def _secret(client: KubeClient, data: dict[str, str]) -> None:
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}})
    await client.create(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                                  "metadata": {"name": "cloud", "namespace": SYSTEM_NAMESPACE},
                                  "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})


async def test_cloud_providers_get_their_parameters_and_the_secrets_credentials(server: RunningServer) -> None:
    async with KubeClient(load_config(server.kubeconfig)) as client:
        await _secret(client, {"accessKeyId": "id", "accessKeySecret": "s", "key": "k"})
        factories = provider_factories(client)
        aliyun = await factories["aliyun"](infra("aliyun", {**ALIYUN, "packages": ["python3-venv"]}))
        assert isinstance(aliyun, AliyunProvider) and aliyun.params.agent.packages == ("python3-venv",)
        libcloud = await factories["libcloud"](infra("libcloud", LIBCLOUD))
        assert isinstance(libcloud, LibcloudProvider) and libcloud.params.driver == "dummy"


@pytest.mark.parametrize(("type_", "parameters", "message"), [
    ("aliyun", {**ALIYUN, "packages": "python3-venv"}, "invalid spec.parameters: spec.parameters.packages"),
    ("aliyun", {**ALIYUN, "internetMaxBandwidthOut": 500}, "internetMaxBandwidthOut"),
    ("libcloud", {**LIBCLOUD, "packages": "python3-venv"}, "spec.parameters.packages"),
    ("libcloud", {"driver": "dummy"}, "spec.parameters.image is required"),
])
async def test_refused_parameters_are_invalid_parameters(server: RunningServer, type_: str, parameters: Obj,
                                                         message: str) -> None:
    async with KubeClient(load_config(server.kubeconfig)) as client:
        await _secret(client, {"accessKeyId": "id", "accessKeySecret": "s"})
        with pytest.raises(ProviderError, match=message) as err:
            await provider_factories(client)[type_](infra(type_, parameters))
        assert (err.value.retryable, err.value.reason) == (False, "InvalidParameters")


async def test_a_missing_secret_is_missing_credentials(server: RunningServer) -> None:
    async with KubeClient(load_config(server.kubeconfig)) as client:
        with pytest.raises(ProviderError, match="not found") as err:
            await provider_factories(client)["libcloud"](infra("libcloud", LIBCLOUD, secret="none"))
        assert err.value.reason == "CredentialsMissing"
