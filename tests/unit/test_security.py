"""Tests for kubenode.apiserver.security: PKI, TLS contexts, tokens, kubeconfig."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import stat
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubenode.apiserver.security import (
    PKIPaths,
    TokenStore,
    TokenStoreError,
    User,
    client_ssl_context,
    ensure_pki,
    server_ssl_context,
    write_kubeconfig,
)

KUBECTL = shutil.which("kubectl")
ADMIN = User("kubenode:admin", ("system:masters",))
NODE = User("system:node:m1", ("system:nodes", "kubenode:agents"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _snapshot(paths: PKIPaths) -> dict[str, bytes]:
    return {
        "ca_cert": paths.ca_cert.read_bytes(),
        "ca_key": paths.ca_key.read_bytes(),
        "server_cert": paths.server_cert.read_bytes(),
        "server_key": paths.server_key.read_bytes(),
    }


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- PKI


def test_ensure_pki_modes(tmp_path: Path) -> None:
    pki = tmp_path / "data" / "pki"
    paths = ensure_pki(pki)
    assert _mode(pki) == 0o700
    assert _mode(paths.ca_key) == 0o600
    assert _mode(paths.server_key) == 0o600
    assert _mode(paths.ca_cert) == 0o644
    assert _mode(paths.server_cert) == 0o644
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in pki.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]


def test_ensure_pki_tightens_existing_dir(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    pki.mkdir(mode=0o755)
    os.chmod(pki, 0o755)
    ensure_pki(pki)
    assert _mode(pki) == 0o700


def test_ensure_pki_reuses_files(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path / "pki")
    before = _snapshot(first)
    second = ensure_pki(tmp_path / "pki")
    assert second == first
    assert _snapshot(second) == before


def test_certificate_contents(tmp_path: Path) -> None:
    paths = ensure_pki(tmp_path / "pki", ["127.0.0.1", "localhost", "::1", "Node-1.Example.com"])
    ca, server = _cert(paths.ca_cert), _cert(paths.server_cert)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign
    ca_days = (ca.not_valid_after_utc - ca.not_valid_before_utc).days
    assert 3649 <= ca_days <= 3651

    server.verify_directly_issued_by(ca)
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "node-1.example.com"]
    server_days = (server.not_valid_after_utc - server.not_valid_before_utc).days
    assert 364 <= server_days <= 366
    assert server.serial_number > 0  # Go rejects negative serials


@pytest.mark.parametrize(
    ("hosts", "expect_dns", "expect_ips"),
    [
        (["localhost", "LOCALHOST", "localhost"], ["localhost"], []),
        (["[::1]", "::1", "0:0:0:0:0:0:0:1"], [], ["::1"]),
        (["10.0.0.1", "api.local"], ["api.local"], ["10.0.0.1"]),
    ],
)
def test_san_normalisation(
    tmp_path: Path, hosts: list[str], expect_dns: list[str], expect_ips: list[str]
) -> None:
    paths = ensure_pki(tmp_path / "pki", hosts)
    san = _cert(paths.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == expect_dns
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == expect_ips


@pytest.mark.parametrize("hosts", [[], [""], ["  "]])
def test_bad_hosts_rejected_before_writing(tmp_path: Path, hosts: list[str]) -> None:
    with pytest.raises(ValueError):
        ensure_pki(tmp_path / "pki", hosts)
    assert not (tmp_path / "pki").exists()


NOW = dt.datetime.now(dt.UTC)


def _other_ca_server(paths: PKIPaths, tmp_path: Path) -> None:
    """Replace the server pair with one issued by an unrelated CA."""
    other = ensure_pki(tmp_path / "other")
    shutil.copy(other.server_cert, paths.server_cert)
    shutil.copy(other.server_key, paths.server_key)


@pytest.mark.parametrize(
    ("case", "first_now", "second_hosts", "tamper", "server_reissued", "ca_regenerated"),
    [
        ("same hosts", NOW, ("127.0.0.1", "localhost", "::1"), None, False, False),
        ("subset of hosts", NOW, ("localhost",), None, False, False),
        ("new host", NOW, ("127.0.0.1", "localhost", "::1", "10.1.2.3"), None, True, False),
        ("new dns name", NOW, ("127.0.0.1", "localhost", "::1", "api.example"), None, True, False),
        ("65 days left", NOW - dt.timedelta(days=300), None, None, False, False),
        ("25 days left", NOW - dt.timedelta(days=340), None, None, True, False),
        ("expired", NOW - dt.timedelta(days=400), None, None, True, False),
        ("server key lost", NOW, None, "rm-server-key", True, False),
        ("server cert lost", NOW, None, "rm-server-cert", True, False),
        ("server key garbage", NOW, None, "garbage-server-key", True, False),
        ("server from other CA", NOW, None, "other-ca", True, False),
        ("ca key lost", NOW, None, "rm-ca-key", True, True),
    ],
)
def test_reissue(
    tmp_path: Path,
    case: str,
    first_now: dt.datetime,
    second_hosts: tuple[str, ...] | None,
    tamper: str | None,
    server_reissued: bool,
    ca_regenerated: bool,
) -> None:
    paths = ensure_pki(tmp_path / "pki", now=first_now)
    before = _snapshot(paths)
    if tamper == "rm-server-key":
        paths.server_key.unlink()
    elif tamper == "rm-server-cert":
        paths.server_cert.unlink()
    elif tamper == "garbage-server-key":
        paths.server_key.write_bytes(b"not a key")
    elif tamper == "other-ca":
        _other_ca_server(paths, tmp_path)
    elif tamper == "rm-ca-key":
        paths.ca_key.unlink()

    if second_hosts is None:
        ensure_pki(tmp_path / "pki", now=NOW)
    else:
        ensure_pki(tmp_path / "pki", second_hosts, now=NOW)
    after = _snapshot(paths)

    assert (after["ca_cert"] != before["ca_cert"]) is ca_regenerated, case
    assert (after["ca_key"] != before["ca_key"]) is ca_regenerated, case
    assert (after["server_cert"] != before["server_cert"]) is server_reissued, case
    server = _cert(paths.server_cert)
    server.verify_directly_issued_by(_cert(paths.ca_cert))
    assert server.not_valid_after_utc - NOW > dt.timedelta(days=30)
    if second_hosts and server_reissued:
        san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert len(list(san)) == len(second_hosts)
    assert _mode(paths.server_key) == 0o600
    # A third run is a no-op again.
    assert _snapshot(ensure_pki(tmp_path / "pki", second_hosts or ("127.0.0.1", "localhost", "::1"))) == after


# --------------------------------------------------------------------------- TLS


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read(100)
    writer.write(data.upper())
    await writer.drain()
    writer.close()


async def _tls_roundtrip(host: str, port: int, ctx: ssl.SSLContext, server_hostname: str) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=server_hostname)
    try:
        writer.write(b"ping")
        await writer.drain()
        return await reader.read(100)
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    ("bind", "server_hostname", "ok"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "localhost", True),
        ("127.0.0.1", "api.kubenode.test", True),
        ("127.0.0.1", "evil.example.com", False),
        ("127.0.0.1", "127.0.0.2", False),
        pytest.param(
            "::1",
            "::1",
            True,
            marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback"),
        ),
    ],
)
async def test_tls_chain_and_san(tmp_path: Path, bind: str, server_hostname: str, ok: bool) -> None:
    paths = ensure_pki(tmp_path / "pki", ["127.0.0.1", "localhost", "::1", "api.kubenode.test"])
    server = await asyncio.start_server(_echo, bind, 0, ssl=server_ssl_context(paths))
    port = server.sockets[0].getsockname()[1]
    try:
        ctx = client_ssl_context(paths.ca_cert)
        if ok:
            assert await _tls_roundtrip(bind, port, ctx, server_hostname) == b"PING"
        else:
            with pytest.raises(ssl.SSLCertVerificationError):
                await _tls_roundtrip(bind, port, ctx, server_hostname)
    finally:
        server.close()
        await server.wait_closed()


async def test_tls_rejects_foreign_ca_and_old_protocols(tmp_path: Path) -> None:
    paths = ensure_pki(tmp_path / "pki")
    foreign = ensure_pki(tmp_path / "foreign")
    server_ctx = server_ssl_context(paths)
    assert server_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_ssl_context(paths.ca_cert).minimum_version == ssl.TLSVersion.TLSv1_2
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await _tls_roundtrip("127.0.0.1", port, client_ssl_context(foreign.ca_cert), "127.0.0.1")
    finally:
        server.close()
        await server.wait_closed()


# --------------------------------------------------------------------------- tokens


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


def test_issue_and_authenticate(store: TokenStore) -> None:
    admin_token = store.issue(ADMIN)
    node_token = store.issue(NODE)
    assert admin_token != node_token
    assert len(admin_token) >= 43
    assert store.authenticate(f"Bearer {admin_token}") == ADMIN
    assert store.authenticate(f"Bearer {node_token}") == NODE
    assert _mode(store.path) == 0o600


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer {t}", True),
        ("bearer {t}", True),
        ("BEARER {t}", True),
        ("  Bearer {t}  ", True),
        ("Bearer\t{t}", True),
        (None, False),
        ("", False),
        ("Bearer", False),
        ("Bearer ", False),
        ("{t}", False),
        ("Basic {t}", False),
        ("Token {t}", False),
        ("Bearer {t} extra", False),
        ("Bearer {t}x", False),
        ("Bearer x{t}", False),
        ("Bearer {T}", False),
        ("Bearer " + "a" * 10_000, False),
        ("Bearer tok\x00en", False),
    ],
)
def test_authenticate_header_forms(store: TokenStore, header: str | None, ok: bool) -> None:
    token = store.issue(ADMIN)
    # Make the upper-cased variant differ from the real token in any case.
    value = None if header is None else header.format(t=token, T=token.upper() + "Z")
    assert store.authenticate(value) == (ADMIN if ok else None)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(max_size=80))
def test_arbitrary_headers_never_raise_or_match(store: TokenStore, header: str) -> None:
    if not store.path.exists():
        store.issue(ADMIN)
    assert store.authenticate(header) is None
    assert store.authenticate("Bearer " + header) is None


def test_file_holds_only_hashes(store: TokenStore) -> None:
    token = store.issue(ADMIN)
    raw = store.path.read_text()
    assert token not in raw
    doc = json.loads(raw)
    assert doc["version"] == 1
    (entry,) = doc["tokens"].values()
    assert entry == {"user": "kubenode:admin", "groups": ["system:masters"]}


def test_persistence_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tokens.json"
    token = TokenStore(path).issue(NODE)
    reopened = TokenStore(path)
    assert reopened.authenticate(f"Bearer {token}") == NODE
    assert reopened.authenticate(f"Bearer {token}").groups == ("system:nodes", "kubenode:agents")  # type: ignore[union-attr]


def test_changes_by_another_instance_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    server_side, cli_side = TokenStore(path), TokenStore(path)
    first = cli_side.issue(ADMIN)
    assert server_side.authenticate(f"Bearer {first}") == ADMIN
    # Both instances mutate: neither write may lose the other's token.
    second = server_side.issue(NODE)
    third = cli_side.issue(NODE)
    for token, user in [(first, ADMIN), (second, NODE), (third, NODE)]:
        assert server_side.authenticate(f"Bearer {token}") == user
        assert cli_side.authenticate(f"Bearer {token}") == user
    assert cli_side.revoke_user(NODE.name) == 2
    assert server_side.authenticate(f"Bearer {second}") is None
    assert server_side.authenticate(f"Bearer {first}") == ADMIN


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("change", "elapsed", "seen"),
    [
        # Another process's revocation is seen once `recheck_seconds` have passed since the last look, not before.
        ("revoke", 0.0, False),
        ("revoke", 0.099, False),
        ("revoke", 0.1, True),
        ("revoke", 5.0, True),
        ("delete file", 0.05, False),
        ("delete file", 0.1, True),
        ("break file", 0.1, True),
    ],
)
def test_recheck_interval_bounds_how_long_other_processes_changes_take(
    tmp_path: Path, change: str, elapsed: float, seen: bool
) -> None:
    path = tmp_path / "tokens.json"
    clock = _Clock()
    server_side = TokenStore(path, recheck_seconds=0.1, clock=clock)
    other = TokenStore(path)  # another process: `kubenode` revoking, an operator editing the file
    token = other.issue(NODE)
    clock.now += 0.1
    assert server_side.authenticate(f"Bearer {token}") == NODE
    if change == "revoke":
        other.revoke_user(NODE.name)
    elif change == "delete file":
        path.unlink()
    else:
        path.write_text("{ not json")
    clock.now += elapsed
    assert server_side.authenticate(f"Bearer {token}") == (None if seen else NODE)
    clock.now += 0.1
    assert server_side.authenticate(f"Bearer {token}") is None  # and stays so


def test_own_changes_are_seen_at_once_with_a_recheck_interval(tmp_path: Path) -> None:
    clock = _Clock()
    store = TokenStore(tmp_path / "tokens.json", recheck_seconds=10.0, clock=clock)
    token = store.issue(ADMIN)
    assert store.authenticate(f"Bearer {token}") == ADMIN
    assert store.revoke_user(ADMIN.name) == 1
    assert store.authenticate(f"Bearer {token}") is None
    assert store.authenticate("Bearer not-a-token") is None
    assert store.authenticate(f"Bearer {token}") is None  # the digest cache answers the same


@pytest.mark.parametrize(
    ("issue", "revoke", "expected_count", "survivors"),
    [
        (["admin", "node", "node"], "system:node:m1", 2, {"admin"}),
        (["admin", "node"], "kubenode:admin", 1, {"node"}),
        (["admin"], "nobody", 0, {"admin"}),
        ([], "kubenode:admin", 0, set()),
    ],
)
def test_revoke_user(
    store: TokenStore, issue: list[str], revoke: str, expected_count: int, survivors: set[str]
) -> None:
    users = {"admin": ADMIN, "node": NODE}
    tokens = [(kind, store.issue(users[kind])) for kind in issue]
    assert store.revoke_user(revoke) == expected_count
    reopened = TokenStore(store.path)
    for kind, token in tokens:
        expected = users[kind] if kind in survivors else None
        assert store.authenticate(f"Bearer {token}") == expected
        assert reopened.authenticate(f"Bearer {token}") == expected


def test_ensure_is_idempotent(store: TokenStore, tmp_path: Path) -> None:
    token_file = tmp_path / "secrets" / "admin.token"
    token = store.ensure(ADMIN, token_file)
    assert _mode(token_file) == 0o600
    assert token_file.read_text().strip() == token
    assert store.ensure(ADMIN, token_file) == token
    assert TokenStore(store.path).ensure(ADMIN, token_file) == token
    assert store.authenticate(f"Bearer {token}") == ADMIN
    assert len(json.loads(store.path.read_text())["tokens"]) == 1


@pytest.mark.parametrize(
    ("file_content", "old_stays_valid_as"),
    [
        ("garbage-not-a-token\n", None),
        ("", None),
        ("two words", None),
        ("NODE_TOKEN", NODE),  # someone else's token: replaced in the file, not revoked
        ("ADMIN_OLD_GROUPS", None),  # same user, different groups: revoked
        ("REVOKED", None),
    ],
)
def test_ensure_replaces_unusable_token_file(
    store: TokenStore, tmp_path: Path, file_content: str, old_stays_valid_as: User | None
) -> None:
    token_file = tmp_path / "admin.token"
    if file_content == "NODE_TOKEN":
        file_content = store.issue(NODE)
    elif file_content == "ADMIN_OLD_GROUPS":
        file_content = store.issue(User(ADMIN.name, ()))
    elif file_content == "REVOKED":
        file_content = store.issue(ADMIN)
        store.revoke_user(ADMIN.name)
    token_file.write_text(file_content)
    token = store.ensure(ADMIN, token_file)
    assert token != file_content.strip()
    assert token_file.read_text().strip() == token
    assert store.authenticate(f"Bearer {token}") == ADMIN
    if file_content.strip() and " " not in file_content:
        assert store.authenticate(f"Bearer {file_content.strip()}") == old_stays_valid_as


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b"[]",
        b'{"version": 2, "tokens": {}}',
        b'{"version": 1, "tokens": {"x": {"groups": []}}}',
        b'{"version": 1, "tokens": {"x": {"user": "u", "groups": "g"}}}',
    ],
)
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(TokenStoreError):
        TokenStore(path)


@pytest.mark.parametrize(("offset", "valid"), [(-1.0, False), (0.0, False), (3600.0, True), (None, True)])
def test_tokens_expire_when_asked_to(tmp_path: Path, offset: float | None, valid: bool) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    user = User("system:serviceaccount:a:b", ("system:serviceaccounts",))
    token = store.issue(user, None if offset is None else time.time() + offset)
    assert (store.lookup(token) == user) is valid
    assert (TokenStore(tmp_path / "tokens.json").lookup(token) == user) is valid  # the expiry is persisted


def test_expired_tokens_are_dropped_at_the_next_write(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    old = store.issue(User("u1"), time.time() - 1)
    keep = store.issue(User("u2"), time.time() + 3600)
    forever = store.issue(User("u3"))
    entries = json.loads((tmp_path / "tokens.json").read_text())["tokens"]
    assert len(entries) == 2 and sum("expires" in e for e in entries.values()) == 1
    assert store.lookup(old) is None and store.lookup(keep) == User("u2") and store.lookup(forever) == User("u3")


@pytest.mark.parametrize("expires", ["soon", True, None, [1]])
def test_a_bad_expiry_in_the_file_fails_closed(tmp_path: Path, expires: object) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"version": 1, "tokens": {"ab" * 32: {"user": "u", "expires": expires}}}))
    with pytest.raises(TokenStoreError, match="bad expiry"):
        TokenStore(path)


def test_fails_closed_when_file_breaks_or_vanishes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    token = store.issue(ADMIN)
    path.write_text("{ not json")
    assert store.authenticate(f"Bearer {token}") is None
    with pytest.raises(TokenStoreError):
        store.issue(ADMIN)  # never overwrite a file we cannot read
    path.unlink()
    assert store.authenticate(f"Bearer {token}") is None


def test_deleted_file_does_not_resurrect_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    old = store.issue(ADMIN)
    path.unlink()  # an operator wipes all tokens; the store must not write them back
    new = store.issue(NODE)
    assert store.authenticate(f"Bearer {old}") is None
    assert TokenStore(path).authenticate(f"Bearer {old}") is None
    assert store.authenticate(f"Bearer {new}") == NODE


def test_repaired_file_is_picked_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    token = store.issue(ADMIN)
    good = path.read_bytes()
    path.write_text("broken")
    for _ in range(3):
        assert store.authenticate(f"Bearer {token}") is None
    assert (
        sum("rejecting all tokens" in r.message for r in caplog.records) == 1
    )  # logged once, not per request
    path.write_bytes(good)
    assert store.authenticate(f"Bearer {token}") == ADMIN


def test_missing_file_is_empty_store(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "nope" / "tokens.json")
    assert store.authenticate("Bearer abc") is None
    assert not store.path.exists()


def test_user_groups_normalised() -> None:
    assert User("u", ["a", "b"]) == User("u", ("a", "b"))  # type: ignore[arg-type]
    assert hash(User("u", ("a",))) == hash(User("u", ("a",)))
    with pytest.raises(ValueError):
        User("")


# --------------------------------------------------------------------------- kubeconfig


def _write_admin_kubeconfig(tmp_path: Path, server: str) -> tuple[Path, PKIPaths, str]:
    paths = ensure_pki(tmp_path / "pki")
    token = TokenStore(tmp_path / "tokens.json").issue(ADMIN)
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, server=server, ca_cert_pem=paths.ca_cert.read_bytes(), token=token)
    return kubeconfig, paths, token


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({}, ("admin", "kubenode", "kubenode", "default")),
        (
            {"user": "ops", "cluster": "c1", "context": "ctx", "namespace": "kube-system"},
            ("ops", "c1", "ctx", "kube-system"),
        ),
    ],
)
def test_kubeconfig_fields(tmp_path: Path, kwargs: dict[str, str], names: tuple[str, str, str, str]) -> None:
    pem = ensure_pki(tmp_path / "pki").ca_cert.read_bytes()
    path = tmp_path / "kubeconfig"
    path.write_text("old, world-readable")
    os.chmod(path, 0o644)
    write_kubeconfig(path, server="https://127.0.0.1:6443", ca_cert_pem=pem, token="tok-123", **kwargs)
    assert _mode(path) == 0o600
    user, cluster, context, namespace = names
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1"
    assert doc["kind"] == "Config"
    assert doc["current-context"] == context
    assert doc["clusters"] == [
        {
            "name": cluster,
            "cluster": {
                "server": "https://127.0.0.1:6443",
                "certificate-authority-data": base64.b64encode(pem).decode(),
            },
        }
    ]
    assert doc["users"] == [{"name": user, "user": {"token": "tok-123"}}]
    assert doc["contexts"] == [
        {"name": context, "context": {"cluster": cluster, "user": user, "namespace": namespace}}
    ]
    assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]) == pem


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")
def test_kubectl_reads_kubeconfig(tmp_path: Path) -> None:
    import subprocess

    kubeconfig, _, token = _write_admin_kubeconfig(tmp_path, "https://127.0.0.1:6443")
    out = subprocess.run(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(kubeconfig),
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[0].user.token}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert out.stdout == token


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")
@pytest.mark.parametrize(
    ("host", "use_real_token", "expect_ok"),
    [
        ("127.0.0.1", True, True),
        ("localhost", True, True),
        ("127.0.0.1", False, False),
    ],
)
async def test_kubectl_trusts_server_certificate(
    tmp_path: Path, host: str, use_real_token: bool, expect_ok: bool
) -> None:
    """Go's TLS stack (kubectl) accepts our EC chain and SAN and sends the bearer token."""
    from aiohttp import web

    paths = ensure_pki(tmp_path / "pki")
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.issue(ADMIN)

    async def version(request: web.Request) -> web.Response:
        user = tokens.authenticate(request.headers.get("Authorization"))
        if user is None:
            return web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "Unauthorized",
                    "code": 401,
                },
                status=401,
            )
        return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "user": user.name})

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(paths))
    await site.start()
    port = runner.addresses[0][1]
    try:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(
            kubeconfig,
            server=f"https://{host}:{port}",
            ca_cert_pem=paths.ca_cert.read_bytes(),
            token=token if use_real_token else "wrong-token",
        )
        proc = await asyncio.create_subprocess_exec(
            str(KUBECTL),
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "--raw",
            "/version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
        if expect_ok:
            assert proc.returncode == 0, stderr.decode()
            assert json.loads(stdout)["user"] == ADMIN.name
        else:
            assert proc.returncode != 0
            # kubectl words a 401 this way; a TLS failure would mention the certificate.
            assert b"must be logged in" in stderr, stderr.decode()
            assert b"certificate" not in stderr, stderr.decode()
    finally:
        await runner.cleanup()
