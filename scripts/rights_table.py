"""Print docs/security.md's table of rights: `kubectl auth can-i --list` for each KubeNode identity.

Starts an embedded API server in a temporary directory, applies the shipped RBAC
(`kubenode rbac`) with kubectl, and asks kubectl, as each identity, what it may do.
Usage: python scripts/rights_table.py  (needs kubectl on PATH)
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kubenode.api.rbac import rbac_yaml
from kubenode.apiserver.server import ServerConfig, start_server

IDENTITIES = [
    ("operator (ServiceAccount kubenode-system/kubenode-operator)", "kubenode-system",
     ["--as", "system:serviceaccount:kubenode-system:kubenode-operator"]),
    ("host agent (certificate CN=kubenode:agent:n1, O=kubenode:agents)", "kube-node-lease",
     ["--as", "kubenode:agent:n1", "--as-group", "kubenode:agents"]),
    ("DaemonSet agent (ServiceAccount kubenode-system/kubenode-agent)", "kube-node-lease",
     ["--as", "system:serviceaccount:kubenode-system:kubenode-agent"]),
    ("an unbound ServiceAccount (default/nobody)", "default", ["--as", "system:serviceaccount:default:nobody"]),
]


def kubectl(kubeconfig: Path, cache: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([shutil.which("kubectl") or "kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir",
                          str(cache), *args], input=stdin, capture_output=True, text=True, check=True)
    return out.stdout


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = await start_server(ServerConfig(data_dir=Path(tmp) / "data", port=0))
        try:
            kc, cache = server.kubeconfig, Path(tmp) / "cache"
            await asyncio.to_thread(kubectl, kc, cache, "apply", "-f", "-", stdin=rbac_yaml())
            for title, namespace, who in IDENTITIES:
                listed = await asyncio.to_thread(kubectl, kc, cache, "auth", "can-i", "--list", "-n", namespace, *who)
                sys.stdout.write(f"\n#### {title} — `kubectl auth can-i --list -n {namespace} {' '.join(who)}`\n\n")
                sys.stdout.write("```\n" + listed + "```\n")
        finally:
            await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
