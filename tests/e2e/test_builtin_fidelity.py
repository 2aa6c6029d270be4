"""Built-in behaviours third-party clients rely on, through the real kubectl against a real server process:
line-wrapped base64 in Secrets, DELETE answers, pod defaults and admission, the default ServiceAccount."""

from __future__ import annotations

import base64
import datetime
import json
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import Cluster

pytestmark = pytest.mark.e2e


def self_signed(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A throwaway certificate and key, as files (what `kubectl create secret tls` reads)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fidelity.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return cert_file, key_file, cert_pem


def base64_wrapped(data: bytes) -> str:
    """What `base64 FILE` prints: 76 columns per line."""
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def test_apply_a_tls_secret_with_wrapped_base64(cluster: Cluster, tmp_path: Path) -> None:
    """The kubernetes.io TLS Secret example, its data pasted from `base64` output."""
    _, _, cert_pem = self_signed(tmp_path)
    key_data = b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(bytes(range(200))) + b"-----END PRIVATE KEY-----\n"
    manifest = tmp_path / "secret.yaml"
    manifest.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Secret
        metadata:
          name: secret-tls
        type: kubernetes.io/tls
        data:
          tls.crt: |
        {crt}
          tls.key: |
        {key}
        """).format(crt=textwrap.indent(base64_wrapped(cert_pem), "    "),
                    key=textwrap.indent(base64_wrapped(key_data), "    ")))
    assert "\n    " in manifest.read_text()  # really wrapped
    r = cluster.kubectl("apply", "-f", str(manifest))
    assert r.stdout.strip() == "secret/secret-tls created"
    stored = cluster.get_json("secret", "secret-tls")
    assert stored["type"] == "kubernetes.io/tls"
    assert stored["data"]["tls.crt"] == base64.b64encode(cert_pem).decode()
    assert base64.b64decode(stored["data"]["tls.key"]) == key_data
    # Applying the file again: kubectl compares text, sees the wrapped value differ from the stored one and
    # sends it again ("configured", as against kube); the server decodes the same bytes, so nothing changes.
    cluster.kubectl("apply", "-f", str(manifest))
    again = cluster.get_json("secret", "secret-tls")
    assert again["data"] == stored["data"]
    assert again["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_apply_rejects_base64_that_go_would_reject(cluster: Cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: bad-b64}\ndata:\n  key: 'YW Jj'\n")
    r = cluster.kubectl_fails("apply", "-f", str(manifest))
    assert "data[key]" in r.stderr and "illegal base64 data" in r.stderr


def test_create_secret_tls(cluster: Cluster, tmp_path: Path) -> None:
    cert_file, key_file, cert_pem = self_signed(tmp_path)
    r = cluster.kubectl("create", "secret", "tls", "made-by-kubectl", "--cert", str(cert_file), "--key",
                        str(key_file))
    assert r.stdout.strip() == "secret/made-by-kubectl created"
    data = cluster.get_json("secret", "made-by-kubectl")["data"]
    assert base64.b64decode(data["tls.crt"]) == cert_pem


def test_run_a_pod_then_append_a_toleration(cluster: Cluster) -> None:
    assert cluster.kubectl("run", "web", "--image=nginx:1.27").stdout.strip() == "pod/web created"
    pod = cluster.get_json("pod", "web")
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default" and spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30 and spec["securityContext"] == {}
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert [t["key"] for t in spec["tolerations"]] == ["node.kubernetes.io/not-ready",
                                                       "node.kubernetes.io/unreachable"]
    patch = [{"op": "add", "path": "/spec/tolerations/-",
              "value": {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}}]
    r = cluster.kubectl("patch", "pod", "web", "--type=json", "-p", json.dumps(patch))
    assert r.stdout.strip() == "pod/web patched"
    tolerations = cluster.jsonpath("pod", "web", path="{.spec.tolerations[*].key}").split()
    assert tolerations == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "dedicated"]


def test_delete_a_pod(cluster: Cluster) -> None:
    cluster.kubectl("run", "short", "--image=busybox")
    uid = cluster.jsonpath("pod", "short", path="{.metadata.uid}")
    # what every client gets back from a DELETE of a pod: the pod itself
    answer = json.loads(cluster.kubectl("delete", "--raw", "/api/v1/namespaces/default/pods/short").stdout)
    assert answer["kind"] == "Pod" and answer["metadata"]["uid"] == uid
    cluster.kubectl("run", "short2", "--image=busybox")
    r = cluster.kubectl("delete", "pod", "short2")  # waits for the deletion, by the returned object's uid
    assert r.stdout.strip() == 'pod "short2" deleted'
    assert "NotFound" in cluster.kubectl_fails("get", "pod", "short2").stderr


def test_delete_a_config_map_answers_a_status(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "cm-gone", "--from-literal=a=b")
    answer = json.loads(cluster.kubectl("delete", "--raw", "/api/v1/namespaces/default/configmaps/cm-gone").stdout)
    assert answer["kind"] == "Status" and answer["details"]["name"] == "cm-gone"


def test_a_new_namespace_gets_its_default_service_account(cluster: Cluster) -> None:
    assert cluster.kubectl("create", "namespace", "fidelity").stdout.strip() == "namespace/fidelity created"
    r = cluster.kubectl("wait", "--for=create", "serviceaccount/default", "-n", "fidelity", "--timeout=60s")
    assert "serviceaccount/default" in r.stdout
    token = cluster.kubectl("create", "token", "default", "-n", "fidelity").stdout.strip()
    assert token
    r = cluster.kubectl("delete", "serviceaccount", "default", "-n", "fidelity")
    assert r.stdout.strip() == 'serviceaccount "default" deleted'
    cluster.kubectl("wait", "--for=create", "serviceaccount/default", "-n", "fidelity", "--timeout=60s")
