"""The `aliyun` provider: machines as Alibaba Cloud ECS instances, on Alibaba's official SDK.

Libcloud's ECS driver cannot pass user data, so this provider speaks ECS's
own API through `alibabacloud_ecs20140526` (the generated SDK Alibaba
publishes for API version 2014-05-26), with its native asyncio calls.

`InfraProvider.spec.parameters`:

    regionId: cn-hangzhou          # required
    zoneId: cn-hangzhou-k          # optional: the zone (else ECS picks one in the region)
    imageId: debian_12_…           # required
    instanceType: ecs.g7.large     # required
    securityGroupId: sg-…          # optional
    vSwitchId: vsw-…               # optional (VPC)
    keyPairName: ops               # optional
    internetMaxBandwidthOut: 0     # optional: > 0 gives a public IP
    packages: [python3-venv]       # optional: distro packages cloud-init installs first
    agentRequirement: kubenode     # optional: what the host pip-installs
    endpoint: ecs.cn-hangzhou.aliyuncs.com   # optional: override the regional endpoint
    protocol: HTTPS                # optional (HTTP only for a local test endpoint)

Credentials: the Secret named by `spec.credentialsSecretRef`, keys
`accessKeyId`, `accessKeySecret` and optionally `securityToken` (STS).

Idempotency per machine UID: RunInstances carries `ClientToken=<uid>`, so a
repeated call (after a crash or a timeout) returns the same instance instead
of starting a second one, and every instance is tagged
`kubenode.io/machine-uid=<uid>` (and `kubenode.io/machine=<name>`), which
is how DescribeInstances finds it. The user data is the cloud-init document
every provider renders (`bootstrap.render_cloud_init`), base64-encoded as ECS
requires. providerID: `<regionId>.<instanceId>`, what Alibaba's
cloud-controller-manager writes on Nodes.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import utils_models as openapi
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException

from . import bootstrap as bs
from .base import (
    STATE_FAILED,
    STATE_MISSING,
    STATE_PENDING,
    STATE_RUNNING,
    STATE_STOPPED,
    Bootstrap,
    InfraProvider,
    InfraStatus,
    Obj,
    ProviderError,
    machine_uid,
)

log = logging.getLogger("kubenode.providers.aliyun")

TYPE = "aliyun"
TAG_UID = "kubenode.io/machine-uid"
TAG_MACHINE = "kubenode.io/machine"

#: ECS instance Status → the contract's states (an instance being released is no longer listed).
_STATES = {"Pending": STATE_PENDING, "Starting": STATE_PENDING, "Running": STATE_RUNNING,
           "Stopping": STATE_STOPPED, "Stopped": STATE_STOPPED}


@dataclass(frozen=True)
class AliyunParameters:
    """`spec.parameters` of an `aliyun` InfraProvider, checked."""

    region_id: str
    image_id: str
    instance_type: str
    zone_id: str = ""
    security_group_id: str = ""
    v_switch_id: str = ""
    key_pair_name: str = ""
    internet_max_bandwidth_out: int = 0
    agent: bs.CloudAgent = field(default_factory=lambda: bs.CloudAgent(requirement="kubenode"))
    endpoint: str = ""
    protocol: str = "HTTPS"

    @classmethod
    def from_spec(cls, params: Mapping[str, Any]) -> AliyunParameters:
        """Parse; ValueError names the field to fix."""
        def text(key: str, required: bool = False) -> str:
            value = params.get(key, "")
            if not isinstance(value, str) or (required and not value):
                raise ValueError(f"spec.parameters.{key} is required (a string)" if required
                                 else f"spec.parameters.{key} must be a string")
            return value

        bandwidth = params.get("internetMaxBandwidthOut", 0)
        if not isinstance(bandwidth, int) or isinstance(bandwidth, bool) or not 0 <= bandwidth <= 200:
            raise ValueError("spec.parameters.internetMaxBandwidthOut must be an integer from 0 to 200 (Mbit/s)")
        protocol = text("protocol").upper() or "HTTPS"
        if protocol not in ("HTTPS", "HTTP"):
            raise ValueError("spec.parameters.protocol must be HTTPS or HTTP")
        return cls(region_id=text("regionId", True), image_id=text("imageId", True),
                   instance_type=text("instanceType", True), zone_id=text("zoneId"),
                   security_group_id=text("securityGroupId"), v_switch_id=text("vSwitchId"),
                   key_pair_name=text("keyPairName"), internet_max_bandwidth_out=bandwidth,
                   agent=bs.CloudAgent.from_parameters(params, "kubenode"),
                   endpoint=text("endpoint"), protocol=protocol)


class AliyunProvider(InfraProvider):
    """ECS instances, one per Machine, found by their machine-UID tag."""

    type = TYPE

    def __init__(self, parameters: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        self.params = AliyunParameters.from_spec(parameters)
        key_id, secret = credentials.get("accessKeyId", ""), credentials.get("accessKeySecret", "")
        if not key_id or not secret:
            raise ProviderError("the credentials Secret needs accessKeyId and accessKeySecret", retryable=False,
                                reason="CredentialsMissing")
        config = openapi.Config(access_key_id=key_id, access_key_secret=secret,
                                security_token=credentials.get("securityToken") or None,
                                region_id=self.params.region_id, protocol=self.params.protocol,
                                read_timeout=30000, connect_timeout=10000)
        if self.params.endpoint:
            config.endpoint = self.params.endpoint
        self.client = Client(config)

    # ------------------------------------------------------------------ contract
    async def create(self, machine: Obj, bootstrap: Bootstrap) -> InfraStatus:
        """Find the machine's instance by tag, or run one (ClientToken = machine UID) with cloud-init."""
        uid, name = machine_uid(machine), str(machine["metadata"]["name"])
        found = await self._find(uid)
        if found is not None:
            return self._status(found)
        user_data = self.params.agent.user_data(bootstrap)
        p = self.params
        req = ecs.RunInstancesRequest(
            region_id=p.region_id, zone_id=p.zone_id or None, image_id=p.image_id, instance_type=p.instance_type,
            security_group_id=p.security_group_id or None, v_switch_id=p.v_switch_id or None,
            key_pair_name=p.key_pair_name or None, instance_name=name, host_name=_host_name(name),
            internet_max_bandwidth_out=p.internet_max_bandwidth_out or None, amount=1, client_token=uid,
            user_data=base64.b64encode(user_data.encode()).decode(),
            tag=[ecs.RunInstancesRequestTag(key=TAG_UID, value=uid),
                 ecs.RunInstancesRequestTag(key=TAG_MACHINE, value=name)])
        try:
            resp = await self.client.run_instances_async(req)
        except Exception as exc:
            raise _translate(exc, "RunInstances") from None
        ids = (resp.body.instance_id_sets.instance_id_set if resp.body and resp.body.instance_id_sets else None) or []
        if not ids:
            raise ProviderError("RunInstances returned no instance id", reason="CloudError")
        log.info("created ECS instance %s for machine %s", ids[0], name)
        found = await self._find(uid)
        if found is not None:
            return self._status(found)
        return InfraStatus(STATE_PENDING, provider_id=f"{p.region_id}.{ids[0]}", message="instance starting")

    async def delete(self, machine: Obj) -> InfraStatus:
        """Release the machine's instance (forced: running instances too); MISSING once ECS lists it no more."""
        found = await self._find(machine_uid(machine))
        if found is None:
            return InfraStatus(STATE_MISSING)
        req = ecs.DeleteInstancesRequest(region_id=self.params.region_id, instance_id=[found.instance_id],
                                         force=True, client_token=f"delete-{machine_uid(machine)}")
        try:
            await self.client.delete_instances_async(req)
        except Exception as exc:
            err = _translate(exc, "DeleteInstances")
            if "NotFound" not in str(exc):
                raise err from None
        found = await self._find(machine_uid(machine))
        if found is None:
            return InfraStatus(STATE_MISSING)
        status = self._status(found)
        status.message = f"releasing (ECS status {found.status})"
        return status

    async def state(self, machine: Obj) -> InfraStatus:
        """The instance's state, mapped to the contract's states."""
        found = await self._find(machine_uid(machine))
        return InfraStatus(STATE_MISSING) if found is None else self._status(found)

    # ------------------------------------------------------------------ helpers
    async def _find(self, uid: str) -> Any:
        req = ecs.DescribeInstancesRequest(region_id=self.params.region_id, page_size=10,
                                           tag=[ecs.DescribeInstancesRequestTag(key=TAG_UID, value=uid)])
        try:
            resp = await self.client.describe_instances_async(req)
        except Exception as exc:
            raise _translate(exc, "DescribeInstances") from None
        instances = (resp.body.instances.instance if resp.body and resp.body.instances else None) or []
        ours = [i for i in instances if any(t.tag_key == TAG_UID and t.tag_value == uid
                                            for t in ((i.tags.tag if i.tags else None) or []))]
        return ours[0] if ours else None

    def _status(self, inst: Any) -> InfraStatus:
        state = _STATES.get(str(inst.status), STATE_FAILED if inst.status else STATE_PENDING)
        addresses: list[dict[str, str]] = []
        vpc = inst.vpc_attributes
        private = (vpc.private_ip_address.ip_address if vpc and vpc.private_ip_address else None) or []
        private += (inst.inner_ip_address.ip_address if inst.inner_ip_address else None) or []
        addresses += [{"type": "InternalIP", "address": ip} for ip in private if ip]
        public = (inst.public_ip_address.ip_address if inst.public_ip_address else None) or []
        addresses += [{"type": "ExternalIP", "address": ip} for ip in public if ip]
        message = f"ECS reports {inst.status} in zone {inst.zone_id}" if inst.zone_id else f"ECS reports {inst.status}"
        return InfraStatus(state=state, provider_id=f"{inst.region_id or self.params.region_id}.{inst.instance_id}",
                           addresses=addresses, message=message)


def _host_name(name: str) -> str:
    """ECS host names: 2-64 characters of letters, digits, '.' and '-'."""
    clean = "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in name)[:64]
    return clean if len(clean) >= 2 else f"{clean}-m"


def _translate(exc: Exception, call: str) -> ProviderError:
    """SDK and network errors → ProviderError; only what cannot get better is non-retryable."""
    if isinstance(exc, ThrottlingException):
        return ProviderError(f"ECS {call}: throttled: {exc.message}", reason="RateLimited")
    if isinstance(exc, AlibabaCloudException):
        code, status = str(exc.code or ""), int(exc.status_code or 0)
        detail = f"ECS {call}: {code}: {exc.message}"
        if code.startswith(("InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")) or status in (401, 403):
            return ProviderError(detail, retryable=False, reason="InvalidCredentials")
        permanent = 400 <= status < 500 and status not in (408, 409, 429)
        return ProviderError(detail, retryable=not permanent, reason="CloudError")
    if isinstance(exc, OSError | TimeoutError):
        return ProviderError(f"ECS {call}: cannot reach the API: {exc}", reason="Unreachable")
    return ProviderError(f"ECS {call}: {exc}", reason="CloudError")


__all__ = ["TYPE", "AliyunParameters", "AliyunProvider"]
