"""The kubelet's bootstrap on an imported host: the kubeconfig kubeadm writes, the token Secret kube reads,
when a token is handed out again, and which hosts get the files at all."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.apiserver.bootstrap_tokens import read_secret
from kubenode.controlplane.kubelet_join import _usable_token, kubelet_token_secret
from kubenode.providers.bootstrap import PythonInstall
from kubenode.providers.kubelet_join import (
    KUBELET_TOKEN_GROUP,
    KUBELET_TOKEN_TTL_SECONDS,
    KubeletJoin,
    bootstrap_kubelet_kubeconfig,
    host_path,
)
from kubenode.providers.ssh_import import ImportTarget, SSHImportProvider, _Session

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
MACHINE: dict[str, Any] = {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
                           "metadata": {"name": "worker-1", "uid": "uid-1"}}


def test_bootstrap_kubelet_conf_is_kubeadms() -> None:
    doc = yaml.safe_load(bootstrap_kubelet_kubeconfig("https://10.0.0.1:6443", CA, "abcdef.0123456789abcdef"))
    assert doc["current-context"] == "tls-bootstrap-token-user@kubernetes"
    assert doc["clusters"] == [{"name": "kubernetes", "cluster": {
        "server": "https://10.0.0.1:6443", "certificate-authority-data": base64.b64encode(CA).decode()}}]
    assert doc["users"] == [{"name": "tls-bootstrap-token-user", "user": {"token": "abcdef.0123456789abcdef"}}]
    with pytest.raises(ValueError, match="cluster CA"):
        bootstrap_kubelet_kubeconfig("https://10.0.0.1:6443", b"", "abcdef.0123456789abcdef")


def test_the_token_secret_is_one_kube_authenticates_with() -> None:
    now = time.time()
    secret = kubelet_token_secret(MACHINE, "abcdef", "0123456789abcdef", now + KUBELET_TOKEN_TTL_SECONDS)
    parsed = read_secret(secret)  # the embedded server's reader, which follows kube's bootstrap authenticator
    assert parsed is not None and not parsed.problem, parsed
    assert parsed.authentication and parsed.extra_groups == (KUBELET_TOKEN_GROUP,)
    assert not parsed.expired(now + KUBELET_TOKEN_TTL_SECONDS - 60) and parsed.expired(now + KUBELET_TOKEN_TTL_SECONDS)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


@pytest.mark.parametrize(("owner", "left", "handed_out"), [
    ("uid-1", KUBELET_TOKEN_TTL_SECONDS, True),
    ("uid-1", KUBELET_TOKEN_TTL_SECONDS / 4 + 60, True),
    ("uid-1", KUBELET_TOKEN_TTL_SECONDS / 4 - 60, False),  # about to expire: a fresh one is minted
    ("uid-old", KUBELET_TOKEN_TTL_SECONDS, False),  # an older Machine of the same name
])
def test_a_token_is_handed_out_again_while_it_has_a_quarter_of_its_life(owner: str, left: float,
                                                                        handed_out: bool) -> None:
    now = time.time()
    secret = kubelet_token_secret({**MACHINE, "metadata": {"name": "worker-1", "uid": owner}}, "abcdef",
                                  "0123456789abcdef", now + left)
    assert (_usable_token(secret, MACHINE, now) == "abcdef.0123456789abcdef") is handed_out


async def _join(_machine: dict[str, Any]) -> KubeletJoin:
    return KubeletJoin(CA, "")


@pytest.mark.parametrize(("host_root", "remote_uid", "root", "note"), [
    (None, 0, "/", False),  # root: kubeadm's paths on the host
    (None, 1000, None, True),  # not root: the agent only, and the status says why
    ("/srv/chroot", 1000, "/srv/chroot", False),  # a configured root is always used
])
def test_which_hosts_get_the_kubelet_files(tmp_path: Path, host_root: str | None, remote_uid: int,
                                           root: str | None, note: bool) -> None:
    async def lookup(_machine: dict[str, Any]) -> Any:
        raise AssertionError("not connecting")

    p = SSHImportProvider(lookup, PythonInstall(), state_dir=tmp_path, kubelet_join=_join, host_root=host_root)
    s = _Session(conn=None, target=ImportTarget("192.0.2.1", 22, "alice", "k", "kubenode-system"),  # type: ignore[arg-type]
                 layout=None, remote_uid=remote_uid)  # type: ignore[arg-type]
    assert p._kubelet_root(s) == root
    assert bool(p._kubelet_note(s)) is note
    if root is not None:
        assert host_path(root, "etc/kubernetes/bootstrap-kubelet.conf") == f"{root.rstrip('/')}/etc/kubernetes/" \
                                                                          "bootstrap-kubelet.conf"
    # without a kubelet source nothing is said: the importer writes no kubelet files at all
    bare = SSHImportProvider(lookup, PythonInstall(), state_dir=tmp_path, host_root=host_root)
    assert bare._kubelet_note(s) == ""
