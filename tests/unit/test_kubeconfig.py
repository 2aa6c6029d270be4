"""The kubeconfig format and in-cluster discovery (client/kubeconfig.py), without a server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kubenode.client import kubeconfig as kc
from kubenode.client.errors import ConfigError


def doc(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "clusters": [{"name": "c", "cluster": {"server": "https://h:6443", "certificate-authority": "ca.crt"}}],
        "users": [{"name": "u", "user": {"tokenFile": "tok", "client-certificate": "/abs/cert.pem"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ns"}},
                     {"name": "anon", "context": {"cluster": "c"}}],
        "current-context": "x"}
    base.update(over)
    return base


def test_selects_the_current_context_and_resolves_relative_paths(tmp_path: Path) -> None:
    sel = kc.from_dict(doc(), base=tmp_path)
    assert sel.cluster.server == "https://h:6443" and sel.namespace == "ns"
    assert sel.user is not None and sel.abs_file(sel.user.token_file or "") == tmp_path / "tok"
    assert sel.abs_file(sel.user.client_cert or "") == Path("/abs/cert.pem")
    anon = kc.from_dict(doc(), "anon")
    assert anon.user is None and anon.namespace == "default"


@pytest.mark.parametrize(("over", "context", "message"), [
    ({"current-context": ""}, None, "no current context"),
    ({}, "nope", "context 'nope' not found in kubeconfig (contexts: anon, x)"),
    ({"clusters": []}, None, "cluster 'c' not found"),
    ({"users": []}, None, "user 'u' not found"),
    ({"clusters": [{"name": "c", "cluster": {}}]}, None, "cluster 'c': no server"),
    ({"contexts": [{"context": {}}]}, None, "contexts[0]: needs a name"),
])
def test_bad_kubeconfigs_say_what_is_missing(over: dict[str, Any], context: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        kc.from_dict(doc(**over), context)


def test_in_cluster_uses_the_pods_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    (tmp_path / "ca.crt").write_text("-----")
    (tmp_path / "namespace").write_text("kubenode-system\n")
    sel = kc.from_service_account("10.0.0.1", "443", str(tmp_path))
    assert sel.cluster.server == "https://10.0.0.1:443" and sel.namespace == "kubenode-system"
    assert sel.cluster.certificate_auth == str(tmp_path / "ca.crt")
    assert sel.user is not None and sel.user.token_file == str(tmp_path / "token")
    assert kc.from_service_account("fd00::1", "443", str(tmp_path)).cluster.server == "https://[fd00::1]:443"


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        kc.from_file(tmp_path / "missing")
    (tmp_path / "bad").write_text("clusters: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        kc.from_file(tmp_path / "bad")
