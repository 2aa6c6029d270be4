"""Authentication on the real embedded server: bootstrap tokens, CSRs and client certificates, bound SA tokens."""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubenode.apiserver.authz import Attributes, Authorizer
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server

from .kube import Kube
from .polling import eventually

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SECRETS = "/api/v1/namespaces/kube-system/secrets"


def _bootstrappers_may_request(a: Attributes) -> bool | None:
    """What kube's system:node-bootstrapper ClusterRole grants (RBAC is another engineer's part)."""
    if "system:bootstrappers" in a.user.groups and a.group == "certificates.k8s.io" and \
            a.resource == "certificatesigningrequests" and a.verb in ("create", "get", "list", "watch"):
        return True
    return None


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[RunningServer]:
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0, csr_max_seconds=3600),
                                authorizer=Authorizer([_bootstrappers_may_request]))
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def admin(srv: RunningServer) -> AsyncIterator[Kube]:
    k = Kube(srv)
    try:
        yield k
    finally:
        await k.close()


def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def bootstrap_secret(token_id: str, secret: str, *, expires_in: float | None = 3600, auth: str = "true",
                     groups: str = "") -> dict[str, Any]:
    data = {"token-id": _b64(token_id), "token-secret": _b64(secret), "usage-bootstrap-authentication": _b64(auth)}
    if expires_in is not None:
        data["expiration"] = _b64(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in)))
    if groups:
        data["auth-extra-groups"] = _b64(groups)
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"}, "data": data}


def new_csr(cn: str, orgs: tuple[str, ...] = ()) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn), *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
                                                            for o in orgs)]
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
    return key, _b64(req.public_bytes(serialization.Encoding.PEM))


def csr_body(name: str, request: str, *, usages: tuple[str, ...] = ("digital signature", "client auth"),
             signer: str = "kubernetes.io/kube-apiserver-client", seconds: int | None = 900) -> dict[str, Any]:
    spec: dict[str, Any] = {"request": request, "signerName": signer, "usages": list(usages)}
    if seconds is not None:
        spec["expirationSeconds"] = seconds
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": spec}


async def whoami(srv: RunningServer, *, token: str | None = None, cert: tuple[Path, Path] | None = None) -> Any:
    ctx = ssl.create_default_context(cafile=str(srv.pki.ca_cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as s, s.post(
            srv.url + WHOAMI, data=orjson.dumps({"kind": "SelfSubjectReview",
                                                 "apiVersion": "authentication.k8s.io/v1"}),
            headers=headers, ssl=ctx) as resp:
        body = orjson.loads(await resp.read())
        return resp.status, body


async def approve(admin: Kube, name: str) -> None:
    csr = (await admin.get(f"{CSRS}/{name}")).json
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]}
    r = await admin.put(f"{CSRS}/{name}/approval", csr)
    assert r.status == 200, r


# ------------------------------------------------------------------------------------------ bootstrap tokens
async def test_bootstrap_token_authenticates_and_creates_csr(srv: RunningServer, admin: Kube) -> None:
    r = await admin.post(SECRETS, bootstrap_secret("abcdef", "0123456789abcdef",
                                                   groups="system:bootstrappers:kubenode:m1"))
    assert r.status == 201, r
    status, me = await whoami(srv, token="abcdef.0123456789abcdef")
    assert status == 201, me
    assert me["status"]["userInfo"] == {"username": "system:bootstrap:abcdef", "groups": [
        "system:bootstrappers:kubenode:m1", "system:bootstrappers", "system:authenticated"]}
    assert (await whoami(srv, token="abcdef.0123456789abcdee"))[0] == 401  # wrong secret

    _, request = new_csr("kubenode:agent:m1", ("kubenode:agents",))
    body = csr_body("m1-1", request)
    body["spec"]["username"] = "system:admin"  # the server records who really asked
    tok = Kube(srv, token="abcdef.0123456789abcdef")
    try:
        r = await tok.post(CSRS, body)
        assert r.status == 201, r
        spec = r.json["spec"]
        assert spec["username"] == "system:bootstrap:abcdef"
        assert "system:bootstrappers" in spec["groups"]
        assert "status" not in r.json or not r.json["status"].get("conditions")
        # spec is immutable, even for the admin
        r = await admin.patch(f"{CSRS}/m1-1", {"spec": {"username": "someone"}})
        assert r.status == 200 and r.json["spec"]["username"] == "system:bootstrap:abcdef"
    finally:
        await tok.close()
    table = await admin.get(CSRS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    cols = [c["name"] for c in table.json["columnDefinitions"]]
    assert cols == ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    assert table.json["rows"][0]["cells"][2:] == ["kubernetes.io/kube-apiserver-client", "system:bootstrap:abcdef",
                                                 "15m", "Pending"]


@pytest.mark.parametrize("secret", [
    bootstrap_secret("aaaaaa", "0123456789abcdef", expires_in=-5),  # expired
    bootstrap_secret("aaaaaa", "0123456789abcdef", auth="false"),  # not for authentication
    bootstrap_secret("aaaaaa", "0123456789abcdef", groups="system:masters"),  # extra group not allowed
])
async def test_unusable_bootstrap_tokens_are_refused(srv: RunningServer, admin: Kube, secret: dict[str, Any]) -> None:
    assert (await admin.post(SECRETS, secret)).status == 201
    status, body = await whoami(srv, token="aaaaaa.0123456789abcdef")
    assert status == 401, body


async def test_expired_bootstrap_token_is_refused_and_deleted(srv: RunningServer, admin: Kube) -> None:
    assert (await admin.post(SECRETS, bootstrap_secret("bbbbbb", "0123456789abcdef", expires_in=1.5))).status == 201
    assert (await whoami(srv, token="bbbbbb.0123456789abcdef"))[0] == 201

    async def gone() -> bool:
        return (await admin.get(f"{SECRETS}/bootstrap-token-bbbbbb")).status == 404

    await eventually(gone, within=30, what="the token cleaner deleting the expired bootstrap token")
    assert (await whoami(srv, token="bbbbbb.0123456789abcdef"))[0] == 401


# ------------------------------------------------------------------------------------------ CSRs and certificates
async def test_approved_csr_is_signed_and_the_certificate_authenticates(srv: RunningServer, admin: Kube,
                                                                       tmp_path: Path) -> None:
    key, request = new_csr("kubenode:agent:m2", ("kubenode:agents",))
    assert (await admin.post(CSRS, csr_body("m2", request, seconds=7200))).status == 201
    await approve(admin, "m2")

    async def issued() -> Any:
        return ((await admin.get(f"{CSRS}/m2")).json.get("status") or {}).get("certificate")

    cert_b64 = await eventually(issued, what="the signer issuing the certificate")
    pem = base64.b64decode(cert_b64)
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.rfc4514_string() == "O=kubenode:agents,CN=kubenode:agent:m2"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 3600 <= lifetime.total_seconds() <= 3600 + 300  # min(7200 asked, 3600 max) + 5 min backdating
    csr = (await admin.get(f"{CSRS}/m2")).json
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Approved"]

    crt, k = tmp_path / "c.crt", tmp_path / "c.key"
    crt.write_bytes(pem)
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    status, me = await whoami(srv, cert=(crt, k))
    assert status == 201, me
    assert me["status"]["userInfo"] == {"username": "kubenode:agent:m2",
                                        "groups": ["kubenode:agents", "system:authenticated"]}


async def test_csr_that_does_not_fit_its_signer_fails(admin: Kube) -> None:
    _, request = new_csr("kubenode:agent:m3")
    assert (await admin.post(CSRS, csr_body("m3", request, usages=("client auth", "server auth")))).status == 201
    await approve(admin, "m3")

    async def failed() -> Any:
        conds = ((await admin.get(f"{CSRS}/m3")).json.get("status") or {}).get("conditions") or []
        return [c for c in conds if c["type"] == "Failed"]

    (cond,) = await eventually(failed, what="a Failed condition")
    assert cond["reason"] == "SignerValidationFailure"
    assert "certificate" not in (await admin.get(f"{CSRS}/m3")).json["status"]


async def test_pending_or_denied_csr_is_never_signed(srv: RunningServer, admin: Kube) -> None:
    _, request = new_csr("kubenode:agent:m4")
    assert (await admin.post(CSRS, csr_body("m4", request))).status == 201
    csr = (await admin.get(f"{CSRS}/m4")).json
    csr["status"] = {"conditions": [{"type": "Denied", "status": "True", "reason": "No", "message": "no"}]}
    assert (await admin.put(f"{CSRS}/m4/approval", csr)).status == 200
    # the signer's pass is synchronous: after it, a denied CSR still has no certificate
    assert srv.auth_loops is not None
    assert srv.auth_loops[0].sign_pass(time.time()) == []
    assert "certificate" not in (await admin.get(f"{CSRS}/m4")).json["status"]
    # a status write cannot remove the denial nor add a certificate
    csr = (await admin.get(f"{CSRS}/m4")).json
    csr["status"] = {"certificate": _b64("junk")}
    r = await admin.put(f"{CSRS}/m4/status", csr)
    assert r.status == 422, r


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b["spec"].update(request=_b64("not a pem")), "spec.request"),
    (lambda b: b["spec"].pop("signerName"), "spec.signerName"),
    (lambda b: b["spec"].update(signerName="nodomain"), "spec.signerName"),
    (lambda b: b["spec"].update(usages=["client auth", "client auth"]), "spec.usages[1]"),
    (lambda b: b["spec"].update(usages=["flying"]), "spec.usages[0]"),
    (lambda b: b["spec"].update(expirationSeconds=60), "spec.expirationSeconds"),
])
async def test_invalid_csr_is_422_with_field(admin: Kube, mutate: Any, field: str) -> None:
    _, request = new_csr("x")
    body = csr_body("bad", request)
    mutate(body)
    r = await admin.post(CSRS, body)
    assert r.status == 422, r
    assert field in [c["field"] for c in r.json["details"]["causes"]]


# ------------------------------------------------------------------------------------------ ServiceAccount tokens
async def _sa(admin: Kube, name: str) -> dict[str, Any]:
    r = await admin.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": name}})
    assert r.status == 201, r
    return r.json


async def _token(admin: Kube, sa: str, spec: dict[str, Any] | None = None) -> Any:
    return await admin.post(f"/api/v1/namespaces/default/serviceaccounts/{sa}/token",
                            {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": spec or {}})


async def test_recreated_service_account_does_not_revive_tokens(srv: RunningServer, admin: Kube) -> None:
    sa = await _sa(admin, "robot")
    r = await _token(admin, "robot")
    assert r.status == 201 and r.json["spec"]["expirationSeconds"] == 3600
    token = r.json["status"]["token"]
    status, me = await whoami(srv, token=token)
    assert status == 201
    assert me["status"]["userInfo"]["uid"] == sa["metadata"]["uid"]
    assert (await admin.delete("/api/v1/namespaces/default/serviceaccounts/robot")).status == 200
    assert (await whoami(srv, token=token))[0] == 401
    await _sa(admin, "robot")
    assert (await whoami(srv, token=token))[0] == 401


async def test_pod_bound_token_names_pod_and_node_and_dies_with_the_pod(srv: RunningServer, admin: Kube) -> None:
    await _sa(admin, "agent")
    node = (await admin.post("/api/v1/nodes", {"metadata": {"name": "n1"}})).json
    pod = (await admin.post("/api/v1/namespaces/default/pods", {
        "metadata": {"name": "agent-x"},
        "spec": {"serviceAccountName": "agent", "nodeName": "n1", "containers": [{"name": "a", "image": "i"}]},
    })).json
    r = await _token(admin, "agent", {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "agent-x",
                                                         "uid": pod["metadata"]["uid"]}, "expirationSeconds": 600})
    assert r.status == 201, r
    token = r.json["status"]["token"]
    status, me = await whoami(srv, token=token)
    assert status == 201, me
    assert me["status"]["userInfo"]["extra"] == {
        "authentication.kubernetes.io/node-name": ["n1"],
        "authentication.kubernetes.io/node-uid": [node["metadata"]["uid"]],
        "authentication.kubernetes.io/pod-name": ["agent-x"],
        "authentication.kubernetes.io/pod-uid": [pod["metadata"]["uid"]],
    }
    assert (await admin.delete("/api/v1/namespaces/default/pods/agent-x")).status == 200
    assert (await whoami(srv, token=token))[0] == 401


@pytest.mark.parametrize(("ref", "code"), [
    ({"kind": "Pod", "apiVersion": "v1", "name": "missing"}, 404),
    ({"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}, 422),
    ({"kind": "Pod", "apiVersion": "v1", "name": "other-sa"}, 400),
    ({"kind": "Pod", "apiVersion": "v1", "name": "other-sa", "uid": "wrong"}, 409),
])
async def test_bad_bound_object_refs(admin: Kube, ref: dict[str, Any], code: int) -> None:
    await _sa(admin, "agent")
    await admin.post("/api/v1/namespaces/default/pods", {
        "metadata": {"name": "other-sa"}, "spec": {"serviceAccountName": "someone-else",
                                                   "containers": [{"name": "a", "image": "i"}]}})
    r = await _token(admin, "agent", {"boundObjectRef": ref})
    assert r.status == code, r


async def test_secret_bound_token_dies_with_the_secret(srv: RunningServer, admin: Kube) -> None:
    await _sa(admin, "robot")
    assert (await admin.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}})).status == 201
    r = await _token(admin, "robot", {"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s"}})
    token = r.json["status"]["token"]
    assert (await whoami(srv, token=token))[0] == 201
    assert (await admin.delete("/api/v1/namespaces/default/secrets/s")).status == 200
    assert (await whoami(srv, token=token))[0] == 401


# ------------------------------------------------------------------------------------------ the token file
async def test_a_token_revoked_by_another_process_is_refused_within_the_recheck_interval(
        srv: RunningServer) -> None:
    """The server looks at tokens.json at most every TOKEN_RECHECK_SECONDS: another process's changes (a
    `kubenode` command revoking a token) take effect by then, on every connection."""
    import asyncio

    from kubenode.apiserver.security import TOKEN_RECHECK_SECONDS, TokenStore, User

    other = TokenStore(srv.config.data_dir / "tokens.json")  # as a separate process opens it
    robot = User("robot", ("system:authenticated",))
    token = other.issue(robot)
    await asyncio.sleep(TOKEN_RECHECK_SECONDS)
    status, me = await whoami(srv, token=token)
    assert status == 201 and me["status"]["userInfo"]["username"] == "robot"
    assert other.revoke_user("robot") == 1
    await asyncio.sleep(TOKEN_RECHECK_SECONDS)
    assert (await whoami(srv, token=token))[0] == 401
    assert (await whoami(srv, token=srv.admin_token))[0] == 201  # the others' tokens stay good
