"""Client building blocks that need no server: kubeconfig loading, resource paths, Status errors."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.apiserver.security import ensure_pki
from kubenode.client import (
    CONFIGMAPS,
    CRDS,
    LEASES,
    NODES,
    AlreadyExists,
    ApiError,
    ConfigError,
    Conflict,
    Expired,
    Gone,
    Invalid,
    NotFound,
    Resource,
    ServerError,
    TooManyRequests,
    load_config,
)
from kubenode.client.errors import error_from_response, error_from_status


def write_kubeconfig(path: Path, clusters: list[dict[str, Any]], users: list[dict[str, Any]],
                     contexts: list[dict[str, Any]], current: str) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users,
                                    "contexts": contexts, "current-context": current}))
    return path


@pytest.fixture
def pki(tmp_path: Path) -> Any:
    return ensure_pki(tmp_path / "pki", ["127.0.0.1"])


def test_token_and_ca_data(tmp_path: Path, pki: Any) -> None:
    ca = base64.b64encode(pki.ca_cert.read_bytes()).decode()
    path = write_kubeconfig(
        tmp_path / "kc",
        [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", "certificate-authority-data": ca}}],
        [{"name": "u", "user": {"token": "abc"}}],
        [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "ns1"}}], "ctx")
    cfg = load_config(path)
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.namespace == "ns1"
    assert cfg.authorization() == "Bearer abc"
    assert isinstance(cfg.ssl_context, ssl.SSLContext) and cfg.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_context_selection_relative_ca_file_token_file_and_insecure(tmp_path: Path, pki: Any) -> None:
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    (tmp_path / "tok").write_text("from-file\n")
    path = write_kubeconfig(
        tmp_path / "kc",
        [{"name": "a", "cluster": {"server": "https://a:1", "certificate-authority": "ca.crt"}},
         {"name": "b", "cluster": {"server": "https://b:2", "insecure-skip-tls-verify": True}}],
        [{"name": "ua", "user": {"tokenFile": "tok"}}, {"name": "ub", "user": {"username": "x", "password": "y"}}],
        [{"name": "one", "context": {"cluster": "a", "user": "ua"}},
         {"name": "two", "context": {"cluster": "b", "user": "ub"}}], "one")
    one = load_config(str(path))
    assert one.server == "https://a:1" and one.namespace == "default"
    assert one.authorization() == "Bearer from-file"
    two = load_config(path, context="two")
    assert two.ssl_context is not None and two.ssl_context.verify_mode == ssl.CERT_NONE
    assert two.authorization() == "Basic " + base64.b64encode(b"x:y").decode()
    with pytest.raises(ConfigError, match="three"):
        load_config(path, context="three")


def test_client_certificate_data(tmp_path: Path, pki: Any) -> None:
    # The server's own pair stands in for a client pair: only loading is tested here.
    path = write_kubeconfig(
        tmp_path / "kc", [{"name": "c", "cluster": {"server": "https://h:1"}}],
        [{"name": "u", "user": {"client-certificate-data": base64.b64encode(pki.server_cert.read_bytes()).decode(),
                                "client-key-data": base64.b64encode(pki.server_key.read_bytes()).decode()}}],
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "x")
    cfg = load_config(path)
    assert cfg.ssl_context is not None and cfg.authorization() is None


def test_client_certificate_files_are_tracked_for_rotation(tmp_path: Path, pki: Any) -> None:
    # One PEM with certificate and key, relative to the kubeconfig (as the agent writes it).
    pem = tmp_path / "agent-client.pem"
    pem.write_bytes(pki.server_cert.read_bytes() + pki.server_key.read_bytes())
    path = write_kubeconfig(
        tmp_path / "kc", [{"name": "c", "cluster": {"server": "https://h:1"}}],
        [{"name": "u", "user": {"client-certificate": "agent-client.pem", "client-key": "agent-client.pem"}}],
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "x")
    cfg = load_config(path)
    assert cfg.client_cert_file == str(pem) and cfg.client_key_file == str(pem)
    assert cfg.ssl_factory is not None and isinstance(cfg.ssl_factory(), ssl.SSLContext)
    before = cfg.client_cert_version()
    replacement = tmp_path / "new.pem"
    replacement.write_bytes(pem.read_bytes())
    replacement.replace(pem)  # an atomic rotation gives the file a new inode
    assert before is not None and cfg.client_cert_version() not in (None, before)
    # certificate data embedded in the kubeconfig cannot rotate: nothing to track
    inline = write_kubeconfig(
        tmp_path / "kc2", [{"name": "c", "cluster": {"server": "https://h:1"}}],
        [{"name": "u", "user": {"client-certificate-data": base64.b64encode(pki.server_cert.read_bytes()).decode(),
                                "client-key-data": base64.b64encode(pki.server_key.read_bytes()).decode()}}],
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "x")
    assert load_config(inline).client_cert_version() is None


def test_env_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_kubeconfig(tmp_path / "kc", [{"name": "c", "cluster": {"server": "http://env:8080"}}], [],
                            [{"name": "x", "context": {"cluster": "c"}}], "x")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{path}")
    cfg = load_config()
    assert cfg.server == "http://env:8080" and cfg.ssl_context is None
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="not running in a cluster"):
        load_config()


def test_unsupported_exec_credentials(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kc", [{"name": "c", "cluster": {"server": "http://h"}}],
        [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "x"}}}],
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "x")
    with pytest.raises(ConfigError, match="exec"):
        load_config(path)


@pytest.mark.parametrize(("res", "args", "path"), [
    (CONFIGMAPS, (None, None, None), "/api/v1/configmaps"),
    (CONFIGMAPS, ("ns", None, None), "/api/v1/namespaces/ns/configmaps"),
    (CONFIGMAPS, ("ns", "a", None), "/api/v1/namespaces/ns/configmaps/a"),
    (NODES, ("ignored", "n1", "status"), "/api/v1/nodes/n1/status"),
    (LEASES, ("kube-node-lease", "n1", None), "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"),
    (CRDS, (None, "machines.kubenode.io", None),
     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/machines.kubenode.io"),
    (Resource("kubenode.io", "v1alpha1", "machines", "Machine", False), (None, "m", "scale"),
     "/apis/kubenode.io/v1alpha1/machines/m/scale"),
])
def test_resource_paths(res: Resource, args: tuple[Any, Any, Any], path: str) -> None:
    assert res.path(*args) == path


def test_resource_api_version_and_bad_subresource() -> None:
    assert CONFIGMAPS.api_version == "v1" and LEASES.api_version == "coordination.k8s.io/v1"
    with pytest.raises(ValueError, match="subresource"):
        CONFIGMAPS.path("ns", None, "status")


@pytest.mark.parametrize(("code", "reason", "cls"), [
    (404, "NotFound", NotFound),
    (409, "AlreadyExists", AlreadyExists),
    (409, "Conflict", Conflict),
    (410, "Expired", Gone),
    (422, "Invalid", Invalid),
    (429, "TooManyRequests", TooManyRequests),
    (500, "InternalError", ServerError),
    (503, "ServiceUnavailable", ServerError),
    (418, "Teapot", ApiError),
])
def test_status_to_exception(code: int, reason: str, cls: type[ApiError]) -> None:
    err = error_from_status({"kind": "Status", "code": code, "reason": reason, "message": "m",
                             "details": {"causes": [{"field": "spec.x"}]}})
    assert type(err) is cls and err.status == code and err.reason == reason
    assert err.causes == [{"field": "spec.x"}]
    assert Expired is Gone


def test_response_without_status_body_and_retry_after() -> None:
    err = error_from_response(429, b"slow down", {"Retry-After": "3"})
    assert isinstance(err, TooManyRequests) and err.retry_after == 3.0 and "slow down" in err.message
    err = error_from_response(502, b"", {})
    assert isinstance(err, ServerError) and err.reason == "InternalError"
