"""The `libcloud` provider: machines as cloud instances through Apache Libcloud.

`InfraProvider.spec.parameters` chooses the compute driver and what to boot:

    driver: ec2            # dummy, ec2, aliyun_ecs, azure_arm, gce, openstack, …
    region: us-east-1
    image: ami-0abc…       # id (or name, for drivers that list images cheaply)
    size: t3.medium
    location: us-east-1a   # optional zone / location (azure_arm defaults to region)
    keyName: ops           # optional
    securityGroups: [sg-1] # optional
    subnet: subnet-1       # optional (ec2)
    packages: [python3-venv]            # optional: distro packages cloud-init installs first
    agentRequirement: kubenode==0.1.0   # optional: what the host pip-installs
    driverOptions: {host: …, port: …}   # optional: extra driver constructor arguments
    extra: {ex_…: …}                    # optional: extra create_node arguments

Credentials come from `spec.credentialsSecretRef` (keys `key` and `secret`,
plus driver-specific ones such as `tenant_id`, `subscription_id`, `project`);
the controller reads the Secret and passes its data in.

Idempotency per machine UID: every instance is tagged
`kubenode.io/machine-uid=<uid>` and `create` looks for that tag before it
creates anything. Drivers that keep no tags (Libcloud's dummy driver, some
clouds) are covered by a UID → node id map kept by the provider and, after a
restart, by the node name (= machine name) for nodes that carry no UID tag;
on EC2 and Aliyun the UID is also the request's client token, so even a
repeated RunInstances call cannot start a second instance.

Libcloud is blocking: every call runs in a worker thread, one at a time per
provider (drivers hold per-connection state and are not thread-safe), and
`list_nodes` answers are reused for `list_ttl` seconds so a fleet's worth of
`state()` calls costs one cloud API call per interval, not one per machine.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from libcloud.common.exceptions import BaseHTTPError, RateLimitReachedError
from libcloud.common.types import InvalidCredsError
from libcloud.compute.base import Node, NodeDriver, NodeImage, NodeLocation, NodeSize
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState

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

log = logging.getLogger("kubenode.providers.libcloud")

UID_TAG = "kubenode.io/machine-uid"
#: Azure tag names and GCE label keys may not contain "." or "/".
UID_TAG_PLAIN = "kubenode-machine-uid"

T = TypeVar("T")

_STATES: dict[str, str] = {
    NodeState.RUNNING: STATE_RUNNING,
    NodeState.NORMAL: STATE_RUNNING,
    NodeState.PENDING: STATE_PENDING,
    NodeState.STARTING: STATE_PENDING,
    NodeState.REBOOTING: STATE_PENDING,
    NodeState.RECONFIGURING: STATE_PENDING,
    NodeState.MIGRATING: STATE_PENDING,
    NodeState.UPDATING: STATE_PENDING,
    # EC2 reports "shutting-down" as UNKNOWN: a passing state, not a failure.
    NodeState.UNKNOWN: STATE_PENDING,
    NodeState.STOPPED: STATE_STOPPED,
    NodeState.STOPPING: STATE_STOPPED,
    NodeState.SUSPENDED: STATE_STOPPED,
    NodeState.PAUSED: STATE_STOPPED,
    NodeState.TERMINATED: STATE_MISSING,
    NodeState.ERROR: STATE_FAILED,
}


def map_state(node_state: str) -> str:
    """Libcloud's NodeState → the provider contract's states (unknown values count as Pending)."""
    return _STATES.get(node_state, STATE_PENDING)


@dataclass(frozen=True)
class Dialect:
    """How one Libcloud driver spells the same ideas (its create_node keywords differ per cloud)."""

    region_arg: str | None = "region"
    #: Constructor argument names for the Secret's `key` and `secret`.
    key_arg: str = "key"
    secret_arg: str | None = "secret"
    userdata_arg: str | None = None
    #: Put user data into the metadata dict under this key instead (GCE).
    userdata_metadata_key: str | None = None
    tags_arg: str | None = None
    tag_key: str = UID_TAG
    name_tag_key: str = "kubenode.io/machine"
    client_token_arg: str | None = None
    keyname_arg: str | None = None
    needs_location: bool = False


DIALECTS: dict[str, Dialect] = {
    "dummy": Dialect(region_arg=None, key_arg="creds", secret_arg=None),
    "ec2": Dialect(userdata_arg="ex_userdata", tags_arg="ex_metadata", client_token_arg="ex_clienttoken",
                   keyname_arg="ex_keyname"),
    "openstack": Dialect(region_arg="ex_force_service_region", userdata_arg="ex_userdata", tags_arg="ex_metadata",
                         keyname_arg="ex_keyname"),
    "azure_arm": Dialect(userdata_arg="ex_customdata", tags_arg="ex_tags", tag_key=UID_TAG_PLAIN,
                         name_tag_key="kubenode-machine", needs_location=True),
    "gce": Dialect(region_arg="datacenter", key_arg="user_id", secret_arg="key", userdata_metadata_key="user-data",
                   tags_arg="ex_labels", tag_key=UID_TAG_PLAIN, name_tag_key="kubenode-machine"),
    # Libcloud's ECS driver cannot pass user data: only useful with images that carry the agent.
    "aliyun_ecs": Dialect(client_token_arg="ex_client_token"),
}

#: Drivers that are allowed to boot without user data (the dummy driver cannot carry any).
_NO_USERDATA_OK = {"dummy"}


@dataclass(frozen=True)
class LibcloudParameters:
    """A validated `InfraProvider.spec.parameters` for type `libcloud`."""

    driver: str
    image: str
    size: str
    region: str = ""
    location: str = ""
    key_name: str = ""
    security_groups: tuple[str, ...] = ()
    subnet: str = ""
    agent: bs.CloudAgent = field(default_factory=bs.CloudAgent)
    driver_options: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, params: Mapping[str, Any]) -> LibcloudParameters:
        """Parse `spec.parameters`; missing or malformed values are non-retryable errors."""
        problems = [f"spec.parameters.{k} is required" for k in ("driver", "image", "size") if not params.get(k)]
        extra = dict(params.get("extra") or {})
        problems += [f"spec.parameters.extra.{k}: only ex_* create_node arguments are allowed"
                     for k in extra if not str(k).startswith("ex_")]
        driver = str(params.get("driver") or "")
        if driver and not re.fullmatch(r"[a-z0-9_]+", driver):
            problems.append(f"spec.parameters.driver {driver!r} is not a Libcloud provider name")
        if problems:
            raise ProviderError("; ".join(problems), retryable=False, reason="InvalidParameters")
        try:
            agent = bs.CloudAgent.from_parameters(params)
        except ValueError as exc:
            raise ProviderError(str(exc), retryable=False, reason="InvalidParameters") from None
        return cls(
            driver=driver, image=str(params["image"]), size=str(params["size"]),
            region=str(params.get("region") or ""), location=str(params.get("location") or ""),
            key_name=str(params.get("keyName") or ""),
            security_groups=tuple(str(g) for g in params.get("securityGroups") or ()),
            subnet=str(params.get("subnet") or ""), agent=agent,
            driver_options=dict(params.get("driverOptions") or {}), extra=extra,
        )


class LibcloudProvider(InfraProvider):
    """Cloud instances through an Apache Libcloud compute driver; see the module docstring."""

    type = "libcloud"

    def __init__(self, parameters: Mapping[str, Any], credentials: Mapping[str, str], *,
                 list_ttl: float = 5.0, driver_factory: Callable[[], NodeDriver] | None = None) -> None:
        """`parameters` = `spec.parameters`; `credentials` = the data of `spec.credentialsSecretRef`.

        `driver_factory` replaces the driver construction (a pre-built driver, e.g. in tests).
        """
        self.params = LibcloudParameters.from_spec(parameters)
        self.dialect = DIALECTS.get(self.params.driver, Dialect(userdata_arg="ex_userdata"))
        self._credentials = dict(credentials)
        self._factory = driver_factory
        self._driver: NodeDriver | None = None
        self._lock = asyncio.Lock()
        self.list_ttl = list_ttl
        self._listed: tuple[float, list[Node]] | None = None
        #: machine UID → node id, for drivers that keep no tags.
        self._known: dict[str, str] = {}

    # ------------------------------------------------------------------ contract
    async def create(self, machine: Obj, bootstrap: Bootstrap) -> InfraStatus:
        """Find the instance tagged with the machine UID, or create it with cloud-init user data."""
        uid, name = machine_uid(machine), _name(machine)
        node = await self._find(uid, name, fresh=True)
        if node is not None and map_state(node.state) != STATE_MISSING:
            return self._status(node)
        user_data = self.params.agent.user_data(bootstrap)
        node = await self._call(self._create_node, uid, name, user_data)
        self._known[uid] = str(node.id)
        self._listed = None
        log.info("created %s node %s for machine %s", self.params.driver, node.id, name)
        return self._status(node)

    async def delete(self, machine: Obj) -> InfraStatus:
        """Destroy the machine's instance; STATE_MISSING once the cloud no longer runs it."""
        uid, name = machine_uid(machine), _name(machine)
        node = await self._find(uid, name, fresh=True)
        if node is None or map_state(node.state) == STATE_MISSING:
            self._known.pop(uid, None)
            return InfraStatus(state=STATE_MISSING)
        await self._call(node.driver.destroy_node, node)
        self._listed = None
        node = await self._find(uid, name, fresh=True)
        if node is None or map_state(node.state) == STATE_MISSING:
            self._known.pop(uid, None)
            return InfraStatus(state=STATE_MISSING)
        status = self._status(node)
        status.message = f"terminating (cloud state {node.state})"
        return status

    async def state(self, machine: Obj) -> InfraStatus:
        """The instance's state, mapped to the contract's states."""
        node = await self._find(machine_uid(machine), _name(machine))
        if node is None:
            return InfraStatus(state=STATE_MISSING)
        return self._status(node)

    # ------------------------------------------------------------------ driver
    def driver(self) -> NodeDriver:
        """The (one, cached) driver; built from parameters and credentials on first use."""
        if self._driver is None:
            self._driver = self._factory() if self._factory else self._build_driver()
        return self._driver

    def _build_driver(self) -> NodeDriver:
        try:
            cls = get_driver(self.params.driver)
        except AttributeError:
            raise ProviderError(f"Apache Libcloud has no compute driver {self.params.driver!r}", retryable=False,
                                reason="InvalidParameters") from None
        creds = dict(self._credentials)
        kwargs: dict[str, Any] = {}
        if "key" in creds:
            kwargs[self.dialect.key_arg] = creds.pop("key")
        secret = creds.pop("secret", None)
        if secret is not None and self.dialect.secret_arg:
            kwargs[self.dialect.secret_arg] = secret
        kwargs.update(creds)  # driver-specific: tenant_id, subscription_id, project, …
        if self.params.region and self.dialect.region_arg:
            kwargs[self.dialect.region_arg] = self.params.region
        kwargs.update(self.params.driver_options)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ProviderError(f"cannot set up Libcloud driver {self.params.driver!r}: {exc}", retryable=False,
                                reason="InvalidParameters") from None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking Libcloud call in a thread, serialized, with errors translated."""
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, *args)
            except ProviderError:
                raise
            except Exception as exc:
                raise _translate(exc, self.params.driver) from exc

    def _list(self) -> list[Node]:
        return list(self.driver().list_nodes())

    async def _nodes(self, fresh: bool = False) -> list[Node]:
        now = time.monotonic()
        if not fresh and self._listed is not None and now - self._listed[0] < self.list_ttl:
            return self._listed[1]
        nodes = await self._call(self._list)
        self._listed = (time.monotonic(), nodes)
        return nodes

    async def _find(self, uid: str, name: str, *, fresh: bool = False) -> Node | None:
        """The machine's node: by UID tag, else by remembered id, else by name among untagged nodes."""
        nodes = await self._nodes(fresh)
        live = [n for n in nodes if map_state(n.state) != STATE_MISSING]
        by_tag = [n for n in live if _tags(n).get(self.dialect.tag_key) == uid]
        if by_tag:
            return by_tag[0]
        known = self._known.get(uid)
        if known is not None:
            for n in nodes:  # terminated ones too: they tell delete() the node is gone
                if str(n.id) == known:
                    return n
            return None
        by_name = [n for n in live if n.name == name and self.dialect.tag_key not in _tags(n)]
        return by_name[0] if by_name else None

    def _create_node(self, uid: str, name: str, user_data: str) -> Node:
        """Blocking: resolve image, size and location, then create the tagged node."""
        d, p, dialect = self.driver(), self.params, self.dialect
        kwargs: dict[str, Any] = {"name": name, "image": self._image(d), "size": self._size(d)}
        location = self._location(d)
        if location is not None:
            kwargs["location"] = location
        if dialect.tags_arg:
            kwargs[dialect.tags_arg] = {dialect.tag_key: uid, dialect.name_tag_key: name}
        if dialect.userdata_arg:
            kwargs[dialect.userdata_arg] = user_data
        elif dialect.userdata_metadata_key:
            kwargs["ex_metadata"] = {dialect.userdata_metadata_key: user_data}
        elif p.driver not in _NO_USERDATA_OK:
            raise ProviderError(f"the Libcloud driver {p.driver!r} cannot pass cloud-init user data, so the host "
                                "would boot without the agent; use an image with the agent preinstalled and "
                                "the ssh provider, or another driver", retryable=False, reason="Unsupported")
        if dialect.client_token_arg:
            kwargs[dialect.client_token_arg] = uid  # the cloud dedups repeated requests with the same token
        if p.key_name and dialect.keyname_arg:
            kwargs[dialect.keyname_arg] = p.key_name
        if p.driver == "ec2":
            self._ec2_network(d, kwargs)
        kwargs.update(p.extra)
        node = d.create_node(**kwargs)
        if isinstance(node, list):  # EC2 returns a list when the cloud answers with several
            node = node[0]
        return node

    def _ec2_network(self, d: NodeDriver, kwargs: dict[str, Any]) -> None:
        p = self.params
        if p.subnet:
            subnets = d.ex_list_subnets(subnet_ids=[p.subnet])  # type: ignore[attr-defined]
            if not subnets:
                raise ProviderError(f"subnet {p.subnet!r} not found", retryable=False, reason="InvalidParameters")
            kwargs["ex_subnet"] = subnets[0]
        if p.security_groups:
            # Group ids (sg-…) only work together with a subnet; plain names work in the default VPC.
            by_id = p.subnet and all(g.startswith("sg-") for g in p.security_groups)
            kwargs["ex_security_group_ids" if by_id else "ex_security_groups"] = list(p.security_groups)

    def _image(self, d: NodeDriver) -> NodeImage:
        want = self.params.image
        try:
            return d.get_image(want)
        except NotImplementedError:
            pass
        except (IndexError, KeyError, LookupError):
            raise ProviderError(f"image {want!r} not found", retryable=False, reason="InvalidParameters") from None
        except BaseHTTPError as exc:
            if exc.code not in (400, 404):
                raise
            raise ProviderError(f"image {want!r} not found: the cloud answered HTTP {exc.code} {exc.message}".strip(),
                                retryable=False, reason="InvalidParameters") from None
        for image in d.list_images():
            if want in (str(image.id), image.name):
                return image
        raise ProviderError(f"image {want!r} not found", retryable=False, reason="InvalidParameters")

    def _size(self, d: NodeDriver) -> NodeSize:
        want = self.params.size
        try:
            sizes = d.list_sizes()
        except NotImplementedError:
            sizes = []
        for size in sizes:
            if want in (str(size.id), size.name):
                return size
        # Size lists are often incomplete (pricing data lags new instance types): let the cloud judge.
        return NodeSize(id=want, name=want, ram=0, disk=0, bandwidth=None, price=0.0, driver=d)

    def _location(self, d: NodeDriver) -> NodeLocation | None:
        want = self.params.location or (self.params.region if self.dialect.needs_location else "")
        if not want:
            return None
        for loc in d.list_locations():
            if want in (str(loc.id), loc.name):
                return loc
        raise ProviderError(f"location {want!r} not found", retryable=False, reason="InvalidParameters")

    # ------------------------------------------------------------------ status
    def _status(self, node: Node) -> InfraStatus:
        state = map_state(node.state)
        addresses = [{"type": "InternalIP", "address": ip} for ip in node.private_ips or () if ip]
        addresses += [{"type": "ExternalIP", "address": ip} for ip in node.public_ips or () if ip]
        message = f"cloud reports {node.state}" if state in (STATE_FAILED, STATE_STOPPED) else ""
        return InfraStatus(state=state, provider_id=self.provider_id(node), addresses=addresses, message=message)

    def provider_id(self, node: Node) -> str:
        """`aws:///<zone>/<id>` on EC2 (what the AWS cloud provider writes), else `libcloud://driver/region/id`."""
        if self.params.driver == "ec2":
            zone = (node.extra or {}).get("availability") or ""
            return f"aws:///{zone}/{node.id}"
        return f"libcloud://{self.params.driver}/{self.params.region}/{node.id}"


def _tags(node: Node) -> dict[str, str]:
    """Tags, metadata or labels, whichever this driver reports (EC2/Azure, OpenStack, GCE)."""
    extra = node.extra or {}
    out: dict[str, str] = {}
    for key in ("labels", "metadata", "tags"):
        value = extra.get(key)
        if isinstance(value, Mapping):
            out.update({str(k): str(v) for k, v in value.items()})
    return out


def _translate(exc: Exception, driver: str) -> ProviderError:
    """Libcloud and network errors → ProviderError; only what cannot get better is non-retryable."""
    if isinstance(exc, InvalidCredsError):
        return ProviderError(f"{driver}: the credentials were rejected: {exc}", retryable=False,
                             reason="InvalidCredentials")
    if isinstance(exc, RateLimitReachedError):
        return ProviderError(f"{driver}: rate limited: {exc}", reason="RateLimited")
    if isinstance(exc, BaseHTTPError):
        # A malformed or refused request fails the same way again; timeouts, conflicts and 5xx may not.
        permanent = 400 <= int(exc.code or 0) < 500 and exc.code not in (408, 409, 429)
        return ProviderError(f"{driver}: HTTP {exc.code}: {exc.message}", retryable=not permanent,
                             reason="CloudError")
    if isinstance(exc, OSError | TimeoutError):
        return ProviderError(f"{driver}: cannot reach the cloud API: {exc}", reason="Unreachable")
    # Libcloud raises plain exceptions for most API errors (e.g. EC2's "InvalidAMIID.NotFound: …").
    return ProviderError(f"{driver}: {exc}", reason="CloudError")


def _name(machine: Obj) -> str:
    return str(machine["metadata"]["name"])
