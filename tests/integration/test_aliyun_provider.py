"""The `aliyun` provider: the real `alibabacloud_ecs20140526` SDK against a protocol-level ECS double.

`ecs_double.FakeEcs` is a test double of ECS's wire protocol (signed RPC requests, documented JSON answers and
error bodies) on loopback — no ECS is reachable from the test machines. `test_live_*` runs the same lifecycle
against real ECS only when credentials are in the environment (ALIYUN_ACCESS_KEY_ID, ALIYUN_ACCESS_KEY_SECRET,
ALIYUN_REGION_ID, ALIYUN_IMAGE_ID, ALIYUN_INSTANCE_TYPE and optionally ALIYUN_ZONE_ID, ALIYUN_VSWITCH_ID,
ALIYUN_SECURITY_GROUP_ID); it starts one pay-as-you-go instance and releases it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from kubenode.providers.aliyun_provider import TAG_MACHINE, TAG_UID, AliyunProvider
from kubenode.providers.base import STATE_MISSING, STATE_PENDING, STATE_RUNNING, Bootstrap, ProviderError

from .ecs_double import FakeEcs, serve_ecs

CREDS = {"accessKeyId": "test-ak", "accessKeySecret": "test-secret"}


def params(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"regionId": "cn-hangzhou", "zoneId": "cn-hangzhou-k", "imageId": "debian_12_x64", "instanceType":
            "ecs.g7.large", "vSwitchId": "vsw-1", "securityGroupId": "sg-1", "endpoint": endpoint,
            "protocol": "HTTP", **extra}


def machine(name: str = "m1") -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": str(uuid.uuid4())}}


def boot(m: dict[str, Any]) -> Bootstrap:
    return Bootstrap(m["metadata"]["name"], m["metadata"]["uid"], m["metadata"]["name"], "apiVersion: v1\n")


@pytest.fixture
async def ecs() -> AsyncIterator[tuple[FakeEcs, str]]:
    fake = FakeEcs()
    async with serve_ecs(fake) as endpoint:
        yield fake, endpoint


async def test_lifecycle_with_user_data_tags_zone_and_client_token(ecs: tuple[FakeEcs, str]) -> None:
    fake, endpoint = ecs
    p = AliyunProvider(params(endpoint), CREDS)
    m = machine()
    st = await p.create(m, boot(m))
    assert st.state in (STATE_PENDING, STATE_RUNNING)
    (run,) = fake.actions("RunInstances")
    assert run["ClientToken"] == m["metadata"]["uid"]
    assert run["ZoneId"] == "cn-hangzhou-k" and run["RegionId"] == "cn-hangzhou"
    assert run["VSwitchId"] == "vsw-1" and run["SecurityGroupId"] == "sg-1"
    assert {run["Tag.1.Key"]: run["Tag.1.Value"], run["Tag.2.Key"]: run["Tag.2.Value"]} == {
        TAG_UID: m["metadata"]["uid"], TAG_MACHINE: "m1"}
    cloud_init = yaml.safe_load(base64.b64decode(run["UserData"]))
    # the user data carries the bootstrap kubeconfig (issue 9); the agent writes /etc/kubenode/kubeconfig itself
    assert any(f["path"] == "/etc/kubenode/bootstrap-kubeconfig" and f["permissions"] == "0600"
               for f in cloud_init["write_files"])
    assert not any(f["path"] == "/etc/kubenode/kubeconfig" for f in cloud_init["write_files"])
    (inst,) = fake.instances.values()
    assert inst["ZoneId"] == "cn-hangzhou-k"
    st = await p.state(m)
    assert st.state == STATE_RUNNING
    assert st.provider_id == f"cn-hangzhou.{inst['InstanceId']}"
    assert st.addresses == [{"type": "InternalIP", "address": "172.16.0.1"}]
    # a second create finds the instance by its tag and runs nothing
    await p.create(m, boot(m))
    assert len(fake.actions("RunInstances")) == 1
    assert (await p.delete(m)).state == STATE_MISSING
    assert fake.instances == {}
    assert (await p.delete(m)).state == STATE_MISSING  # idempotent
    assert (await p.state(m)).state == STATE_MISSING


async def test_a_repeated_run_after_a_lost_answer_starts_no_second_instance(ecs: tuple[FakeEcs, str]) -> None:
    fake, endpoint = ecs
    p = AliyunProvider(params(endpoint), CREDS)
    m = machine()
    first = await p.create(m, boot(m))
    # The controller crashed before recording the instance and its tag is not visible to DescribeInstances
    # (tags settle after the instance): the repeated create runs the instance again, with the same ClientToken.
    fake.instances[next(iter(fake.instances))]["Tags"]["Tag"] = []
    again = await p.create(m, boot(m))
    assert len(fake.actions("RunInstances")) == 2
    assert len(fake.instances) == 1  # ECS answered with the instance the first call started
    assert again.provider_id == first.provider_id


async def test_machines_in_two_regions_are_kept_apart(ecs: tuple[FakeEcs, str]) -> None:
    fake, endpoint = ecs
    hz = AliyunProvider(params(endpoint), CREDS)
    bj = AliyunProvider(params(endpoint, regionId="cn-beijing", zoneId="cn-beijing-h"), CREDS)
    a, b = machine("a"), machine("b")
    await hz.create(a, boot(a))
    await bj.create(b, boot(b))
    assert sorted(i["RegionId"] for i in fake.instances.values()) == ["cn-beijing", "cn-hangzhou"]
    assert (await hz.state(b)).state == STATE_MISSING
    assert (await bj.state(b)).provider_id.startswith("cn-beijing.i-")


@pytest.mark.parametrize(("extra", "creds", "reason", "retryable", "text"), [
    ({"zoneId": "cn-hangzhou-z"}, CREDS, "CloudError", False, "InvalidZoneId.NotFound"),
    ({"regionId": "xx-nowhere-1", "zoneId": ""}, CREDS, "CloudError", False, "InvalidRegionId.NotFound"),
    ({}, {"accessKeyId": "other", "accessKeySecret": "s"}, "InvalidCredentials", False, "InvalidAccessKeyId"),
    ({}, {"accessKeyId": "test-ak", "accessKeySecret": "wrong"}, "CloudError", False, "IncompleteSignature"),
])
async def test_cloud_errors_are_reported_with_ecs_codes(ecs: tuple[FakeEcs, str], extra: dict[str, Any],
                                                       creds: dict[str, str], reason: str, retryable: bool,
                                                       text: str) -> None:
    _, endpoint = ecs
    p = AliyunProvider(params(endpoint, **extra), creds)
    m = machine()
    with pytest.raises(ProviderError) as exc:
        await p.create(m, boot(m))
    assert exc.value.reason == reason and exc.value.retryable is retryable
    assert text in str(exc.value)


async def test_a_server_error_is_retryable(ecs: tuple[FakeEcs, str]) -> None:
    fake, endpoint = ecs
    fake.unavailable["DescribeInstances"] = 1
    p = AliyunProvider(params(endpoint), CREDS)
    with pytest.raises(ProviderError) as exc:
        await p.state(machine())
    assert exc.value.retryable and "ServiceUnavailable" in str(exc.value)


@pytest.mark.parametrize(("bad", "creds", "text"), [
    ({"regionId": ""}, CREDS, "regionId is required"),
    ({"imageId": 5}, CREDS, "imageId is required"),
    ({"internetMaxBandwidthOut": 500}, CREDS, "internetMaxBandwidthOut"),
    ({"protocol": "ftp"}, CREDS, "protocol must be HTTPS or HTTP"),
    ({}, {"accessKeyId": "x"}, "accessKeyId and accessKeySecret"),
])
def test_bad_parameters_say_what_to_fix(bad: dict[str, Any], creds: dict[str, str], text: str) -> None:
    with pytest.raises((ValueError, ProviderError)) as exc:
        AliyunProvider(params("127.0.0.1:1", **bad), creds)
    assert text in str(exc.value)


LIVE = {k: os.environ.get(f"ALIYUN_{k}", "") for k in (
    "ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "REGION_ID", "IMAGE_ID", "INSTANCE_TYPE", "ZONE_ID", "VSWITCH_ID",
    "SECURITY_GROUP_ID")}


@pytest.mark.skipif(not all(LIVE[k] for k in ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "REGION_ID", "IMAGE_ID",
                                              "INSTANCE_TYPE")),
                    reason="opt-in: set ALIYUN_ACCESS_KEY_ID, ALIYUN_ACCESS_KEY_SECRET, ALIYUN_REGION_ID, "
                           "ALIYUN_IMAGE_ID and ALIYUN_INSTANCE_TYPE to run against real ECS")
async def test_live_lifecycle_against_real_ecs() -> None:
    p = AliyunProvider({"regionId": LIVE["REGION_ID"], "imageId": LIVE["IMAGE_ID"],
                        "instanceType": LIVE["INSTANCE_TYPE"], "zoneId": LIVE["ZONE_ID"],
                        "vSwitchId": LIVE["VSWITCH_ID"], "securityGroupId": LIVE["SECURITY_GROUP_ID"]},
                       {"accessKeyId": LIVE["ACCESS_KEY_ID"], "accessKeySecret": LIVE["ACCESS_KEY_SECRET"]})
    m = machine("kubenode-live-test")
    try:
        st = await p.create(m, boot(m))
        assert st.provider_id.startswith(LIVE["REGION_ID"] + ".i-")
        again = await p.create(m, boot(m))
        assert again.provider_id == st.provider_id
    finally:
        for _ in range(60):  # releasing takes a while on real ECS: poll, bounded
            if (await p.delete(m)).state == STATE_MISSING:
                break
            await asyncio.sleep(5)
