"""The `libcloud` provider: Libcloud's dummy driver in-process, and the real EC2 driver against moto's EC2 server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
import yaml
from libcloud.compute.base import Node
from libcloud.compute.drivers import ec2 as libcloud_ec2
from libcloud.compute.drivers.dummy import DummyNodeDriver
from libcloud.compute.types import NodeState
from moto.server import ThreadedMotoServer

from kubenode.apiserver.server import free_port
from kubenode.providers.base import (
    STATE_FAILED,
    STATE_MISSING,
    STATE_PENDING,
    STATE_RUNNING,
    STATE_STOPPED,
    Bootstrap,
    ProviderError,
)
from kubenode.providers.libcloud_provider import UID_TAG, LibcloudProvider

from .polling import eventually

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
AMI = "ami-12c6146b"  # one of the AMIs moto ships


def machine(name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine", "metadata": {"name": name, "uid": uid},
            "spec": {"providerRef": {"name": "cloud"}}}


def boot(m: dict[str, Any]) -> Bootstrap:
    return Bootstrap(m["metadata"]["name"], m["metadata"]["uid"], m["metadata"]["name"], kubeconfig=KUBECONFIG)


# ---------------------------------------------------------------------------- dummy driver
DUMMY = {"driver": "dummy", "image": "1", "size": "Small"}


def dummy_provider(driver: DummyNodeDriver | None = None) -> tuple[LibcloudProvider, DummyNodeDriver]:
    d = driver or DummyNodeDriver(0)
    return LibcloudProvider(DUMMY, {"key": "0"}, list_ttl=0, driver_factory=lambda: d), d


async def test_dummy_create_is_idempotent_and_state_maps() -> None:
    p, d = dummy_provider()
    m = machine("cloud-1", "uid-1")
    before = len(d.list_nodes())
    assert (await p.state(m)).state == STATE_MISSING

    created = await p.create(m, boot(m))
    assert created.state == STATE_RUNNING
    node_id = created.provider_id.rsplit("/", 1)[1]
    assert created.provider_id == f"libcloud://dummy//{node_id}"
    assert created.addresses == [{"type": "ExternalIP", "address": f"127.0.0.{node_id}"}]
    assert (await p.create(m, boot(m))).provider_id == created.provider_id
    assert len(d.list_nodes()) == before + 1

    node = next(n for n in d.list_nodes() if str(n.id) == node_id)
    for cloud_state, expected in [(NodeState.REBOOTING, STATE_PENDING), (NodeState.STARTING, STATE_PENDING),
                                  (NodeState.STOPPED, STATE_STOPPED), (NodeState.SUSPENDED, STATE_STOPPED),
                                  (NodeState.ERROR, STATE_FAILED), (NodeState.RUNNING, STATE_RUNNING)]:
        node.state = cloud_state
        status = await p.state(m)
        assert status.state == expected, cloud_state
    node.state = NodeState.ERROR
    assert "error" in (await p.state(m)).message
    node.state = NodeState.RUNNING

    assert (await p.delete(m)).state == STATE_MISSING
    assert [n for n in d.list_nodes() if str(n.id) == node_id] == []
    assert (await p.state(m)).state == STATE_MISSING
    assert (await p.delete(m)).state == STATE_MISSING
    assert len(d.list_nodes()) == before


async def test_untagged_node_is_found_by_machine_name_after_a_restart() -> None:
    d = DummyNodeDriver(0)
    # What a previous operator process created on a driver that keeps names but no tags.
    d.nl.append(Node(id="legacy", name="cloud-2", state=NodeState.RUNNING, public_ips=[], private_ips=["10.0.0.9"],
                     driver=d, extra={}))
    p, _ = dummy_provider(d)
    m = machine("cloud-2", "uid-2")
    status = await p.create(m, boot(m))
    assert status.provider_id == "libcloud://dummy//legacy"
    assert status.addresses == [{"type": "InternalIP", "address": "10.0.0.9"}]
    assert len(d.list_nodes()) == 3  # the two default dummy nodes plus the adopted one

    # A node tagged for another machine UID is never adopted by name.
    d.nl.append(Node(id="other", name="cloud-3", state=NodeState.RUNNING, public_ips=[], private_ips=[], driver=d,
                     extra={"tags": {UID_TAG: "someone-else"}}))
    m3 = machine("cloud-3", "uid-3")
    assert (await p.state(m3)).state == STATE_MISSING


async def test_invalid_parameters_are_permanent_errors() -> None:
    with pytest.raises(ProviderError) as err:
        LibcloudProvider({"driver": "ec2", "extra": {"UserData": "x"}}, {})
    assert not err.value.retryable
    assert "image is required" in str(err.value) and "only ex_*" in str(err.value)
    with pytest.raises(ProviderError) as err:
        LibcloudProvider({"driver": "dummy", "image": "1", "size": "s", "agentRequirement": "--index-url=evil"}, {})
    assert err.value.reason == "InvalidParameters"
    p = LibcloudProvider({"driver": "no_such_cloud", "image": "1", "size": "s"}, {})
    m = machine("x", "uid-x")
    with pytest.raises(ProviderError) as err:
        await p.state(m)
    assert not err.value.retryable and "no compute driver" in str(err.value)


# ---------------------------------------------------------------------------- EC2 against moto
@pytest.fixture
def moto_ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto keeps its backends per process: start every test from an empty cloud.
    requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=10)
    # moto 5.2 answers with xmlns ".../2016-11-15" where AWS (and Libcloud) use ".../2016-11-15/";
    # without the slash Libcloud's XPath finds no instances. A test-only adjustment for moto.
    monkeypatch.setattr(libcloud_ec2, "NAMESPACE", libcloud_ec2.NAMESPACE.rstrip("/"))
    try:
        yield port
    finally:
        server.stop()


def ec2_provider(port: int) -> LibcloudProvider:
    params = {"driver": "ec2", "region": "us-east-1", "image": AMI, "size": "t3.micro",
              "securityGroups": ["default"], "packages": ["python3-venv"],
              # Signature V4 names the service in the request, which moto needs to route it to EC2.
              "driverOptions": {"host": "127.0.0.1", "port": port, "secure": False, "signature_version": "4"}}
    return LibcloudProvider(params, {"key": "testing", "secret": "testing"}, list_ttl=0)


def boto_ec2(port: int) -> Any:
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def live_instances(client: Any) -> list[dict[str, Any]]:
    reservations = client.describe_instances()["Reservations"]
    return [i for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"]


async def test_ec2_lifecycle_against_moto(moto_ec2: int) -> None:
    p, client = ec2_provider(moto_ec2), boto_ec2(moto_ec2)
    m = machine("cloud-a", "6f1d2c3b-aaaa-4bbb-8ccc-123456789abc")

    created = await p.create(m, boot(m))
    assert created.state in (STATE_PENDING, STATE_RUNNING)
    [inst] = live_instances(client)
    assert created.provider_id == f"aws:///{inst['Placement']['AvailabilityZone']}/{inst['InstanceId']}"
    assert {"type": "InternalIP", "address": inst["PrivateIpAddress"]} in created.addresses
    assert {"type": "ExternalIP", "address": inst["PublicIpAddress"]} in created.addresses
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags[UID_TAG] == m["metadata"]["uid"] and tags["kubenode.io/machine"] == "cloud-a"

    attr = client.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(attr["UserData"]["Value"]).decode()
    assert user_data.startswith("#cloud-config\n")
    cfg = yaml.safe_load(user_data)
    assert cfg["packages"] == ["python3-venv"]
    files = {f["path"]: f for f in cfg["write_files"]}
    # the user data carries the bootstrap kubeconfig; the agent writes /etc/kubenode/kubeconfig itself
    assert files["/etc/kubenode/bootstrap-kubeconfig"]["content"] == KUBECONFIG
    assert files["/etc/kubenode/bootstrap-kubeconfig"]["permissions"] == "0600"
    assert "/etc/kubenode/kubeconfig" not in files
    assert ["systemctl", "enable", "--now", "kubenode-agent.service"] in cfg["runcmd"]

    # Idempotent: again, and from a fresh provider (an operator restart) that only has the tag to go by.
    assert (await p.create(m, boot(m))).provider_id == created.provider_id
    assert (await ec2_provider(moto_ec2).create(m, boot(m))).provider_id == created.provider_id
    assert len(live_instances(client)) == 1

    async def is_(state: str) -> bool:
        return (await p.state(m)).state == state

    await eventually(lambda: is_(STATE_RUNNING), within=30.0, what="the instance to run")
    client.stop_instances(InstanceIds=[inst["InstanceId"]])
    await eventually(lambda: is_(STATE_STOPPED), within=30.0, what="the stopped instance to be reported")
    client.start_instances(InstanceIds=[inst["InstanceId"]])
    await eventually(lambda: is_(STATE_RUNNING), within=30.0, what="the restarted instance to be reported")

    async def deleted() -> bool:
        return (await p.delete(m)).state == STATE_MISSING

    await eventually(deleted, within=30.0, what="delete() to report the instance gone")
    assert live_instances(client) == []
    assert (await p.state(m)).state == STATE_MISSING
    assert (await ec2_provider(moto_ec2).state(m)).state == STATE_MISSING

    # A new Machine with a new UID gets a new instance (the terminated one is not reused).
    m2 = machine("cloud-a", "0a0a0a0a-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    again = await p.create(m2, boot(m2))
    assert again.provider_id != created.provider_id
    assert len(live_instances(client)) == 1
    await eventually(lambda: _deleted(p, m2), within=30.0, what="cleanup")


async def _deleted(p: LibcloudProvider, m: dict[str, Any]) -> bool:
    return (await p.delete(m)).state == STATE_MISSING


async def test_ec2_unknown_image_is_reported(moto_ec2: int) -> None:
    params = {"driver": "ec2", "region": "us-east-1", "image": "ami-00000000", "size": "t3.micro",
              "driverOptions": {"host": "127.0.0.1", "port": moto_ec2, "secure": False, "signature_version": "4"}}
    p = LibcloudProvider(params, {"key": "testing", "secret": "testing"}, list_ttl=0)
    m = machine("cloud-b", "uid-b")
    with pytest.raises(ProviderError) as err:
        await p.create(m, boot(m))
    assert "ami-00000000" in str(err.value) and not err.value.retryable
