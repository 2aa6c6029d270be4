"""The official Python client (`kubernetes` on PyPI), typed models and all, the way a user drives it.

It is synchronous (urllib3), so every call runs in a thread while the
embedded server keeps serving on this test's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch
from kubernetes.client.rest import ApiException

from kubenode.apiserver.rest import WriteOptions
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server

from .kube import Kube
from .polling import eventually

T = TypeVar("T")
NS = "default"


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[k8s.ApiClient]:
    client = await call(k8s_config.new_client_from_config, config_file=str(server.kubeconfig))
    try:
        yield client
    finally:
        await call(client.close)


@pytest.fixture
def core(api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api)


def nginx(name: str, **spec: Any) -> k8s.V1Pod:
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name),
                     spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="web", image="nginx")], **spec))


def error_body(exc: ApiException) -> Any:
    return orjson.loads(exc.body)


# --------------------------------------------------------------------------- DELETE answers


def deleted_event_rv(core: k8s.CoreV1Api, since: str) -> str | None:
    """The resourceVersion of the first DELETED pod event after `since` (an informer's view)."""
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, NS, resource_version=since, timeout_seconds=10):
        if event["type"] == "DELETED":
            w.stop()
            return str(event["object"].metadata.resource_version)
    return None


async def test_deleting_a_pod_returns_the_typed_pod(core: k8s.CoreV1Api) -> None:
    created = await call(core.create_namespaced_pod, NS, nginx("doomed"))
    deleted = await call(core.delete_namespaced_pod, "doomed", NS)
    assert isinstance(deleted, k8s.V1Pod)
    assert deleted.metadata.uid == created.metadata.uid
    assert deleted.spec.containers[0].image == "nginx"
    # the deletion's resourceVersion, the one its DELETED watch event carries
    assert int(deleted.metadata.resource_version) > int(created.metadata.resource_version)
    assert await call(deleted_event_rv, core, created.metadata.resource_version) == deleted.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        await call(core.read_namespaced_pod, "doomed", NS)
    assert exc.value.status == 404


async def test_a_dry_run_delete_returns_the_pod_and_keeps_it(core: k8s.CoreV1Api) -> None:
    created = await call(core.create_namespaced_pod, NS, nginx("kept"))
    deleted = await call(core.delete_namespaced_pod, "kept", NS, dry_run="All")
    assert isinstance(deleted, k8s.V1Pod) and deleted.metadata.uid == created.metadata.uid
    assert (await call(core.read_namespaced_pod, "kept", NS)).metadata.uid == created.metadata.uid


async def test_deleting_a_service_account_returns_it(core: k8s.CoreV1Api) -> None:
    await call(core.create_namespaced_service_account, NS, k8s.V1ServiceAccount(
        metadata=k8s.V1ObjectMeta(name="robot")))
    deleted = await call(core.delete_namespaced_service_account, "robot", NS)
    assert isinstance(deleted, k8s.V1ServiceAccount) and deleted.metadata.name == "robot"


@pytest.mark.parametrize(
    ("create", "delete", "body"),
    [
        ("create_namespaced_secret", "delete_namespaced_secret", k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="x"))),
        ("create_namespaced_config_map", "delete_namespaced_config_map",
         k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="x"))),
    ],
)
async def test_other_kinds_answer_a_status(core: k8s.CoreV1Api, create: str, delete: str, body: Any) -> None:
    created = await call(getattr(core, create), NS, body)
    answer = await call(getattr(core, delete), "x", NS)
    # typed as "object" by the client: a plain dict, a Status as kube's registries answer
    assert answer["kind"] == "Status" and answer["status"] == "Success"
    assert answer["details"]["name"] == "x" and answer["details"]["uid"] == created.metadata.uid


async def test_deleting_a_namespace_returns_it_terminating(core: k8s.CoreV1Api) -> None:
    await call(core.create_namespace, k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="short-lived")))
    answer = await call(core.delete_namespace, "short-lived")
    assert answer["kind"] == "Namespace" and answer["status"]["phase"] == "Terminating"


# --------------------------------------------------------------------------- pod defaults and admission


async def test_a_new_pod_carries_kubes_defaults(core: k8s.CoreV1Api) -> None:
    pod = await call(core.create_namespaced_pod, NS, nginx("defaults"))
    spec = pod.spec
    assert (spec.restart_policy, spec.dns_policy, spec.scheduler_name) == ("Always", "ClusterFirst",
                                                                          "default-scheduler")
    assert spec.termination_grace_period_seconds == 30 and spec.enable_service_links is True
    assert isinstance(spec.security_context, k8s.V1PodSecurityContext)
    assert (spec.service_account_name, spec.service_account) == ("default", "default")
    assert (spec.priority, spec.preemption_policy) == (0, "PreemptLowerPriority")
    container = spec.containers[0]
    assert container.image_pull_policy == "Always"  # no tag means :latest
    assert (container.termination_message_path, container.termination_message_policy) == (
        "/dev/termination-log", "File")
    assert pod.status.phase == "Pending" and pod.status.qos_class == "BestEffort"
    assert [(t.key, t.effect, t.operator, t.toleration_seconds) for t in spec.tolerations] == [
        ("node.kubernetes.io/not-ready", "NoExecute", "Exists", 300),
        ("node.kubernetes.io/unreachable", "NoExecute", "Exists", 300),
    ]


async def test_create_a_pod_then_append_a_toleration(core: k8s.CoreV1Api) -> None:
    """The JSON patch path /spec/tolerations/- exists only because admission added the default two."""
    await call(core.create_namespaced_pod, NS, nginx("tolerant"))
    patched = await call(core.patch_namespaced_pod, "tolerant", NS, [
        {"op": "add", "path": "/spec/tolerations/-",
         "value": {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}},
    ])
    assert [t.key for t in patched.spec.tolerations] == [
        "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "dedicated"]


async def test_a_pod_with_limits_is_guaranteed(core: k8s.CoreV1Api) -> None:
    pod = nginx("sized")
    pod.spec.containers[0].image = "nginx:1.27"
    pod.spec.containers[0].resources = k8s.V1ResourceRequirements(limits={"cpu": "500m", "memory": "64Mi"})
    pod.spec.containers[0].ports = [k8s.V1ContainerPort(container_port=80)]
    created = await call(core.create_namespaced_pod, NS, pod)
    container = created.spec.containers[0]
    assert container.image_pull_policy == "IfNotPresent"
    assert container.resources.requests == {"cpu": "500m", "memory": "64Mi"}
    assert container.ports[0].protocol == "TCP"
    assert created.status.qos_class == "Guaranteed"


# --------------------------------------------------------------------------- the default ServiceAccount


async def default_account(core: k8s.CoreV1Api, namespace: str) -> k8s.V1ServiceAccount | None:
    try:
        return await call(core.read_namespaced_service_account, "default", namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def test_a_new_namespace_gets_a_default_service_account(core: k8s.CoreV1Api) -> None:
    await call(core.create_namespace, k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="team-a")))
    account = await eventually(lambda: default_account(core, "team-a"), what="the default ServiceAccount")
    assert account.metadata.namespace == "team-a"
    # ...and pods created there run as it
    pod = await call(core.create_namespaced_pod, "team-a", nginx("p"))
    assert pod.spec.service_account_name == "default"


async def test_the_system_namespaces_have_one(core: k8s.CoreV1Api) -> None:
    for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
        await eventually(lambda ns=namespace: default_account(core, ns), what=f"default ServiceAccount in {namespace}")


async def test_a_deleted_default_service_account_comes_back(core: k8s.CoreV1Api) -> None:
    first = await eventually(lambda: default_account(core, NS), what="the default ServiceAccount")
    await call(core.delete_namespaced_service_account, "default", NS)

    async def recreated() -> k8s.V1ServiceAccount | None:
        account = await default_account(core, NS)
        return account if account is not None and account.metadata.uid != first.metadata.uid else None

    await eventually(recreated, what="a new default ServiceAccount")


async def test_a_token_does_not_pass_to_a_recreated_default_account(core: k8s.CoreV1Api,
                                                                    server: RunningServer) -> None:
    """Tokens are bound to the account's UID, as kube's are: re-creation does not revive them."""
    await eventually(lambda: default_account(core, NS), what="the default ServiceAccount")
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
    old = (await call(core.create_namespaced_service_account_token, "default", NS, request)).status.token
    first = await default_account(core, NS)
    assert first is not None
    await call(core.delete_namespaced_service_account, "default", NS)

    async def recreated() -> k8s.V1ServiceAccount | None:
        account = await default_account(core, NS)
        return account if account is not None and account.metadata.uid != first.metadata.uid else None

    await eventually(recreated, what="a new default ServiceAccount")
    new = (await call(core.create_namespaced_service_account_token, "default", NS, request)).status.token
    for token, status in ((old, 401), (new, 403)):  # the new token authenticates (and may do nothing)
        user = Kube(server, token=token)
        try:
            assert (await user.get("/api/v1/namespaces/default/configmaps")).status == status
        finally:
            await user.close()


async def test_namespaces_that_exist_at_startup_get_one(tmp_path: Path) -> None:
    """A namespace written while no controller ran (an older server's data) is covered on the next start."""
    config = ServerConfig(data_dir=tmp_path / "data", port=0)
    srv = await start_server(config)
    try:
        await srv.loops.stop()  # no controllers from here on
        info = srv.api.registry.lookup("", "v1", "namespaces")
        assert info is not None
        await srv.api.api.create(info, "", {"metadata": {"name": "legacy"}}, WriteOptions()).wait()
        assert srv.store.get("/serviceaccounts/legacy/default") is None
    finally:
        await srv.stop()
    srv = await start_server(config)
    try:
        client = await call(k8s_config.new_client_from_config, config_file=str(srv.kubeconfig))
        try:
            await eventually(lambda: default_account(k8s.CoreV1Api(client), "legacy"),
                             what="the default ServiceAccount of a namespace that existed at startup")
        finally:
            await call(client.close)
    finally:
        await srv.stop()


# --------------------------------------------------------------------------- base64 of []byte fields


def wrapped(data: bytes, width: int = 76, newline: str = "\n") -> str:
    """`base64` with its default line wrapping (76 columns; `openssl base64` uses 64)."""
    encoded = base64.b64encode(data).decode()
    return newline.join(encoded[i:i + width] for i in range(0, len(encoded), width)) + newline


PEM = (b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bytes(range(256)) * 3) +
       b"-----END CERTIFICATE-----\n")


@pytest.mark.parametrize(("width", "newline"), [(76, "\n"), (64, "\n"), (76, "\r\n")])
async def test_a_secret_with_line_wrapped_base64_is_accepted(core: k8s.CoreV1Api, width: int,
                                                            newline: str) -> None:
    body = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="tls"), type="kubernetes.io/tls",
                        data={"tls.crt": wrapped(PEM, width, newline), "tls.key": wrapped(b"key", width, newline)})
    created = await call(core.create_namespaced_secret, NS, body)
    # stored as kube stores it: the decoded bytes, re-encoded without line breaks
    assert created.data["tls.crt"] == base64.b64encode(PEM).decode()
    read = await call(core.read_namespaced_secret, "tls", NS)
    assert base64.b64decode(read.data["tls.crt"]) == PEM and read.type == "kubernetes.io/tls"


@pytest.mark.parametrize("bad", ["not base64!", "YQ", "YW Jj", "_-8="])
async def test_other_invalid_base64_is_422_with_the_field(core: k8s.CoreV1Api, bad: str) -> None:
    body = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="bad"), data={"key": bad})
    with pytest.raises(ApiException) as exc:
        await call(core.create_namespaced_secret, NS, body)
    assert exc.value.status == 422
    status = error_body(exc.value)
    assert status["reason"] == "Invalid"
    assert any(c["field"] == "data[key]" and "illegal base64 data" in c["message"]
               for c in status["details"]["causes"]), status


async def test_a_config_map_with_line_wrapped_binary_data(core: k8s.CoreV1Api) -> None:
    blob = bytes(range(256)) * 2
    created = await call(core.create_namespaced_config_map, NS, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="blob"), binary_data={"blob.bin": wrapped(blob)}))
    assert created.binary_data["blob.bin"] == base64.b64encode(blob).decode()
    with pytest.raises(ApiException) as exc:
        await call(core.create_namespaced_config_map, NS, k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name="bad"), binary_data={"blob.bin": "YW Jj"}))
    assert exc.value.status == 422
    assert any(c["field"] == "binaryData.blob.bin" for c in error_body(exc.value)["details"]["causes"])


# --------------------------------------------------------------------------- status codes of a pending delete


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({}, 200),
        ({"propagationPolicy": "Foreground"}, 200),
        ({"orphanDependents": True}, 200),
        ({"orphanDependents": False}, 202),  # kube's DELETE handler keeps 202 for this old form only
    ],
)
async def test_a_delete_held_by_a_finalizer_answers_the_object(kube: Kube, options: dict[str, Any],
                                                              code: int) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    await kube.post(path, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    r = await kube.delete(path + "/held", options)
    assert r.status == code and r.json["kind"] == "ConfigMap" and r.json["metadata"]["deletionTimestamp"]
    again = await kube.delete(path + "/held", options)  # already being deleted: the same answer
    assert again.status == code and again.json["kind"] == "ConfigMap"


async def test_a_gated_pod_says_why_it_is_not_scheduled(core: k8s.CoreV1Api) -> None:
    pod = await call(core.create_namespaced_pod, NS, nginx("gated", scheduling_gates=[
        k8s.V1PodSchedulingGate(name="example.com/quota")]))
    [condition] = pod.status.conditions
    assert (condition.type, condition.status, condition.reason) == ("PodScheduled", "False", "SchedulingGated")
